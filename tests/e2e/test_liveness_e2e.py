"""A session a running client holds is never written: found through the client's own registry.

Both clients register themselves in ``<config>/sessions/<pid>.json`` (``{pid, sessionId, cwd,
startedAt, procStart, ...}``) while they run, also in ``-p`` mode, and delete the file on exit.
Machine A resumes a session whose newer copy (continued on B) waits on the remote; while
A's client is busy in that session, ``claude-sync pull`` must leave it alone, and pull it
once the client has ended.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from claude_client import ClaudeMachine
from conftest import Client
from mock_messages_api import MessagesRequest, MockMessagesAPI, Reply, text
from scenarios import on_prompt
from sync_cli import share_git_remote
from test_sync_resume_e2e import claude_sync

pytestmark = pytest.mark.e2e
WAIT = 60.0


def wait_until(what: str, probe, timeout: float = WAIT):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.1)


def registered(machine: ClaudeMachine, sid: str) -> dict | None:
    for f in (machine.config_dir / "sessions").glob("*.json"):
        try:
            rec = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if rec.get("sessionId") == sid:
            return rec  # type: ignore[no-any-return]
    return None


def test_pull_leaves_a_session_alone_while_a_client_runs_it(
    make_machine, mock_api: MockMessagesAPI, client: Client, tmp_path: Path
) -> None:
    a: ClaudeMachine = make_machine("machine-a", client=client)
    b: ClaudeMachine = make_machine("machine-b", client=client)
    project_a, project_b = a.project("api"), b.project("api")
    share_git_remote(tmp_path, a, b)

    mock_api.set_script(on_prompt("FIRST", text("First answer.")))
    sid = a.run("FIRST: hello", project_a).check().session_id
    assert sid
    claude_sync(a, "push", sid)
    claude_sync(b, "pull", sid)
    mock_api.set_script(on_prompt("ON-B", text("Answer on B.")))
    b.run("ON-B: more", project_b, resume=sid).check()
    claude_sync(b, "push", sid)

    # A resumes the session; the model's answer waits until the test lets it go.
    release = threading.Event()

    def held(req: MessagesRequest) -> Reply | None:
        if req.last_message.get("role") == "user" and "HELD" in req.last_user_text:
            release.wait(WAIT)
            return Reply([text("Held answer.")])
        return None

    mock_api.set_script(held)
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(run=a.run("HELD: wait", project_a, resume=sid)))
    runner.start()
    try:
        rec = wait_until("registry entry for the running session", lambda: registered(a, sid))
        assert isinstance(rec.get("pid"), int)
        pulled = json.loads(claude_sync(a, "pull", sid, "--json").stdout)
        [out] = pulled["outcomes"]
        assert out["status"] == "skipped" and "in use by a running Claude Code" in out["reason"], out
        assert "Answer on B." not in (a.transcript_path(project_a, sid)).read_text()
    finally:
        release.set()
        runner.join(WAIT)
    outcome["run"].check()
    assert registered(a, sid) is None  # the client removed its entry on exit
    # The client appended on A while B's copy grew: both copies' turns are kept.
    pulled = json.loads(claude_sync(a, "pull", sid, "--json").stdout)
    assert pulled["done"] == 1, pulled
    transcript = a.transcript_path(project_a, sid).read_text()
    assert "Answer on B." in transcript and "Held answer." in transcript
