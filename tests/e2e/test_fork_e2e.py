"""A forked session (``claude -p --resume X --fork-session``) moves to another machine and resumes there.

Both clients write such a fork as a full copy under a new id (no pointer to its parent, no
``forkedFrom``), so it travels alone; a fork that points to its parent (``fork-context-ref``)
takes the parent along (tests/test_forks.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_client import ClaudeMachine
from conftest import Client
from mock_messages_api import MockMessagesAPI, text
from scenarios import on_prompt
from sync_cli import share_git_remote
from test_sync_resume_e2e import claude_sync

pytestmark = pytest.mark.e2e


def test_fork_session_is_pushed_pulled_and_resumed_on_another_machine(
    make_machine, mock_api: MockMessagesAPI, client: Client, tmp_path: Path
) -> None:
    a: ClaudeMachine = make_machine("machine-a", client=client)
    b: ClaudeMachine = make_machine("machine-b", client=client)
    project_a, project_b = a.project("api"), b.project("api")
    share_git_remote(tmp_path, a, b)

    mock_api.set_script([
        on_prompt("ORIGIN", text("Origin answer.")),
        on_prompt("BRANCH", text("Branch answer.")),
        on_prompt("ON-B", text("Resumed fork on B.")),
    ])
    parent = a.run("ORIGIN: start", project_a).check().session_id
    fork = a.run("BRANCH: fork it", project_a, resume=parent, extra_args=["--fork-session"]).check().session_id
    assert parent and fork and fork != parent

    pushed = json.loads(claude_sync(a, "push", fork, "--json").stdout)
    assert [o["session_id"] for o in pushed["outcomes"]] == [fork]  # a full copy needs no parent
    pulled = json.loads(claude_sync(b, "pull", fork, "--json").stdout)
    assert pulled["done"] == 1 and pulled["outcomes"][0]["depends_on"] == []

    run = b.run("ON-B: go on", project_b, resume=fork).check()
    assert run.session_id == fork
    req = [r for r in mock_api.message_requests if "ON-B" in r.last_user_text][-1]
    body = json.dumps(req.body, ensure_ascii=False)
    assert "ORIGIN" in body and "Branch answer." in body and str(project_a) not in body
