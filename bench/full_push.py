"""Figure 3: push the whole corpus to an empty bare Git remote, against `tar czf` of the same tree.

The two alternate (tar, push, tar, push): on a shared machine the load changes from minute to
minute, and the best run of each is the one least disturbed. CPU seconds are reported too.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from .context import Run
from .env import CODE, bare_remote, fresh_dir
from .measure import cores, read_all, run_rusage, tree_bytes
from .report import Result


def _run_measured(cmd: list[str], env: dict[str, str] | None, stdout_file: Path) -> tuple[float, float, int, int]:
    """(wall s, CPU s, peak RSS KB, exit code) of a command and the children it waited for."""
    with open(stdout_file, "wb") as out, open(stdout_file.with_suffix(".err"), "wb") as err:
        t = time.perf_counter()
        code, cpu, rss = run_rusage(cmd, env=env, cwd=CODE, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        wall = time.perf_counter() - t
    return wall, cpu, rss, code


def run(ctx: Run) -> list[Result]:
    c = ctx.corpus
    work = fresh_dir(ctx.out / "push")
    rounds = 1 if ctx.preset.name == "tiny" else 2
    read_all(c.claude)  # both sides start from a warm page cache
    tars: list[tuple[float, float]] = []
    pushes: list[tuple[float, float, int, dict]] = []
    loads: list[float] = []
    for _round in range(rounds):
        tarball = work / "corpus.tar.gz"
        load = os.getloadavg()[0]
        wall, cpu, _rss, code = _run_measured(
            ["tar", "czf", str(tarball), "-C", str(c.home_dir), ".claude"], None, work / "tar.log"
        )
        if code != 0:
            raise RuntimeError(f"tar failed: {(work / 'tar.err').read_text()[-1000:]}")
        tars.append((wall, cpu))
        ctx.extra["tar_bytes"] = tarball.stat().st_size
        tarball.unlink()
        ctx.log(f"  tar czf: {wall:.1f} s (CPU {cpu:.0f} s, load {load:.1f})")

        env = ctx.corpus_env("push")
        fresh_dir(env.data)
        remote = bare_remote(work / "remote.git")
        env.configure(git_url=str(remote))
        out_file = work / "push.json"
        load = os.getloadavg()[0]
        wall, cpu, rss, code = _run_measured(env.cli_command("push", "--all", "--json"), env.environ(), out_file)
        text = out_file.read_text()
        try:
            summary = json.loads(text[text.index("{") :])
        except ValueError as e:
            err = out_file.with_suffix(".err").read_text()[-2000:]
            raise RuntimeError(f"push printed no summary (exit {code}): {err}") from e
        pushes.append((wall, cpu, rss, summary))
        loads.append(load)
        ctx.pushed = env
        ctx.log(
            f"  push --all: {wall:.1f} s (CPU {cpu:.0f} s, load {load:.1f}), {summary['done']} pushed, "
            f"{summary['failed']} failed"
        )
    repo = tree_bytes(remote / "objects")
    ctx.extra["repo_bytes"] = repo
    tar_wall, tar_cpu = min(tars)
    wall, cpu, rss, summary = min(pushes, key=lambda p: p[0])
    refused = [o for o in summary["outcomes"] if o["status"] == "failed"]
    why = {"not portable" if "neither under" in o["reason"] else o["reason"][:80] for o in refused}
    runs = ", ".join(f"{t:.1f}/{p[0]:.1f} s (load {ld:.1f})" for (t, _c), p, ld in zip(tars, pushes, loads))
    note = (
        f"{summary['done']} sessions pushed, {len(refused)} refused ({', '.join(sorted(why)) or 'none'}); "
        f"best of {rounds} alternating runs (tar/push: {runs}); push CPU {cpu:.0f} s on {cores()} cores "
        f"({cpu / wall:.2f} cores busy), tar CPU {tar_cpu:.0f} s; push peak RSS {rss / 1024:.0f} MB; "
        f"remote repository {repo / 2**20:.0f} MB, tar.gz {ctx.extra['tar_bytes'] / 2**20:.0f} MB"
    )
    return [
        Result(
            "3",
            "full push of the corpus to a bare Git remote",
            wall,
            "s",
            "`tar czf` of the config dir",
            tar_wall,
            "≤ 0.5× `tar czf`, peak RSS < 400 MB",
            wall <= 0.5 * tar_wall and rss < 400 * 1024,
            note,
        ),
    ]
