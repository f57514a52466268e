"""${PROJECT_FOLDER}: the client's folder name for the project, carried as a path component.

The client spells the project path as a folder name (`projects/<enc>`) and writes absolute
paths through it (`toolUseResult.persistedOutputPath`, "Full output saved to: ...", the
background agents' `/tmp/claude-<uid>/<enc>/<sid>/tasks/...`). These tests pin that the name
is swapped for the receiving device's, whole components only, with an exact round trip.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_sync.claude_home import project_folder_name
from claude_sync.format.tokens import PROJECT_FOLDER, Context, Flavour, PathTokens, json_escape
from claude_sync.project import DeviceLayout

JSON, RAW = Context.JSON, Context.RAW
POSIX, WINDOWS = Flavour.POSIX, Flavour.WINDOWS

A = DeviceLayout("/home/a/code", "/home/a", POSIX)
B = DeviceLayout("/Users/b/My Work/é", "/Users/b", POSIX)
WIN = DeviceLayout("C:\\Users\\w\\src", "C:\\Users\\w", WINDOWS)
CWD_A, CWD_B, CWD_W = "/home/a/code/acme/api", "/Users/b/My Work/é/acme/api", "C:\\Users\\w\\src\\acme\\api"
FOLDER_A, FOLDER_B, FOLDER_W = (project_folder_name(c) for c in (CWD_A, CWD_B, CWD_W))
ta = A.tokens_for(CWD_A, FOLDER_A)
tb = B.tokens_for(CWD_B, FOLDER_B)
tw = WIN.tokens_for(CWD_W, FOLDER_W)
SID = "0d9c7c2e-3b57-4c55-9b1a-2f4a0e6f1c11"
TOKEN = "${" + PROJECT_FOLDER + "}"


def carry(src: PathTokens, dst: PathTokens, text: str, ctx: Context = JSON) -> str:
    return dst.detokenize(src.tokenize(text, ctx), ctx, source=src.flavour)


def test_folder_names_are_the_clients_spelling():
    assert FOLDER_A == "-home-a-code-acme-api"
    assert FOLDER_B == "-Users-b-My-Work---acme-api"
    assert FOLDER_W == "C--Users-w-src-acme-api"


def test_persisted_output_path_names_the_receiving_devices_folder():
    path_a = f"/home/a/.claude/projects/{FOLDER_A}/{SID}/tool-results/b21zx3nsl.txt"
    record = '{"toolUseResult":{"persistedOutputPath":"' + path_a + '"}}'
    carried = ta.tokenize(record, JSON)
    assert FOLDER_A not in carried and "/home/a" not in carried
    assert f"${{HOME}}/.claude/projects/{TOKEN}/{SID}/tool-results/b21zx3nsl.txt" in carried
    out = tb.detokenize(carried, JSON)
    assert f'"/Users/b/.claude/projects/{FOLDER_B}/{SID}/tool-results/b21zx3nsl.txt"' in out


def test_persisted_output_text_and_background_notice_are_rewritten():
    text = (
        "<persisted-output>\\nOutput too large (2.6MB). Full output saved to: "
        f"/home/a/.claude/projects/{FOLDER_A}/{SID}/tool-results/x.txt\\n\\nPreview"
        f" output_file: /tmp/claude-1000/{FOLDER_A}/{SID}/tasks/a2d7.output\\nDo NOT"
    )
    out = carry(ta, tb, text)
    assert FOLDER_A not in out
    assert f"/Users/b/.claude/projects/{FOLDER_B}/{SID}/tool-results/x.txt\\n" in out
    assert f"/tmp/claude-1000/{FOLDER_B}/{SID}/tasks/a2d7.output\\n" in out


def test_windows_folder_becomes_a_posix_folder_with_posix_separators():
    text = json_escape(f"C:\\Users\\w\\.claude\\projects\\{FOLDER_W}\\{SID}\\tool-results\\x.txt")
    assert carry(tw, tb, text) == f"/Users/b/.claude/projects/{FOLDER_B}/{SID}/tool-results/x.txt"
    back = carry(tb, tw, f"/Users/b/.claude/projects/{FOLDER_B}/{SID}/x.txt")
    assert back == json_escape(f"C:\\Users\\w\\.claude\\projects\\{FOLDER_W}\\{SID}\\x.txt")


@pytest.mark.parametrize(
    "text",
    [
        f"/x/{FOLDER_A}-2/s",  # another project's folder (/home/a/code/acme/api-2)
        f"/x/{FOLDER_A}-/s",  # /home/a/code/acme/api/ followed by a name starting with a dot
        f"/x/{FOLDER_A}_x",
        f"/x/{FOLDER_A}.bak",
        f"/x/{FOLDER_A}2",
        f"x{FOLDER_A}/s",  # glued to a word
        f"{FOLDER_A}/s",  # not after a separator: not a component of a path
        f"-{FOLDER_A}",
        f"a\\{FOLDER_A}"[:-1],  # in JSON a lone backslash is no separator (and the name is cut)
    ],
)
def test_folder_name_only_as_a_whole_component(text):
    assert ta.tokenize(text, JSON) == text


@pytest.mark.parametrize(
    ("text", "ctx"),
    [
        (f"/x/{FOLDER_A}", JSON),
        (f"/x/{FOLDER_A}/", JSON),
        (f'"/x/{FOLDER_A}"', JSON),
        (f"/x/{FOLDER_A}.", RAW),
        (f"/x/{FOLDER_A}\\n", JSON),
        (f"x\\\\{FOLDER_A}\\\\s", JSON),  # an escaped backslash is a separator
        (f"x\\{FOLDER_A}\\s", RAW),
    ],
)
def test_folder_name_after_a_separator_is_tokenized(text, ctx):
    out = ta.tokenize(text, ctx)
    assert FOLDER_A not in out and TOKEN in out
    assert ta.detokenize(out, ctx) == text


def test_literal_folder_token_text_comes_back_unchanged_everywhere():
    text = f"echo ${{PROJECT_FOLDER}} ${{PROJECT_FOLDER|x}} ${{PROJECT_FOLDERS}} /{FOLDER_A}"
    carried = ta.tokenize(text, RAW)
    assert carried.startswith("echo ${$}{PROJECT_FOLDER} ${$}{PROJECT_FOLDER|x} ${PROJECT_FOLDERS} /" + TOKEN)
    assert tb.detokenize(carried, RAW) == f"echo ${{PROJECT_FOLDER}} ${{PROJECT_FOLDER|x}} ${{PROJECT_FOLDERS}} /{FOLDER_B}"


def test_a_device_without_a_folder_name_refuses_the_token():
    with pytest.raises(KeyError):
        B.tokens_for(CWD_B).detokenize(f"/x/{TOKEN}", RAW)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "a\nb"])
def test_a_folder_name_with_a_separator_is_refused(bad):
    with pytest.raises(ValueError):
        PathTokens({"HOME": "/home/a"}, POSIX, bad)


def test_long_project_paths_use_the_hashed_folder_name():
    deep_a = "/home/a/code/" + "/".join(["segment-" + "x" * 40] * 5)
    deep_b = "/Users/b/My Work/é/" + "/".join(["segment-" + "x" * 40] * 5)
    fa, fb = project_folder_name(deep_a), project_folder_name(deep_b)
    assert len(fa) > 200 and re.fullmatch(r"[A-Za-z0-9-]{200}-[0-9a-z]+", fa)
    src, dst = A.tokens_for(deep_a, fa), B.tokens_for(deep_b, fb)
    text = f"/home/a/.claude/projects/{fa}/{SID}/tool-results/x.txt"
    carried = src.tokenize(text, JSON)
    assert fa[:200] not in carried
    assert src.detokenize(carried, JSON) == text
    assert dst.detokenize(carried, JSON) == f"/Users/b/.claude/projects/{fb}/{SID}/tool-results/x.txt"


# -- properties ---------------------------------------------------------------------

PIECES = [
    "/", "\\", "\\\\", "\\n", "-", "-2", "_", ".", ".bak", "x", "é", " ", '"', "$", "${", TOKEN,
    "${$}", "${HOME}", "${PROJECT_FOLDER|", "}", "|", "/tmp/claude-0/", "/home/a", "/home/a/code/acme/api",
    "/home/a/.claude/projects/", FOLDER_A, FOLDER_A[:-1], FOLDER_A + "-x", FOLDER_B, "C:\\", "a",
]  # fmt: skip


def folder_text() -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=30).map("".join)


@pytest.mark.parametrize("ctx", [JSON, RAW])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=folder_text())
def test_property_round_trip_with_a_folder_is_exact(ctx, text):
    assert ta.detokenize(ta.tokenize(text, ctx), ctx) == text


FOLDER_ALPHABET = st.sampled_from(list("aZ09-_"))


@pytest.mark.parametrize("ctx", [JSON, RAW])
@settings(max_examples=300, deadline=None)
@given(
    folder=st.text(FOLDER_ALPHABET, min_size=1, max_size=12).filter(lambda f: f not in (".", "..")),
    left=st.sampled_from(["", " ", '"', "x", "-", "_", ".", "/", "\\", "\\\\", "/x/", "é"]),
    right=st.sampled_from(["", " ", '"', "/", "\\", "\\\\", "-", "-2", "_", "x", "0", ".", ".x", "\\n", "é", "~1"]),
)
def test_property_folder_is_swapped_exactly_when_it_is_a_whole_component(ctx, folder, left, right):
    src = PathTokens({"HOME": "/home/a"}, POSIX, folder)
    dst = PathTokens({"HOME": "/Users/b"}, POSIX, "-Users-b-p")
    text = left + folder + right
    out = src.tokenize(text, ctx)
    assert src.detokenize(out, ctx) == text
    backslash = "\\\\" if ctx is JSON else "\\"
    after_separator = left.endswith("/") or left.endswith(backslash)
    continued = bool(re.match(r"[\w-]|[.~]+\w", right))
    if after_separator and not continued:
        assert out == left + TOKEN + right
        assert dst.detokenize(out, ctx) == left + "-Users-b-p" + right
    else:
        assert TOKEN not in out
