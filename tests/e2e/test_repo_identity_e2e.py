"""A project is its repository (issue #17), with the real Claude Code client.

A clones a local bare "origin" at `A/code/api` (its projects root `A/code`) and runs three
sessions: at the top of the checkout, in a subfolder, and in a linked worktree on branch
`feature`. B has the same repository at `B/elsewhere/acme-api-2` (plus a worktree on
`feature`), under no projects root it shares with A. After `claude-sync pull` on B each
session is in the folder B's client reads for the matching checkout, and
`claude -p --resume <id>` there succeeds with B's paths and none of A's. Runs on both backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_client import ClaudeMachine, encode_project_dir
from mock_messages_api import MockMessagesAPI, text
from scenarios import on_prompt
from test_sync_resume_e2e import backend_args, claude_sync, set_token, spellings  # noqa: F401 - backend_args is a fixture

from tests.support.repos import git, make_origin

pytestmark = pytest.mark.e2e


def checkout(origin: Path, top: Path, worktree: Path) -> dict[str, Path]:
    """A clone at `top` with a worktree on `feature`: the three places a session runs in."""
    git("clone", "-q", str(origin), str(top), cwd=top.parent.parent)
    git("worktree", "add", "-q", str(worktree), "feature", cwd=top)
    return {"top": top, "sub": top / "services" / "billing", "worktree": worktree}


def test_sessions_follow_the_repository_to_another_checkout(
    make_machine, client, mock_api: MockMessagesAPI, backend_args, tmp_path: Path  # noqa: F811
) -> None:
    """On the pinned and the newest client: 2.1.332 keeps a subfolder's memory per repository."""
    configure, extra_env = backend_args
    a: ClaudeMachine = make_machine("machine-a", client=client)
    b: ClaudeMachine = make_machine("machine-b", client=client)
    origin = make_origin(tmp_path, branches=("main", "feature"))

    # A: a checkout under its projects root, and a worktree beside it.
    code_a = a.root / "code"
    code_a.mkdir()
    places_a = checkout(origin, code_a / "api", code_a / "api-feature")
    mock_api.set_script([on_prompt(f"WORK-{k}", text(f"Worked in {k}.")) for k in places_a])
    sids = {k: a.run(f"WORK-{k}: go", cwd).check().session_id for k, cwd in places_a.items()}
    assert all(sids.values()), sids
    set_token(a, configure, extra_env)
    claude_sync(a, "configure", "--device", "machine-a", "--projects-root", str(code_a), *configure, extra_env=extra_env)
    pushed = json.loads(claude_sync(a, "push", "--all", "--json", extra_env=extra_env).stdout)
    assert pushed["done"] == 3, pushed
    assert {o["project_key"] for o in pushed["outcomes"]} == {f"git:{tmp_path}/origin/acme-api", f"git:{tmp_path}/origin/acme-api//services/billing"}

    # B: the same repository somewhere else entirely, its worktree on `feature` too.
    elsewhere = b.root / "elsewhere"
    elsewhere.mkdir()
    places_b = checkout(origin, elsewhere / "acme-api-2", elsewhere / "acme-api-2-feature")
    clone_b = places_b["top"]
    set_token(b, configure, extra_env)
    claude_sync(
        b, "configure", "--device", "machine-b", "--projects-root", str(b.projects_root),
        "--search-root", str(elsewhere), *configure, extra_env=extra_env,
    )
    remote = json.loads(claude_sync(b, "remote", "--json", extra_env=extra_env).stdout)
    assert {e["project_name"] for e in remote} == {"acme-api", "acme-api/services/billing"}
    assert {e["local_folder"] for e in remote} == {str(clone_b), str(clone_b / "services" / "billing")}
    pulled = json.loads(claude_sync(b, "pull", "--all", "--json", extra_env=extra_env).stdout)
    assert pulled["done"] == 3, pulled

    a_spellings = set().union(*(spellings(str(p)) for p in (a.root, a.home, *places_a.values())))
    for kind, sid in sids.items():
        cwd_b = places_b[kind]
        transcript = b.config_dir / "projects" / encode_project_dir(cwd_b) / f"{sid}.jsonl"
        assert transcript.is_file(), f"{kind}: not where B's client reads for {cwd_b}"
        content = transcript.read_text()
        assert not [p for p in a_spellings if p in content], f"{kind}: A's paths in {transcript}"
        # 2.1.332 names the repository's memory folder (its main work tree's) in the transcript.
        memory = f"/projects/{encode_project_dir(clone_b)}/memory"
        assert "/memory" not in content or memory in content, f"{kind}: memory folder is not B's repository's"
        marker = f"RESUMED-{kind}"
        mock_api.set_script(on_prompt(marker, text(f"Continuing {kind} on B.")))
        resumed = b.run(f"{marker}: what did we do?", cwd_b, resume=sid).check()
        assert resumed.session_id == sid
        req = [r for r in mock_api.message_requests if marker in r.last_user_text][-1]
        body = json.dumps(req.body, ensure_ascii=False)
        assert f"WORK-{kind}" in body and f"Worked in {kind}." in body
        assert json.dumps(str(cwd_b), ensure_ascii=False)[1:-1] in body
        assert not [p for p in a_spellings if p in body], f"{kind}: A's paths reached the model"
