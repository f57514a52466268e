"""Figure 11: a new device pulls everything from a Git remote of the corpus (the new-laptop case).

Split in two, each beside its own baseline:
- the transport: bringing the remote's objects into the device's empty mirror (what `pull` does
  first, a `git fetch`), against a `git clone --bare` of a repository holding the same files
  committed and pushed by plain git (which computed its deltas when it was pushed);
- the project's own work after it: `pull --all` with the objects already here (reading and checking
  every session, rewriting paths, writing the files), against `tar xzf` of the same config dir.
Then the whole `claude-sync pull --all` as a process on another new device. Clones and fetches use
`file://` URLs where git would otherwise copy files (what a remote over SSH or HTTPS costs, less the network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from .context import Run
from .env import BenchEnv, bare_remote, fresh_dir
from .measure import read_all, timed, tree_bytes
from .report import Result


def _plain_git_remote(ctx: Run, work: Path) -> Path:
    """The corpus's config dir committed by plain git and pushed to a bare repository (untimed)."""
    c = ctx.corpus
    remote = ctx.out.parent / f"plain-git-{c.root.name}.git"  # kept between runs: its push computes deltas
    if (remote / "refs" / "heads" / "main").exists():
        return remote
    bare_remote(remote)
    git_dir = work / "plain-work.git"
    shutil.rmtree(git_dir, ignore_errors=True)
    env = {**os.environ, "GIT_DIR": str(git_dir), "GIT_WORK_TREE": str(c.claude), "GIT_CONFIG_NOSYSTEM": "1"}
    # No background gc: it would be deleting objects while the work repository is removed below.
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "gc.auto=0"]
    for cmd in (
        ["git", "init", "-q", "--initial-branch=main"],
        ["git", "add", "-A"],
        ["git", *ident, "commit", "-q", "-m", "corpus"],
        ["git", *ident, "push", "-q", str(remote), "main"],
    ):
        subprocess.run(cmd, env=env, check=True, stdin=subprocess.DEVNULL)
    shutil.rmtree(git_dir, ignore_errors=True)
    return remote


def _clone(url: str, into: Path) -> float:
    shutil.rmtree(into, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--bare", url, str(into)], check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t


def _new_device(work: Path, name: str, remote: Path) -> BenchEnv:
    home = fresh_dir(work / name)
    env = BenchEnv(home, home / "sync-home")
    env.configure(device=name, git_url="file://" + str(remote))
    return env


def run(ctx: Run) -> list[Result]:
    from claude_sync.engine import DONE, FAILED, Selection

    if ctx.pushed is None:  # figure 3 did not run: push everything first, untimed
        env = ctx.corpus_env("new-device-push")
        fresh_dir(env.data)
        remote = bare_remote(ctx.out / "new-device-remote.git")
        env.configure(git_url=str(remote))
        env.cli("push", "--all")
    else:
        assert ctx.pushed.config is not None and ctx.pushed.config.git_url
        remote = Path(ctx.pushed.config.git_url)
    work = fresh_dir(ctx.out / "new-device")
    t = time.perf_counter()
    plain = _plain_git_remote(ctx, work)
    ctx.log(f"  the plain git remote: {time.perf_counter() - t:.0f} s")
    tarball = work / "corpus.tar.gz"
    subprocess.run(["tar", "czf", str(tarball), "-C", str(ctx.corpus.home_dir), ".claude"], check=True)
    read_all(remote)
    read_all(plain)
    rounds = 1 if ctx.preset.name == "tiny" else 2
    clones, fetches, works, untars, flushes, wholes, loads = [], [], [], [], [], [], []
    outcome: dict[str, int] = {}
    for r in range(rounds):  # alternating, best of each: the machine is shared
        loads.append(os.getloadavg()[0])
        clones.append(_clone("file://" + str(plain), work / "clone.git"))
        dev = _new_device(work, f"device-{r}", remote)
        engine = dev.engine()
        try:
            fetches.append(timed(engine.backend.refresh)[0])  # the transport: objects into the empty mirror
            t, summary = timed(lambda: engine.pull(Selection(all=True)))  # noqa: B023 - called at once
            works.append(t)
            outcome = {"done": summary.count(DONE), "failed": summary.count(FAILED)}
        finally:
            engine.close()
        target = fresh_dir(work / f"untar-{r}")
        untars.append(timed(lambda: subprocess.run(["tar", "--warning=no-timestamp", "-xzf", str(tarball), "-C", str(target)], check=True))[0])  # noqa: B023
        # The same files made durable, as the pull makes every file it writes (fsync before rename).
        flushes.append(untars[-1] + timed(lambda: subprocess.run(["sync", "-f", str(target)], check=True))[0])  # noqa: B023
        whole = _new_device(work, f"cli-{r}", remote)
        wholes.append(timed(lambda: whole.cli("pull", "--all"))[0])  # noqa: B023
        ctx.log(
            f"  clone of plain git {clones[-1]:.1f} s, transport {fetches[-1]:.1f} s, own work {works[-1]:.1f} s, "
            f"tar xzf {untars[-1]:.1f} s, whole pull {wholes[-1]:.1f} s (load {loads[-1]:.1f})"
        )
    # Removed only now: on ext4 without a journal (this VM's disk) creating a file skips the inodes freed
    # in the last 30 s to 5 min, scanning for others, so whatever ran after deleting one round's 120,000
    # files paid for it (half as much system time again; perf: `recently_deleted` under `ext4_create`).
    for r in range(rounds):
        for name in (f"device-{r}", f"cli-{r}", f"untar-{r}"):
            shutil.rmtree(work / name)
    packs = sorted((remote / "objects" / "pack").glob("*.pack"))
    plain_bytes, ours = tree_bytes(plain / "objects"), tree_bytes(remote / "objects")
    runs = "; ".join(
        f"{c:.1f}/{f:.1f}/{w:.1f}/{u:.1f}/{p:.1f} s (load {ld:.1f})"
        for c, f, w, u, p, ld in zip(clones, fetches, works, untars, wholes, loads)
    )
    note = (
        f"{outcome.get('done', 0)} sessions pulled, {outcome.get('failed', 0)} failed; best of {rounds} alternating "
        f"runs (plain clone/transport/own work/tar xzf/whole pull: {runs}); the remote: {len(packs)} pack(s), "
        f"{ours / 2**20:.0f} MB; plain git's: {plain_bytes / 2**20:.0f} MB"
    )
    untar = min(untars)
    return [
        Result(
            "11a",
            "new device, Git: transport (fetch into the empty mirror)",
            min(fetches),
            "s",
            "`git clone` of the same files committed by plain git",
            min(clones),
            "≤ 1.0× plain clone",
            min(fetches) <= min(clones),
            note,
        ),
        Result(
            "11b",
            "new device, Git: `pull --all` after the transport",
            min(works),
            "s",
            "`tar xzf` of the config dir",
            untar,
            "≤ 2× `tar xzf`",
            min(works) <= 2 * untar,
        ),
        Result(
            "11d",
            "new device, Git: `pull --all` after the transport, against a durable `tar xzf`",
            min(works),
            "s",
            "`tar xzf` then `sync -f` of what it wrote",
            min(flushes),
            "",
            None,
            "the pull fsyncs every file it writes before putting it in place; tar leaves them in the page cache",
        ),
        Result(
            "11c",
            "new device, Git: `claude-sync pull --all`, whole process",
            min(wholes),
            "s",
            "`tar xzf` of the config dir",
            untar,
            "",
            None,
            "transport and own work together, interpreter start included",
        ),
    ]
