"""Discovery: every session under the config dir, every artifact of each, and their fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

from claude_sync.discovery import discover
from claude_sync.meta_cache import MetaCache
from claude_sync.state import files_fingerprint
from tests.support.claude_fixture import age, rich_session


def test_every_artifact_of_a_session_is_found(tmp_path):
    claude = tmp_path / ".claude"
    s = rich_session(claude, "/home/a/code/acme/api", "/home/a")
    todo = claude / "todos" / f"{s.session_id}-agent-{s.session_id}.json"
    todo.parent.mkdir(parents=True)
    todo.write_text("[]")
    legacy = s.project_dir / "agent-old1.jsonl"
    legacy.write_text(json.dumps({"sessionId": s.session_id, "isSidechain": True}) + "\n")
    other = rich_session(claude, "/home/a/code/acme/api", "/home/a")
    [found] = [x for x in discover(claude) if x.session_id == s.session_id]
    assert set(found.files) == {
        "transcript.jsonl",
        "session/subagents/agent-a1b2c3.jsonl",
        "session/subagents/agent-a1b2c3.meta.json",
        f"file-history/{next(iter(s.file_history))}",
        "tasks/1.json",
        f"todos/{todo.name}",
        "legacy-agents/agent-old1.jsonl",
    }
    assert "legacy-agents/agent-old1.jsonl" not in next(x for x in discover(claude) if x.session_id == other.session_id).files


def test_files_that_are_not_sessions_are_ignored(tmp_path):
    claude = tmp_path / ".claude"
    d = claude / "projects" / "-p"
    d.mkdir(parents=True)
    (d / "notes.jsonl").write_text("{}\n")
    (d / "memory").mkdir()
    assert discover(claude) == []


def test_fingerprints_from_discovery_and_from_a_stat_of_the_files_agree(tmp_path):
    claude = tmp_path / ".claude"
    s = rich_session(claude, "/home/a/code/acme/api", "/home/a")
    (claude / "todos").mkdir()
    (claude / "todos" / f"{s.session_id}-agent-{s.session_id}.json").write_text("[]")
    age(*[p for p in claude.rglob("*") if p.is_dir()])
    cache_file = tmp_path / "cache.json"
    for _ in range(2):  # scanned, then from the cached folders
        [found] = discover(claude, MetaCache(cache_file))
        plain = {name: Path(p) for name, p in found.files.items()}
        assert files_fingerprint(found.files) == files_fingerprint(plain)
