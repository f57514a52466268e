"""The metadata cache: appends read incrementally, a warm discovery that opens no file, cached folders."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from claude_sync.discovery import discover
from claude_sync.meta_cache import MetaCache
from claude_sync.state import files_fingerprint
from tests.support.claude_fixture import FixtureSession, age, big_session, rich_session


class Opened:
    """Files under a folder that this process opens while the block runs (Python's audit hook)."""

    hooked: list[Opened] = []

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.paths: list[str] = []

    @staticmethod
    def _hook(event: str, args: tuple) -> None:
        if event == "open" and Opened.hooked and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            for o in Opened.hooked:
                if path.startswith(o.root) and os.path.isfile(path):
                    o.paths.append(path)

    def __enter__(self) -> Opened:
        if not getattr(Opened, "_installed", False):
            sys.addaudithook(Opened._hook)
            Opened._installed = True  # type: ignore[attr-defined]
        Opened.hooked.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        Opened.hooked.remove(self)


def line(rec: dict) -> str:
    """A record as the client writes it: compact JSON, one line."""
    return json.dumps(rec, separators=(",", ":")) + "\n"


def test_an_appended_transcript_is_updated_from_the_new_bytes_only(tmp_path):
    s = FixtureSession(tmp_path / ".claude", "/p").user("hello").assistant("hi").write()
    cache = MetaCache(tmp_path / "cache.json")
    assert cache.meta_for(s.transcript).message_count == 2
    with s.transcript.open("a") as f:
        f.write(
            line(
                {
                    "type": "user",
                    "cwd": "/p",
                    "timestamp": "2026-12-01T00:00:00.000Z",
                    "message": {"role": "user", "content": "later"},
                }
            )
        )
        f.write(line({"type": "ai-title", "aiTitle": "Greeting"}))
    meta = cache.meta_for(s.transcript)
    assert (meta.message_count, meta.message_count_exact) == (3, True)
    assert meta.last_timestamp == "2026-12-01T00:00:00.000Z"
    assert meta.title == "Greeting" and meta.first_prompt == "hello"


def test_a_rewritten_transcript_is_read_again(tmp_path):
    s = FixtureSession(tmp_path / ".claude", "/p").user("hello").assistant("hi").write()
    cache = MetaCache(tmp_path / "cache.json")
    cache.meta_for(s.transcript)
    other = FixtureSession(tmp_path / ".claude", "/p", session_id=s.session_id).user("replaced").assistant("a")
    other.assistant("b").user("c").write()
    assert other.transcript == s.transcript
    meta = cache.meta_for(s.transcript)
    assert (meta.first_prompt, meta.message_count) == ("replaced", 4)


def test_a_warm_discovery_of_unchanged_sessions_opens_no_file(tmp_path):
    claude = tmp_path / ".claude"
    s = rich_session(claude, "/home/a/code/acme/api", "/home/a")
    legacy = s.project_dir / "agent-old1.jsonl"
    legacy.write_text(line({"sessionId": s.session_id}))
    age(*[p for p in claude.rglob("*") if p.is_dir()])
    cache_file = tmp_path / "cache.json"
    first = discover(claude, MetaCache(cache_file))
    with Opened(claude) as opened:
        second = discover(claude, MetaCache(cache_file))
    assert opened.paths == []
    assert [x.files.fingerprint for x in first] == [x.files.fingerprint for x in second]  # type: ignore[attr-defined]
    assert set(second[0].files) == set(first[0].files)
    assert "legacy-agents/agent-old1.jsonl" in second[0].files
    assert second[0].size == first[0].size == sum(p.stat().st_size for p in first[0].files.values())


def test_changes_in_cached_folders_change_the_fingerprint(tmp_path):
    claude = tmp_path / ".claude"
    s = rich_session(claude, "/home/a/code/acme/api", "/home/a")
    folders = [p for p in claude.rglob("*") if p.is_dir()]
    age(*folders)
    cache_file = tmp_path / "cache.json"
    seen = {files_fingerprint(discover(claude, MetaCache(cache_file))[0].files)}

    sub = s.project_dir / s.session_id / "subagents" / "agent-a1b2c3.jsonl"
    with sub.open("a") as f:  # a sub-agent log grows in place: its folder does not change
        f.write('{"type":"assistant"}\n')
    seen.add(files_fingerprint(discover(claude, MetaCache(cache_file))[0].files))

    backup = claude / "file-history" / s.session_id / "0123456789abcdef@v1"
    backup.write_text("new backup")
    age(backup.parent, ago=60)  # its folder's mtime moved when the file was added
    found = discover(claude, MetaCache(cache_file))[0]
    seen.add(files_fingerprint(found.files))
    assert "file-history/0123456789abcdef@v1" in found.files

    task = claude / "tasks" / s.session_id / "1.json"
    task.write_text(json.dumps({"id": "1", "status": "completed"}))  # rewritten in place, with the transcript
    with s.transcript.open("a") as f:
        f.write('{"type":"user","message":{"role":"user","content":"ok"}}\n')
    seen.add(files_fingerprint(discover(claude, MetaCache(cache_file))[0].files))
    assert len(seen) == 4


def test_an_estimated_count_becomes_exact_once_the_transcript_changes(tmp_path):
    s = big_session(tmp_path / ".claude")
    cache = MetaCache(tmp_path / "cache.json")
    assert not cache.meta_for(s.transcript).message_count_exact
    with s.transcript.open("a") as f:
        f.write(
            line({"type": "user", "timestamp": "2026-12-01T00:00:00.000Z", "message": {"role": "user", "content": "x"}})
        )
    meta = cache.meta_for(s.transcript)
    records = [json.loads(x) for x in s.transcript.read_text().splitlines()]
    assert meta.message_count_exact
    assert meta.message_count == sum(1 for r in records if r.get("type") in ("user", "assistant"))


def test_metadata_cache_is_used_until_the_file_changes(tmp_path):
    s = FixtureSession(tmp_path / ".claude", "/p").user("hello").write()
    cache_file = tmp_path / "cache.json"
    discover(tmp_path / ".claude", MetaCache(cache_file))
    cache = MetaCache(cache_file)
    assert str(s.transcript) in cache.entries
    cache.entries[str(s.transcript)]["meta"]["title"] = "from cache"
    assert cache.meta_for(s.transcript).title == "from cache"
    s.user("more").write()
    assert cache.meta_for(s.transcript).title == "hello"
