"""A session resumed and extended on both machines before either synced.

With the real Claude Code CLI: after syncing both ways the session is identical
on both devices, holds every turn from both, and resumes on each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from claude_client import ClaudeMachine, encode_project_dir
from mock_messages_api import MockMessagesAPI, text
from scenarios import on_prompt

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def claude_sync(machine: ClaudeMachine, *args: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", *args, "--json"],
        env=machine.env(), cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )
    assert r.returncode == 0, f"claude-sync {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


def records(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_session_continued_on_both_machines_is_merged_and_resumes_on_each(
    make_machine, mock_api: MockMessagesAPI, tmp_path: Path
) -> None:
    remote = tmp_path / "sessions.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True)
    a: ClaudeMachine = make_machine("machine-a")
    b: ClaudeMachine = make_machine("machine-b")
    project_a = a.project("acme-api")
    b_root = b.home / "elsewhere"
    project_b = b_root / "acme-api"
    project_b.mkdir(parents=True)
    claude_sync(a, "configure", "--device", "machine-a", "--projects-root", str(a.projects_root), "--git-url", str(remote))
    claude_sync(b, "configure", "--device", "machine-b", "--projects-root", str(b_root), "--git-url", str(remote))

    mock_api.set_script(
        [
            on_prompt("FIRST", text("First answer.")),
            on_prompt("ON-A", text("Answer given on A.")),
            on_prompt("ON-B", text("Answer given on B.")),
            on_prompt("AFTER", text("Both branches are here.")),
        ]
    )
    sid = a.run("FIRST question", project_a).check().session_id
    assert sid
    assert claude_sync(a, "push", sid)["done"] == 1
    assert claude_sync(b, "pull", sid)["done"] == 1

    # Both continue before either syncs; B's turn is the newer one.
    a.run("ON-A: a turn on machine A", project_a, resume=sid).check()
    time.sleep(0.05)
    b.run("ON-B: a turn on machine B", project_b, resume=sid).check()

    # Sync both ways.
    assert claude_sync(a, "push", sid)["done"] == 1
    pulled = claude_sync(b, "pull", sid)
    assert pulled["done"] == 1 and "merged" in pulled["outcomes"][0]["reason"], pulled
    assert claude_sync(b, "push", sid)["done"] == 1
    assert claude_sync(a, "pull", sid)["done"] == 1

    ta = a.config_dir / "projects" / encode_project_dir(project_a) / f"{sid}.jsonl"
    tb = b.config_dir / "projects" / encode_project_dir(project_b) / f"{sid}.jsonl"
    ra, rb = records(ta), records(tb)
    # identical on both devices (but for each device's own paths) ...
    assert [r.get("uuid") for r in ra] == [r.get("uuid") for r in rb]
    def portable(text: str, machine: ClaudeMachine, project: Path) -> str:
        # Each device's paths; newer clients also name the project's memory folder (home and folder name).
        return text.replace(str(project), "P").replace(encode_project_dir(project), "E").replace(str(machine.home), "H")

    assert portable(ta.read_text(), a, project_a) == portable(tb.read_text(), b, project_b)
    # ... holding every turn from both
    for marker in ("FIRST", "ON-A", "ON-B", "Answer given on A.", "Answer given on B."):
        assert marker in ta.read_text(), marker
    # and nothing more to do
    assert claude_sync(a, "push", sid)["skipped"] == 1
    assert claude_sync(b, "pull", sid)["skipped"] == 1

    # It resumes on each machine, continuing from the newest leaf (B's turn).
    for machine, project, tag in ((a, project_a, "AFTER-on-A"), (b, project_b, "AFTER-on-B")):
        run = machine.run(f"{tag}: go on", project, resume=sid).check()
        assert run.session_id == sid
        req = [r for r in mock_api.message_requests if tag in r.last_user_text][-1]
        body = json.dumps(req.body)
        assert "FIRST question" in body and "ON-B" in body, f"resume on {tag} lost the newest branch"
