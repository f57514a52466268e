"""Smoke tests of the end-to-end infrastructure: the real client against the mock API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_client import RESUME_SEARCHES_ALL_PROJECTS_SINCE, ClaudeMachine, encode_project_dir
from mock_messages_api import MockMessagesAPI
from scenarios import RichSession, rich_session_scenario

pytestmark = pytest.mark.e2e


def _run_rich(machine: ClaudeMachine, api: MockMessagesAPI, project: Path) -> tuple[RichSession, str]:
    sc = rich_session_scenario(project)
    api.set_script(sc)
    run = machine.run(sc.prompt, project).check()
    assert sc.finished(api), f"scenario did not reach its end:\n{run.describe()}"
    assert run.text == sc.final_text
    sid = run.session_id
    assert sid, run.describe()
    return sc, sid


def test_rich_scenario_creates_every_artifact(make_machine, mock_api: MockMessagesAPI) -> None:
    m = make_machine("a")
    project = m.project("proj")
    sc, sid = _run_rich(m, mock_api, project)
    cfg = m.config_dir

    # the tools really ran
    assert sc.file_path.read_text() == sc.final_content
    assert str(project) in sc.file_path.read_text()
    assert sc.seed_path is not None and sc.seed_path.read_text() == sc.seed_final_content
    results = "\n".join(sc.step_results(mock_api).values())
    assert f"File created successfully at: {sc.file_path}" in results
    assert f"{project}\n" in results  # pwd output
    assert "notes.md" in results and "README.md" in results  # ls output

    # transcript
    enc = encode_project_dir(project)
    transcript = cfg / "projects" / enc / f"{sid}.jsonl"
    assert transcript.is_file()
    records = m.read_transcript(project, sid)
    types = {r.get("type") for r in records}
    assert {"user", "assistant", "file-history-snapshot"} <= types
    assert any(r.get("cwd") == str(project) for r in records)
    assert all(r.get("sessionId") in (None, sid) for r in records)

    # sub-agent transcript + meta
    sub_dir = cfg / "projects" / enc / sid / "subagents"
    agents = sorted(sub_dir.glob("agent-*.jsonl"))
    assert agents, f"no sub-agent transcript under {sub_dir}"
    assert sorted(sub_dir.glob("agent-*.meta.json")), "no sub-agent meta file"
    sub_text = agents[0].read_text()
    assert sc.sub_marker in sub_text and str(project) in sub_text

    # file history: the pre-existing seed file was backed up before its edit
    fh = cfg / "file-history" / sid
    backups = [p for p in fh.iterdir() if p.is_file()] if fh.is_dir() else []
    assert backups, f"no file-history backups under {fh}"
    assert any(p.read_text() == sc.seed_content for p in backups)

    # tasks
    tasks = sorted((cfg / "tasks" / sid).glob("*.json"))
    assert tasks, f"no task files under {cfg / 'tasks' / sid}"
    task = json.loads(tasks[0].read_text())
    assert task["subject"] == sc.task_subject
    assert str(project) in task["description"]


def test_resume_in_same_folder_sends_whole_conversation(make_machine, mock_api: MockMessagesAPI) -> None:
    m = make_machine("a")
    project = m.project("proj")
    sc, sid = _run_rich(m, mock_api, project)
    before = m.transcript_path(project, sid).read_text()

    run = m.run("RESUME-NEXT please continue", project, resume=sid).check()
    assert run.session_id == sid  # resume keeps the session id and file
    after = m.transcript_path(project, sid).read_text()
    assert after.startswith(before) and len(after) > len(before)

    resumed = [r for r in mock_api.message_requests if "RESUME-NEXT" in r.last_user_text]
    assert resumed, "the resumed prompt never reached the API"
    history = resumed[-1].all_text()
    for needle in (
        sc.prompt,                                        # the first prompt
        f"File created successfully at: {sc.file_path}",  # Write result
        sc.written_content,                               # Write input
        f"{project}\n",                                   # pwd output
        sc.task_subject,                                  # TaskCreate result
        sc.sub_final_text,                                # sub-agent's answer
        sc.final_text,                                    # last assistant text
    ):
        assert needle in history, f"resumed request lacks {needle!r}"


def test_resume_from_other_folder_is_not_found(
    make_machine, mock_api: MockMessagesAPI, claude_version: tuple[int, ...]
) -> None:
    m = make_machine("a")
    project = m.project("proj")
    _, sid = _run_rich(m, mock_api, project)
    other = m.project("elsewhere")
    before = m.transcript_path(project, sid).read_text()

    n_before = len(mock_api.message_requests)
    run = m.run("RESUME-ELSEWHERE", other, resume=sid)
    assert not (m.transcript_dir(other) / f"{sid}.jsonl").exists()

    if claude_version < RESUME_SEARCHES_ALL_PROJECTS_SINCE:
        # the pinned client: resume looks only in projects/<enc of the real cwd>/
        assert run.returncode != 0, run.describe()
        assert f"No conversation found with session ID: {sid}" in run.stdout + run.stderr, \
            run.describe()
        assert len(mock_api.message_requests) == n_before  # gave up before calling the model
        assert m.transcript_path(project, sid).read_text() == before
    else:
        # newer clients search every projects/ folder, keep appending to the file they
        # found, and tell the model the new working directory
        run.check()
        assert run.session_id == sid
        after = m.transcript_path(project, sid).read_text()
        assert after.startswith(before) and len(after) > len(before)
        new_records = [json.loads(line) for line in after[len(before):].splitlines() if line]
        assert {r["cwd"] for r in new_records if "cwd" in r} == {str(other)}
        resumed = [r for r in mock_api.message_requests if "RESUME-ELSEWHERE" in r.last_user_text]
        assert resumed and resumed[-1].working_directory == str(other)
