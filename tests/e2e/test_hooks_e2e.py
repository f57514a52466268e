"""Automatic sync through the hooks, with the real Claude Code CLI, on the Git backend and the sync server.

Machines A and B each get their own HOME, their projects under different roots, `claude-sync
configure` and `claude-sync hooks install`. Nobody runs push or pull by hand: a session that ends
on A reaches the backend through the SessionEnd hook, a new session on B in the same project pulls
it through SessionStart, and `claude -p --resume <A's id>` on B then replays it with B's paths.
The time the SessionEnd hook takes is measured and printed (no timed assertion).
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from claude_client import ClaudeMachine
from mock_messages_api import MockMessagesAPI
from scenarios import rich_session_scenario

from claude_sync.hooks.launcher import launcher_path
from tests.support.hook_waits import hook_log, wait_for, wait_settled

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
# The credential store must use its file, never a keyring of the machine running the tests.
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
TIMING_RUNS = 10


def data_dir(m: ClaudeMachine) -> Path:
    return m.home / ".claude-sync-sessions"


def sync_cli(m: ClaudeMachine, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`claude-sync ARGS` as the user of machine m (same HOME and config dir as its client)."""
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", *args], env=m.env(), cwd=REPO, input=stdin,
        capture_output=True, text=True, timeout=180,
    )
    assert r.returncode == 0, f"claude-sync {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def remote_entries(m: ClaudeMachine) -> dict[str, dict]:
    return {e["session_id"]: e for e in json.loads(sync_cli(m, "remote", "--json").stdout)}


@pytest.fixture(params=["git", "server"])
def backend_args(request: pytest.FixtureRequest) -> tuple[list[str], str | None]:
    """`configure` arguments for one backend, and the server token (None for Git)."""
    if request.param == "git":
        remote = request.getfixturevalue("http_remote")
        return ["--backend", "git", "--git-url", remote.url], None
    server = request.getfixturevalue("sync_server")
    return ["--backend", "server", "--server-url", server.url], server.token


def set_up(m: ClaudeMachine, args: list[str], token: str | None) -> None:
    sync_cli(m, "configure", "--device", m.name, "--projects-root", str(m.projects_root), *args)
    if token is not None:
        sync_cli(m, "token", "set", stdin=token + "\n")
    sync_cli(m, "hooks", "install")


def session_end_figures(m: ClaudeMachine, sid: str, cwd: Path) -> dict[str, list[float]]:
    """SessionEnd as the client runs it: wall clock and CPU time of the launcher (sh + python, not the
    detached worker), and the time the hook process logged from its start to the worker's spawn."""
    payload = json.dumps({"session_id": sid, "transcript_path": str(m.transcript_path(cwd, sid)), "cwd": str(cwd),
                          "hook_event_name": "SessionEnd", "reason": "other"}).encode()
    wall, cpu = [], []
    for _ in range(TIMING_RUNS):
        wait_settled(data_dir(m))  # one session ending at a time, as in real use
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        r = subprocess.run([str(launcher_path(data_dir(m))), "session-end"], input=payload, env=m.env(),
                           capture_output=True, timeout=60)
        wall.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
        assert r.returncode == 0 and r.stdout == b""
    wait_settled(data_dir(m))
    logged = [float(x) for x in re.findall(r"session-end: \S+ queued; worker \d+; hook took ([\d.]+) ms", hook_log(data_dir(m)))]
    return {"launcher wall clock": wall, "launcher CPU": cpu, "in-process (hook.log)": logged}


def describe(ms: list[float]) -> str:
    return f"median {statistics.median(ms):.0f} ms, min {min(ms):.0f}, max {max(ms):.0f} (n={len(ms)})"


def test_sessions_sync_through_the_hooks_alone(
    make_machine, mock_api: MockMessagesAPI, backend_args: tuple[list[str], str | None], capsys: pytest.CaptureFixture[str]
) -> None:
    args, token = backend_args
    a: ClaudeMachine = make_machine("a", extra_env=NO_KEYRING)
    b: ClaudeMachine = make_machine("b", extra_env=NO_KEYRING)
    assert a.projects_root != b.projects_root
    set_up(a, args, token)
    set_up(b, args, token)
    a_project, b_project = a.project("acme/api"), b.project("acme/api")

    # A: a session ends, and reaches the backend with no sync command.
    sc = rich_session_scenario(a_project)
    mock_api.set_script(sc)
    sid = a.run(sc.prompt, a_project).check().session_id
    assert sid and sc.finished(mock_api)
    wait_for(lambda: sid in remote_entries(b), "A's session on the backend")
    assert remote_entries(b)[sid]["device"] == "a"

    # B: a new session in the same project pulls it through SessionStart, and tells the model nothing.
    run_b = b.run("B-START hello", b_project).check()
    pulled = b.transcript_path(b_project, sid)
    wait_for(pulled.exists, "A's session pulled on B")
    wait_settled(data_dir(b))
    start_requests = [r for r in mock_api.message_requests if "B-START" in r.last_user_text]
    assert start_requests and all("claude-sync" not in r.all_text() + r.system_text for r in start_requests)
    assert "arrived from other devices" not in b.transcript_path(b_project, str(run_b.session_id)).read_text()

    # B: resuming A's session replays A's conversation with B's paths, and none of A's.
    b.run("RESUME-ON-B please continue", b_project, resume=sid).check()
    resumed = [r for r in mock_api.message_requests if "RESUME-ON-B" in r.last_user_text]
    assert resumed, "the resumed prompt never reached the API"
    history = resumed[-1].all_text()
    assert sc.prompt in history and sc.sub_final_text.replace(str(a_project), str(b_project)) in history
    assert f"File created successfully at: {b_project / sc.file_name}" in history
    assert f"{b_project}\n" in history  # pwd output, rewritten
    for a_path in (str(a.root), str(a.home), str(a_project)):
        assert a_path not in history, f"A's path {a_path} reached the model on B"
    assert resumed[-1].working_directory == str(b_project)

    # B's SessionEnd pushes the continued session back: A would find it on the backend.
    wait_for(lambda: remote_entries(a)[sid]["device"] == "b", "B's continuation on the backend")
    for m in (a, b):
        wait_settled(data_dir(m))
        assert json.loads(sync_cli(m, "hooks", "status", "--json").stdout)["outbox"]["pending"] == 0

    figures = session_end_figures(a, sid, a_project)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with capsys.disabled():
        print(f"\n[{args[1]}] SessionEnd hook (load average {load:.1f}):")
        for what, ms in figures.items():
            print(f"  {what}: {describe(ms)}")
