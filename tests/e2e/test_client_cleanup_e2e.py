"""The real client's own cleanup (its retention sweep) against sessions claude-sync pulled.

What the client does (read from both executables, docs/real-client-notes.md, "The retention
sweep"): a background housekeeping task, started by every run that is not `--bare` (the
interactive REPL on its first prompt, and `claude -p`), waits 5 s, then, when the marker
`<config>/.last-cleanup` is missing or older than a day, unlinks the session files whose mtime
is older than `cleanupPeriodDays` (default 30) and writes the marker. Interactive runs wait
while the user typed in the last minute; `-p` runs do not, and sweep when they last 5 s.

So machine B runs the real sweep the way a person's slow `-p` turn does: the mock holds the
model's answer until the client has written its marker (no fixed sleep). Before that:

* A made a session a year ago (a real session, its records moved a year back); B pulls it.
* B had pulled another year-old session a week before the sweep (its pulled mtime moved back by
  a week, as the clock would have), and never opened it since: the sweep takes it.

Then the year-old session is still on B with every artifact, and `claude -p --resume` goes on
with it with B's paths; the swept one is not pulled back by the SessionStart hook nor by
`pull --all`, and is listed as "on the remote only".
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from claude_client import ClaudeMachine
from mock_messages_api import MessagesRequest, MockMessagesAPI, Reply, text
from scenarios import rich_session_scenario
from sync_cli import share_git_remote
from test_sync_resume_e2e import claude_sync

from claude_sync.engine import REMOTE_ONLY
from claude_sync.sweep import MARGIN_DAYS
from tests.support.hook_waits import wait_settled

pytestmark = pytest.mark.e2e

DAY = 86400.0
YEAR = 365 * DAY
MARKER = ".last-cleanup"  # what the client writes once its sweep is done
SWEEP_WAIT = 60.0  # the most the mock waits for it (it takes about 5 s)
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def moved_back(transcript: Path, seconds: float) -> float:
    """Move every record's time `seconds` back (what the client had written then), and the file's
    mtime to the last one; that time."""
    last = 0.0
    lines = []
    for line in transcript.read_text("utf-8").splitlines():
        rec = json.loads(line)
        ts = rec.get("timestamp")
        if isinstance(ts, str):
            t = datetime.fromisoformat(ts.replace("Z", "+00:00")) - timedelta(seconds=seconds)
            rec["timestamp"] = t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            last = max(last, t.timestamp())
        lines.append(json.dumps(rec, separators=(",", ":")))
    transcript.write_text("\n".join(lines) + "\n", "utf-8")
    os.utime(transcript, (last, last))
    return last


def a_year_ago(m: ClaudeMachine, project: Path, sid: str) -> None:
    """The session's transcripts (main and sub-agents) as they were a year ago."""
    main = m.transcript_path(project, sid)
    for sub in (main.parent / sid).rglob("*.jsonl"):
        moved_back(sub, YEAR)
    moved_back(main, YEAR)


def answer_once_swept(config_dir: Path, marker: str) -> object:
    """A slow model: the answer to the prompt holding `marker` comes once the client has swept."""

    def script(req: MessagesRequest) -> Reply | None:
        if marker not in req.last_user_text or req.last_tool_results:
            return None
        end = time.monotonic() + SWEEP_WAIT
        while not (config_dir / MARKER).exists() and time.monotonic() < end:
            time.sleep(0.1)
        return Reply([text("SWEPT-ANSWER done")])

    return script


def session_files(m: ClaudeMachine, project: Path, sid: str) -> list[str]:
    """Every file of the session under B's config dir (its transcript, its folder, file history, tasks)."""
    c = m.config_dir
    roots = [m.transcript_path(project, sid), m.transcript_dir(project) / sid, c / "file-history" / sid, c / "tasks" / sid]
    out = []
    for r in roots:
        if r.is_file():
            out.append(str(r.relative_to(c)))
        out += [str(p.relative_to(c)) for p in r.rglob("*") if p.is_file() and not p.name.endswith(".lock")] if r.is_dir() else []
    return sorted(out)


def test_a_year_old_session_pulled_survives_the_clients_sweep_and_resumes(
    make_machine, mock_api: MockMessagesAPI, client, tmp_path: Path
) -> None:
    a: ClaudeMachine = make_machine("a", client=client, extra_env=NO_KEYRING)
    b: ClaudeMachine = make_machine("b", client=client, extra_env=NO_KEYRING)
    a_project, b_project = a.project("acme-api"), b.project("acme-api")

    # A: two sessions, both last active a year ago.
    sc = rich_session_scenario(a_project)
    mock_api.set_script(sc)
    old = a.run(sc.prompt, a_project).check().session_id
    assert old and sc.finished(mock_api)
    mock_api.set_script(None)
    other = a.run("OTHER-OLD a second session", a_project).check().session_id
    assert other
    for sid in (old, other):
        a_year_ago(a, a_project, sid)

    share_git_remote(tmp_path, a, b)
    assert json.loads(claude_sync(a, "push", "--all", "--json").stdout)["done"] == 2
    assert json.loads(claude_sync(b, "pull", "--all", "--json").stdout)["done"] == 2
    pulled = {sid: b.transcript_path(b_project, sid) for sid in (old, other)}
    now = time.time()
    for t in pulled.values():
        # Inside the retention window, by the margin claude-sync keeps (the client's default: 30 days).
        assert now - 30 * DAY < t.stat().st_mtime <= now - (30 - MARGIN_DAYS) * DAY + 60
    # `other` was pulled a week before today, and not opened since: the clock moved its mtime back.
    week_old = pulled[other].stat().st_mtime - (MARGIN_DAYS + 1) * DAY
    os.utime(pulled[other], (week_old, week_old))
    kept_files = session_files(b, b_project, old)
    assert any("subagents" in f for f in kept_files) and any(f.startswith("file-history/") for f in kept_files)

    # B: a turn that lasts long enough for the client's housekeeping to sweep.
    assert not (b.config_dir / MARKER).exists()
    mock_api.set_script(answer_once_swept(b.config_dir, "SWEEP-TURN"))
    turn = b.run("SWEEP-TURN something slow", b_project).check()
    assert (b.config_dir / MARKER).exists(), "the client's sweep did not run"
    assert not pulled[other].exists(), "the client swept nothing: the session pulled a week ago should be gone"
    assert session_files(b, b_project, old) == kept_files, "the client swept part of the year-old session"
    # The picker orders by mtime (docs/real-client-notes.md): today's turn first, the year-old session after it.
    assert b.transcript_path(b_project, str(turn.session_id)).stat().st_mtime > pulled[old].stat().st_mtime

    # B: with the hooks on, `claude -p --resume` goes on with the year-old session, with B's paths only.
    claude_sync(b, "hooks", "install")
    mock_api.set_script(None)
    b.run("RESUME-A-YEAR-LATER go on", b_project, resume=old).check()
    [req] = [r for r in mock_api.message_requests if "RESUME-A-YEAR-LATER" in r.last_user_text]
    history = req.all_text()
    assert sc.prompt in history and str(a.root) not in json.dumps(req.body)
    assert req.working_directory == str(b_project)
    assert "RESUME-A-YEAR-LATER" in pulled[old].read_text()

    # The swept session stays swept: not by the SessionStart hook of that run, not by a bulk pull.
    wait_settled(b.home / ".claude-sync-sessions")
    assert not pulled[other].exists()
    summary = json.loads(claude_sync(b, "pull", "--all", "--json").stdout)
    [out] = [o for o in summary["outcomes"] if o["session_id"] == other]
    assert out["status"] == "skipped" and out["reason"] == REMOTE_ONLY, out
    assert not pulled[other].exists()
    listed = {e["session_id"]: e["status"] for e in json.loads(claude_sync(b, "remote", "--json").stdout)}
    assert listed[other] == "on the remote only"
