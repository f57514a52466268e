"""The product's promise, end to end, with the real Claude Code CLI.

Machine A (its own HOME, projects under one root) runs a session that writes and
edits files, runs Bash (once with an output too big to keep inline, which the client
persists under the session's folder), creates a task and runs a foreground and a
background sub-agent; `claude-sync push`. Machine B (its own HOME, projects under
another root: one with spaces and non-ASCII letters, or one so deep that the client
hashes the folder name) runs `claude-sync pull`; then `claude -p --resume <id>` from
B's project folder must succeed, the mock Messages API must receive every earlier
message, every `persistedOutputPath` must name a file on B, and no spelling of A's
paths (plain, JSON-escaped, or as the client's folder name) may be in B's files or
in what B's client sends.

Runs with each client of claude-code-versions.json and each backend.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_client import ClaudeMachine, encode_project_dir
from conftest import Client
from mock_messages_api import MockMessagesAPI, text
from scenarios import on_prompt, rich_session_scenario

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def claude_sync(machine: ClaudeMachine, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = machine.env(extra_env)
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )
    assert r.returncode == 0, f"claude-sync {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(params=["git", "server"])
def backend_args(request, tmp_path: Path) -> tuple[list[str], dict[str, str]]:  # type: ignore[no-untyped-def]
    """configure arguments and env for each backend the machines share."""
    if request.param == "git":
        remote = tmp_path / "sessions.git"
        subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True)
        return ["--backend", "git", "--git-url", str(remote)], {}
    server = request.getfixturevalue("private_sync_server")
    # The token reaches each machine the way a user gives it: `claude-sync token set` on stdin.
    env = {"CLAUDE_SYNC_TEST_TOKEN": server.token, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    return ["--backend", "server", "--server-url", server.url], env


def set_token(machine: ClaudeMachine, args: list[str], extra_env: dict[str, str]) -> None:
    if "--server-url" not in args:
        return
    url = args[args.index("--server-url") + 1]
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", "token", "set", "--server-url", url],
        input=extra_env["CLAUDE_SYNC_TEST_TOKEN"] + "\n",
        env=machine.env(extra_env), cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert r.returncode == 0, r.stderr


# Where B keeps its projects, one layout per backend run (so each client meets both).
B_ROOTS = {
    "git": ("My Projects", "équipe ü"),  # spaces and non-ASCII
    "server": ("deep-" + "x" * 60, "deeper-" + "y" * 60, "deepest-" + "z" * 60),  # hashed folder name
}


def spellings(path: str) -> set[str]:
    """How a path can stand in a file: plain, JSON-escaped, ASCII-escaped JSON, the client's folder name."""
    return {path, json.dumps(path)[1:-1], json.dumps(path, ensure_ascii=False)[1:-1], encode_project_dir(path)}


def json_strings(value: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """(key, string) for every string in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from json_strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from json_strings(v, key)
    elif isinstance(value, str):
        yield key, value


def persisted_outputs(config_dir: Path) -> list[str]:
    """Every persistedOutputPath and every "Full output saved to:" path in a machine's transcripts."""
    found = []
    for f in (config_dir / "projects").rglob("*.jsonl"):
        for line in f.read_text("utf-8").splitlines():
            for key, value in json_strings(json.loads(line)):
                if key == "persistedOutputPath":
                    found.append(value)
                found += re.findall(r"Full output saved to: (.+?\.txt)", value)
    return found


def test_session_resumes_on_another_machine_with_its_own_paths(
    make_machine, mock_api: MockMessagesAPI, backend_args, client: Client, request, tmp_path: Path
) -> None:
    configure, extra_env = backend_args
    a: ClaudeMachine = make_machine("machine-a", client=client)
    b: ClaudeMachine = make_machine("machine-b", client=client)

    # Machine A: a real session with tools, a big output, a task and two sub-agents.
    project_a = a.project("acme-api")
    sc = rich_session_scenario(project_a, big_output=True, background_agent=True)
    mock_api.set_script(sc)
    run = a.run(sc.prompt, project_a).check()
    sid = run.session_id
    assert sid and sc.finished(mock_api), run.describe()
    a_outputs = persisted_outputs(a.config_dir)
    assert a_outputs and all(os.path.isfile(p) for p in a_outputs), a_outputs
    a_paths = [str(tmp_path / "machine-a"), str(a.home), str(project_a)]
    a_spellings = set().union(*(spellings(p) for p in a_paths))

    set_token(a, configure, extra_env)
    claude_sync(a, "configure", "--device", "machine-a", "--projects-root", str(a.projects_root), *configure, extra_env=extra_env)
    pushed = json.loads(claude_sync(a, "push", sid, "--json", extra_env=extra_env).stdout)
    assert pushed["done"] == 1, pushed

    # Machine B: projects live somewhere else entirely.
    backend = request.node.callspec.params["backend_args"]
    b_root = b.home.joinpath(*B_ROOTS[backend])
    project_b = b_root / "acme-api"
    project_b.mkdir(parents=True)
    if backend == "server":
        assert len(encode_project_dir(project_b)) > 200  # the client's hashed long form
    set_token(b, configure, extra_env)
    claude_sync(b, "configure", "--device", "machine-b", "--projects-root", str(b_root), *configure, extra_env=extra_env)
    remote = json.loads(claude_sync(b, "remote", "--json", extra_env=extra_env).stdout)
    assert [e["session_id"] for e in remote] == [sid]
    pulled = json.loads(claude_sync(b, "pull", sid[:8], "--json", extra_env=extra_env).stdout)
    assert pulled["done"] == 1, pulled

    # Every artifact is where B's client looks, and no byte of it names A's paths.
    enc_b = b.config_dir / "projects" / encode_project_dir(project_b)
    assert (enc_b / f"{sid}.jsonl").is_file()
    assert len(list((enc_b / sid / "subagents").glob("agent-*.jsonl"))) == 2
    assert list((enc_b / sid / "tool-results").glob("*.txt"))
    assert list((b.config_dir / "file-history" / sid).iterdir())
    assert list((b.config_dir / "tasks" / sid).glob("*.json"))

    def assert_no_trace_of_a() -> None:
        for f in b.config_dir.rglob("*"):
            if f.is_file():
                content = f.read_text(errors="replace")
                for p in a_spellings:
                    assert p not in content, f"{f} still names {p}"

    def assert_outputs_on_b() -> None:
        outputs = persisted_outputs(b.config_dir)
        assert len(outputs) >= len(a_outputs)
        for p in outputs:
            assert os.path.isfile(p), f"{p} is named in B's files but does not exist on B"
            assert p.startswith(str(enc_b / sid / "tool-results") + "/")

    assert_no_trace_of_a()
    assert_outputs_on_b()

    # Resume on B from B's project folder.
    marker = "RESUMED-ON-B"
    mock_api.set_script(on_prompt(marker, text("Continuing on machine B.")))
    resumed = b.run(f"{marker}: what did we do so far?", project_b, resume=sid).check()
    assert resumed.session_id == sid
    [req] = [r for r in mock_api.message_requests if marker in r.last_user_text][-1:]
    body = json.dumps(req.body, ensure_ascii=False)
    # every earlier message reached the model ...
    earlier = [m for m in req.messages[:-1]]
    assert len(earlier) >= 10, f"only {len(earlier)} earlier messages were sent"
    final_on_b = sc.final_text.replace(str(project_a), str(project_b))
    for expected in (sc.marker, final_on_b, f"File created successfully at: {project_b}/", f"{enc_b / sid}/tool-results/"):
        assert json.dumps(expected, ensure_ascii=False)[1:-1] in body, f"{expected!r} missing from the resumed request"
    # ... with B's paths, and none of A's
    assert json.dumps(str(project_b), ensure_ascii=False)[1:-1] in body
    for p in a_spellings:
        assert p not in body, f"A's path {p} reached the model"
    # the client appended to the pulled transcript in place
    assert marker in (enc_b / f"{sid}.jsonl").read_text()
    assert_no_trace_of_a()
    assert_outputs_on_b()
