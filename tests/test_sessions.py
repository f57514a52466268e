"""Discovery of sessions and their artifacts, and the metadata listing shows."""

from __future__ import annotations

import json

import pytest

from claude_sync.format.errors import NotPortable
from claude_sync.format.tokens import Flavour
from claude_sync.project import cwd_for_key, project_key_for
from claude_sync.sessions import MetaCache, discover, read_meta
from tests.support.claude_fixture import FixtureSession, rich_session


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


def test_metadata_comes_from_the_records_not_the_folder_name(tmp_path):
    claude = tmp_path / ".claude"
    s = FixtureSession(claude, "/home/a/my_proj")  # folder name would decode as /home/a/my/proj
    s.user("First question about the parser").assistant("answer").user("second").write()
    meta = read_meta(s.transcript)
    assert meta.cwd == "/home/a/my_proj"
    assert meta.title == "First question about the parser"
    assert meta.message_count == 3
    assert meta.first_timestamp < meta.last_timestamp


def test_custom_title_wins_over_summary_and_first_prompt(tmp_path):
    s = FixtureSession(tmp_path, "/p").user("prompt")
    s.records.append({"type": "summary", "summary": "A summary", "leafUuid": "x"})
    s.title("My title")
    s.records.append({"type": "ai-title", "aiTitle": "AI title"})
    s.write()
    assert read_meta(s.transcript).title == "My title"


def test_tool_results_and_command_wrappers_are_not_the_title(tmp_path):
    s = FixtureSession(tmp_path, "/p")
    r = s._base("user", None)
    r["message"] = {"role": "user", "content": "<command-name>/clear</command-name>"}
    s.records.append(r)
    s.bash("ls", "x").user("the real question " + "word " * 40).write()
    title = read_meta(s.transcript).title
    assert title.startswith("the real question") and len(title) <= 80 and title.endswith("…")


def test_a_line_still_being_written_is_ignored(tmp_path):
    s = FixtureSession(tmp_path, "/p").user("hello").write()
    with s.transcript.open("a") as f:
        f.write('{"type":"user","cwd":"/p","message":{"role":"us')
    assert read_meta(s.transcript).message_count == 1


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


def test_files_that_are_not_sessions_are_ignored(tmp_path):
    claude = tmp_path / ".claude"
    d = claude / "projects" / "-p"
    d.mkdir(parents=True)
    (d / "notes.jsonl").write_text("{}\n")
    (d / "memory").mkdir()
    assert discover(claude) == []


@pytest.mark.parametrize(
    "cwd,key",
    [
        ("/home/a/code/acme/api", "acme/api"),
        ("/home/a/code/acme/api/src", "acme/api/src"),
        ("/home/a/scratch", "~/scratch"),
        ("/home/a/code", "."),
    ],
)
def test_project_key_is_relative_to_projects_root_then_home(cwd, key):
    assert project_key_for(cwd, "/home/a/code", "/home/a", Flavour.POSIX) == key
    assert cwd_for_key(key, "/Users/b/work", "/Users/b", Flavour.POSIX).startswith("/Users/b")


def test_windows_project_key_ignores_case_and_uses_backslashes_back():
    key = project_key_for("c:\\Users\\X\\Code\\acme\\api", "C:\\Users\\x\\code", "C:\\Users\\x", Flavour.WINDOWS)
    assert key == "acme/api"
    assert cwd_for_key(key, "D:\\src", "D:\\Users\\y", Flavour.WINDOWS) == "D:\\src\\acme\\api"


def test_directory_outside_home_and_root_has_no_key():
    with pytest.raises(NotPortable):
        project_key_for("/opt/data/x", "/home/a/code", "/home/a", Flavour.POSIX)


@pytest.mark.parametrize("key", ["../etc", "acme/../../x", "~/../root", "a//b", "C:/x"])
def test_keys_that_would_leave_the_root_are_refused(key):
    with pytest.raises(NotPortable):
        cwd_for_key(key, "/home/b/code", "/home/b", Flavour.POSIX)
