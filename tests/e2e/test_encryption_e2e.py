"""End-to-end encryption with the real Claude Code CLI: a session sealed on A, pulled on B
through a remote that holds only ciphertext, resumes there with B's paths (both backends)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from claude_client import ClaudeMachine, encode_project_dir
from mock_messages_api import MockMessagesAPI, text
from scenarios import on_prompt, rich_session_scenario
from test_sync_resume_e2e import REPO, backend_args, claude_sync, set_token

pytestmark = pytest.mark.e2e
__all__ = ["backend_args"]  # the fixture, shared with the plain resume test


def test_an_encrypted_session_resumes_on_another_machine(
    make_machine, mock_api: MockMessagesAPI, backend_args, tmp_path: Path
) -> None:
    configure, extra_env = backend_args
    extra_env = {**extra_env, "CLAUDE_SYNC_ARGON2_MEMORY_KIB": "8192"}
    a: ClaudeMachine = make_machine("machine-a")
    b: ClaudeMachine = make_machine("machine-b")
    project_a = a.project("acme-api")
    sc = rich_session_scenario(project_a)
    mock_api.set_script(sc)
    sid = a.run(sc.prompt, project_a).check().session_id
    assert sid and sc.finished(mock_api)

    set_token(a, configure, extra_env)
    claude_sync(a, "configure", "--device", "machine-a", "--projects-root", str(a.projects_root), *configure, extra_env=extra_env)
    phrase = claude_sync(a, "encryption", "init", extra_env=extra_env).stdout.strip().splitlines()[-1]
    assert json.loads(claude_sync(a, "push", sid, "--json", extra_env=extra_env).stdout)["done"] == 1
    if "--git-url" in configure:  # nothing of the project's path or the final answer in the repository
        remote = configure[configure.index("--git-url") + 1]
        objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=remote,
                                 capture_output=True, check=True).stdout
        assert str(project_a).encode() not in objects and sc.marker.encode() not in objects

    b_root = b.home / "src" / "company-projects"
    project_b = b_root / "acme-api"
    project_b.mkdir(parents=True)
    set_token(b, configure, extra_env)
    claude_sync(b, "configure", "--device", "machine-b", "--projects-root", str(b_root), *configure, extra_env=extra_env)
    r = subprocess.run([sys.executable, "-m", "claude_sync", "encryption", "join"], input=phrase + "\n",
                       env=b.env(extra_env), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(claude_sync(b, "pull", sid[:8], "--json", extra_env=extra_env).stdout)["done"] == 1
    enc_b = b.config_dir / "projects" / encode_project_dir(project_b)
    assert (enc_b / f"{sid}.jsonl").is_file()

    marker = "RESUMED-ENCRYPTED-ON-B"
    mock_api.set_script(on_prompt(marker, text("Continuing on machine B.")))
    assert b.run(f"{marker}: what did we do so far?", project_b, resume=sid).check().session_id == sid
    [req] = [r for r in mock_api.message_requests if marker in r.last_user_text][-1:]
    body = json.dumps(req.body)
    assert sc.marker in body and str(project_b) in body and str(project_a) not in body
    assert len(req.messages) >= 11
