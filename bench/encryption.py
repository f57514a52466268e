"""Figures 9 and 10: what end-to-end encryption costs (docs/encryption.md).

9: the full push of the corpus to an empty bare Git remote with encryption on, beside the same
push with it off (alternating, best of each); target: encryption adds less than 10%.
10: figure 4's append of 10 KB to a 50 MB session, with encryption on for both remotes;
target as there: what the remote takes in stays within 3x the gzip of what was appended.
"""

from __future__ import annotations

import json
import os

from . import append
from .context import Run
from .env import bare_remote, fresh_dir
from .full_push import _run_measured
from .measure import read_all
from .report import Result


def _push(ctx: Run, name: str, encrypted: bool) -> tuple[float, float, dict]:
    work = fresh_dir(ctx.out / name)
    env = ctx.corpus_env(name)
    fresh_dir(env.data)
    env.configure(git_url=str(bare_remote(work / "remote.git")))
    if encrypted:
        env.cli("encryption", "init")
    out = work / "push.json"
    wall, cpu, _rss, code = _run_measured(env.cli_command("push", "--all", "--json"), env.environ(), out)
    text = out.read_text()
    try:
        summary = json.loads(text[text.index("{") :])
    except ValueError as e:
        raise RuntimeError(f"push printed no summary (exit {code}): {out.with_suffix('.err').read_text()[-2000:]}") from e
    ctx.log(f"  push --all{' (encrypted)' if encrypted else ''}: {wall:.1f} s (CPU {cpu:.0f} s), {summary['done']} pushed")
    return wall, cpu, summary


def full_push(ctx: Run) -> list[Result]:
    read_all(ctx.corpus.claude)
    rounds = 1 if ctx.preset.name == "tiny" else 2
    plain, sealed = [], []
    for _ in range(rounds):
        plain.append(_push(ctx, "push-plain", False))
        sealed.append(_push(ctx, "push-encrypted", True))
    off, on = min(plain, key=lambda p: p[0]), min(sealed, key=lambda p: p[0])
    assert on[2]["done"] == off[2]["done"], "the encrypted push did not push the same sessions"
    runs = ", ".join(f"{p[0]:.1f}/{s[0]:.1f} s" for p, s in zip(plain, sealed))
    return [
        Result(
            "9",
            "full push of the corpus to a bare Git remote, end-to-end encrypted",
            on[0],
            "s",
            "the same push without encryption",
            off[0],
            "< 1.1× without",
            on[0] < 1.1 * off[0],
            f"{on[2]['done']} sessions; best of {rounds} alternating runs (off/on: {runs}); "
            f"CPU {off[1]:.0f} s off, {on[1]:.0f} s on",
        )
    ]


def append_encrypted(ctx: Run) -> list[Result]:
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # in-process: the key goes to the file
    return append.measure(ctx, encrypted=True, figure="10")
