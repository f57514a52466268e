"""Figure 5: the SessionEnd hook's time to return, run exactly as the client runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from .context import Run
from .corpus import write_session
from .env import REPO, BenchEnv, bare_remote, fresh_dir
from .measure import percentile, timed
from .report import Result

WORKER_WAIT = 180.0


def _settle(data: Path) -> bool:
    """Wait until the hook's background worker has pushed what it was given (outbox empty, lock free)."""
    from claude_sync.format.locking import Busy, exclusive
    from claude_sync.hooks.runner import HOOK_LOCK, Outbox

    deadline = time.monotonic() + WORKER_WAIT
    while time.monotonic() < deadline:
        if not Outbox(data).pending():
            try:
                with exclusive(data / HOOK_LOCK, 0):
                    return True
            except Busy:
                pass
        time.sleep(0.02)
    return False


def _append(transcript: Path, sid: str, cwd: str, i: int) -> None:
    """A small turn, so that every run has something new for its worker to push."""
    rec = {
        "type": "user",
        "uuid": str(uuid.uuid4()),
        "cwd": cwd,
        "sessionId": sid,
        "timestamp": f"2026-06-02T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        "message": {"role": "user", "content": f"one more thing ({i}) about {cwd}/src/app.py"},
    }
    with open(transcript, "a") as f:
        f.write(json.dumps(rec) + "\n")


def run(ctx: Run) -> list[Result]:
    runs = ctx.preset.hook_runs
    work = fresh_dir(ctx.out / "hook")
    env = BenchEnv(work / "home", work / "home" / ".claude-sync-sessions")
    env.configure(git_url=str(bare_remote(work / "remote.git")))
    cwd = env.projects_root / "acme" / "hooked"
    cwd.mkdir(parents=True)
    sid, transcript = write_session(env.claude, str(cwd), 64 * 1024, ctx.seed)
    env.cli("hooks", "install")
    settings = json.loads((env.claude / "settings.json").read_text())
    command = settings["hooks"]["SessionEnd"][0]["hooks"][0]["command"]
    payload = json.dumps(
        {
            "session_id": sid,
            "transcript_path": str(transcript),
            "cwd": str(cwd),
            "hook_event_name": "SessionEnd",
            "reason": "other",
        }
    ).encode()
    environ = env.environ()

    def hook() -> subprocess.CompletedProcess[bytes]:
        # As the client runs it: through a shell, payload on stdin, stdout and stderr read to the end.
        return subprocess.run(command, shell=True, input=payload, capture_output=True, env=environ, cwd=cwd, timeout=60)

    times, failures, unsettled = [], 0, 0
    for i in range(runs):
        _append(transcript, sid, str(cwd), i)
        t, r = timed(hook)
        times.append(t)
        failures += r.returncode != 0 or bool(r.stdout)
        unsettled += not _settle(env.data)  # the next session ends on an idle machine
    floor_cmd = f"{sys.executable} -S -c pass"
    floor = [
        timed(lambda: subprocess.run(floor_cmd, shell=True, capture_output=True, cwd=REPO))[0] for _ in range(runs)
    ]
    engine = env.engine()
    try:
        remote = {e.session_id: e for e in engine.remote()}
    finally:
        engine.close()
    landed = sid in remote
    p50, p99 = percentile(times, 50), percentile(times, 99)
    ctx.log(f"  SessionEnd hook p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms over {runs} runs")
    note = (
        f"{runs} runs through the installed launcher (`sh -c`, payload on stdin), each after the previous "
        f"worker finished; the session reached the remote: {'yes' if landed else 'NO'}"
    )
    if failures or unsettled:
        note += (
            f"; {failures} runs exited non-zero or printed, {unsettled} workers still busy after {WORKER_WAIT:.0f} s"
        )
    return [
        Result(
            "5a",
            "SessionEnd hook, time to return, p50",
            p50 * 1000,
            "ms",
            "p50 of `python -S -c pass`",
            percentile(floor, 50) * 1000,
            "",
            None,
            note,
        ),
        Result(
            "5b",
            "SessionEnd hook, time to return, p99",
            p99 * 1000,
            "ms",
            "p99 of `python -S -c pass`",
            percentile(floor, 99) * 1000,
            "p99 < 200 ms",
            p99 < 0.2,
        ),
    ]
