"""What listing shows of a session, read from its transcript; and the fast paths of a cold listing
give what the plain ones give.

The Rust JSON parser (with json.loads for what it refuses), the shortcut in `shorten`, and
the Rust encoder of the metadata cache; and the head-and-tail reads on awkward transcripts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_sync.discovery import discover
from claude_sync.format.tokens import Flavour
from claude_sync.jsonload import loads
from claude_sync.meta_cache import MetaCache
from claude_sync.portable import pack
from claude_sync.project import DeviceLayout
from claude_sync.transcript import (
    HEAD_LIMIT,
    TITLE_MAX,
    WINDOW,
    read_meta,
    shorten,
)
from tests.support.claude_fixture import FixtureSession, big_session

SID = "0b5f6a0e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"


def line(rec: dict) -> str:
    return json.dumps(rec, separators=(",", ":")) + "\n"


def transcript(claude: Path, cwd: str, lines: list[str], sid: str = SID) -> Path:
    folder = claude / "projects" / cwd.replace("/", "-")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sid}.jsonl"
    path.write_text("".join(lines), "utf-8")
    return path


def user(text: str, i: int, cwd: str | None = "/p", **extra: object) -> str:
    rec: dict = {
        "type": "user",
        "message": {"role": "user", "content": text},
        "timestamp": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z",
    }
    if cwd is not None:
        rec["cwd"] = cwd
    rec.update(extra)
    return line(rec)


def assistant(text: str, i: int) -> str:
    return line(
        {
            "type": "assistant",
            "cwd": "/p",
            "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
            "timestamp": f"2026-01-01T01:{i // 60:02d}:{i % 60:02d}.000Z",
        }
    )


# -- the JSON parser ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":"say \\"hi\\" \\\\ back"}',
        '{"a":"Gr\u00fc\u00dfe \u65e5\u672c \U0001f600"}'.encode(),
        b'{"a":"\\u00e9\\ud83d\\ude00"}',
        b'{"a":"\\ud800"}',  # a lone surrogate: the Rust parser refuses it, json.loads takes it
        b'\xef\xbb\xbf{"a":1}',  # a byte order mark: the same
        b'{"a":NaN,"b":Infinity,"a":2}',
        b' {"a":[1,2.5,null,true,{"b":{}}]} ',
        '{"a":1}'.encode("utf-16"),
    ],
)
def test_loads_gives_what_json_loads_gives(raw):
    assert repr(loads(raw)) == repr(json.loads(raw))


@pytest.mark.parametrize("raw", [b'{"a":1} x', b'{"a":"x\ty"}', b'{"a":', b'{"a":"\xff"}', b"", b"\x00"])
def test_loads_refuses_what_json_loads_refuses(raw):
    with pytest.raises(ValueError):
        json.loads(raw)
    with pytest.raises(ValueError):
        loads(raw)


# -- shorten -----------------------------------------------------------------


def plain_shorten(text: str, limit: int = TITLE_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@settings(max_examples=400)
@given(st.text(alphabet=st.sampled_from(["a", "b", " ", "\n", "\t", "\u00e9", "\u3000", "\U0001f600"]), max_size=900))
def test_shorten_gives_what_collapsing_the_whole_text_gives(text):
    assert shorten(text) == plain_shorten(text)


def test_shorten_of_long_prompts_with_long_runs_of_whitespace():
    for text in (
        "x " * 200,
        " " * 400 + "word " * 10,
        "a" * 1000,
        "a " * 40 + " " * 300 + "b",
        "\n" * 319 + "abc" * 100,
    ):
        assert shorten(text) == plain_shorten(text)


# -- metadata of transcripts with awkward records ------------------------------


def test_escaped_quotes_and_unicode_in_prompt_and_title(tmp_path):
    prompt = 'Why does "parse(\\n)" drop the last line? Grüße 日本 😀'
    lines = [user(prompt, 0)] + [assistant("x" * 500, i) for i in range(200)]
    lines.append(line({"type": "ai-title", "aiTitle": 'The "quoted" title é', "sessionId": SID}))
    path = transcript(tmp_path, "/p", lines)
    assert path.stat().st_size > 2 * WINDOW
    meta = read_meta(path)
    assert meta.first_prompt == shorten(prompt)
    assert meta.title == 'The "quoted" title é'
    assert meta.cwd == "/p"
    assert not meta.message_count_exact


def test_a_huge_first_record_is_followed_past_the_head_window(tmp_path):
    huge = "word " * (3 * WINDOW // 5)  # about 3 windows in one record
    lines = [user(huge, 0)] + [assistant("y" * 300, i) for i in range(200)]
    path = transcript(tmp_path, "/p", lines)
    meta = read_meta(path)
    assert meta.first_prompt == shorten(huge)
    assert meta.cwd == "/p"
    assert meta.first_timestamp == "2026-01-01T00:00:00.000Z"
    assert meta.last_timestamp == "2026-01-01T01:03:19.000Z"


def test_a_record_split_by_the_head_window_is_read_whole(tmp_path):
    # The first record that has a cwd crosses the end of the first window.
    lines = [line({"type": "mode", "mode": "x" * (WINDOW - 100)})]
    lines.append(user("split across the boundary", 0, cwd="/split/here"))
    lines += [assistant("z" * 400, i) for i in range(100)]
    path = transcript(tmp_path, "/split/here", lines)
    head = path.read_bytes()[:WINDOW]
    assert b'"cwd"' not in head or head.rfind(b"\n") < head.find(b'"cwd"')
    meta = read_meta(path)
    assert meta.cwd == "/split/here"
    assert meta.first_prompt == "split across the boundary"


def test_records_without_the_fields_listing_wants(tmp_path):
    lines = [line({"type": "mode", "mode": "plan"}), line({"type": "user", "message": {"content": 3}})]
    lines += [line({"type": "assistant", "message": {"content": "q" * 400}}) for _ in range(100)]
    path = transcript(tmp_path, "/nowhere", lines)
    meta = read_meta(path)
    assert (meta.cwd, meta.first_timestamp, meta.last_timestamp, meta.first_prompt) == (None, None, None, "")
    assert meta.title == "(untitled)"


def test_a_head_without_a_prompt_stops_at_the_head_limit(tmp_path):
    lines = [
        line({"type": "assistant", "cwd": "/p", "message": {"content": "n" * 1000}})
        for _ in range(2 * HEAD_LIMIT // 1000)
    ]
    path = transcript(tmp_path, "/p", lines)
    meta = read_meta(path)
    assert meta.first_prompt == "" and meta.cwd == "/p"


def test_lone_surrogates_in_a_title_survive_the_cache(tmp_path):
    lines = [user("hello", 0)] + [assistant("w" * 500, i) for i in range(80)]
    lines.append('{"type":"custom-title","customTitle":"bad \\udc80 name"}\n')
    path = transcript(tmp_path / ".claude", "/p", lines)
    assert read_meta(path).title == "bad \udc80 name"
    cache_file = tmp_path / "cache.json"
    first = discover(tmp_path / ".claude", MetaCache(cache_file))
    again = discover(tmp_path / ".claude", MetaCache(cache_file))
    assert first[0].meta == again[0].meta == read_meta(path)


def test_a_path_that_is_not_utf8_is_cached(tmp_path):
    claude = tmp_path / ".claude"
    folder = Path(os.fsdecode(os.path.join(os.fsencode(claude / "projects"), b"-p-\xff")))
    folder.mkdir(parents=True)
    (folder / f"{SID}.jsonl").write_text(user("hi", 0) + assistant("ok", 1), "utf-8")
    cache_file = tmp_path / "cache.json"
    first = discover(claude, MetaCache(cache_file))
    assert "\udcff" in str(first[0].transcript)
    assert MetaCache(cache_file).entries.keys() == {str(first[0].transcript)}


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


def test_a_large_transcript_is_listed_from_its_head_and_tail(tmp_path):
    s = big_session(tmp_path)
    assert s.transcript.stat().st_size > 4 * WINDOW
    meta = read_meta(s.transcript)
    records = [json.loads(x) for x in s.transcript.read_text().splitlines()]
    real = sum(1 for r in records if r.get("type") in ("user", "assistant"))
    assert meta.cwd == "/home/a/code/acme/api"
    assert meta.title == "Parser drops last line"  # re-appended at the tail, as the client does
    assert meta.first_prompt == "Why does the parser drop the last line?"
    assert meta.first_timestamp == records[0]["timestamp"]
    assert meta.last_timestamp == records[-1]["timestamp"]
    assert not meta.message_count_exact
    assert abs(meta.message_count - real) <= real * 0.2


def test_a_small_transcript_is_read_whole_and_counted_exactly(tmp_path):
    s = FixtureSession(tmp_path, "/p").user("hello").assistant("hi").user("more").write()
    meta = read_meta(s.transcript)
    assert (meta.message_count, meta.message_count_exact) == (3, True)


def test_pack_counts_every_message_of_a_large_transcript(tmp_path):
    home = tmp_path / "home"
    s = big_session(home / ".claude", turns=300)
    [found] = discover(home / ".claude")
    assert not found.meta.message_count_exact
    layout = DeviceLayout(projects_root="/home/a/code", home="/home/a", flavour=Flavour.POSIX)
    bundle = pack(found, layout, "alpha")
    records = [json.loads(x) for x in s.transcript.read_text().splitlines()]
    assert bundle.manifest.message_count == sum(1 for r in records if r.get("type") in ("user", "assistant"))


def test_an_ai_title_written_after_the_first_prompt_of_a_large_transcript_is_listed(tmp_path):
    s = FixtureSession(tmp_path, "/home/a/code/acme/api").user("first question")
    s.records.append({"type": "ai-title", "aiTitle": "Parser question", "sessionId": s.session_id})
    for i in range(300):
        s.bash(f"cat src/file{i}.py", "x = 1\n" * 40)
    s.write()
    assert s.transcript.stat().st_size > 4 * WINDOW
    assert read_meta(s.transcript).title == "Parser question"
