"""A session made by one client version resumes on a machine that runs the other.

Users do not upgrade every machine on the same day: a session started with the newest
client (2.1.332 writes record types 2.1.197 never saw: api-request*, cost-state,
file-history-delta, ...) must resume on a machine running the pinned client, and the
other way round, with the receiving machine's paths only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_client import ClaudeMachine, encode_project_dir
from conftest import Client
from mock_messages_api import MockMessagesAPI, text
from scenarios import on_prompt, rich_session_scenario
from sync_cli import share_git_remote
from test_sync_resume_e2e import claude_sync, persisted_outputs, spellings

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("made_by", "resumed_by"), [("newest", "pinned"), ("pinned", "newest")])
def test_session_resumes_on_a_machine_running_the_other_client_version(
    make_machine, mock_api: MockMessagesAPI, clients: dict[str, Client], made_by: str, resumed_by: str, tmp_path: Path
) -> None:
    if clients[made_by].version == clients[resumed_by].version:
        pytest.skip(f"both clients are {clients[made_by]}")
    a: ClaudeMachine = make_machine("machine-a", client=clients[made_by])
    b: ClaudeMachine = make_machine("machine-b", client=clients[resumed_by])
    b_root = b.home / "elsewhere"
    share_git_remote(tmp_path, a, b, roots={b.name: b_root})

    project_a = a.project("acme-api")
    sc = rich_session_scenario(project_a, big_output=True, background_agent=True)
    mock_api.set_script(sc)
    sid = a.run(sc.prompt, project_a).check().session_id
    assert sid and sc.finished(mock_api)
    assert json.loads(claude_sync(a, "push", sid, "--json").stdout)["done"] == 1

    project_b = b_root / "acme-api"
    project_b.mkdir(parents=True)
    assert json.loads(claude_sync(b, "pull", sid, "--json").stdout)["done"] == 1

    marker = f"RESUMED-BY-{resumed_by.upper()}"
    mock_api.set_script(on_prompt(marker, text("Continuing with the other client.")))
    resumed = b.run(f"{marker}: what did we do so far?", project_b, resume=sid).check()
    assert resumed.session_id == sid
    [req] = [r for r in mock_api.message_requests if marker in r.last_user_text][-1:]
    assert len(req.messages) >= 10, f"only {len(req.messages)} messages were sent"
    body = json.dumps(req.body, ensure_ascii=False)
    assert sc.marker in body and str(project_b) in body
    a_spellings = set().union(*(spellings(p) for p in (str(a.home), str(project_a))))
    for p in a_spellings:
        assert p not in body, f"A's path {p} reached the model"
    enc_b = b.config_dir / "projects" / encode_project_dir(project_b)
    assert marker in (enc_b / f"{sid}.jsonl").read_text()
    for p in persisted_outputs(b.config_dir):
        assert Path(p).is_file(), p
