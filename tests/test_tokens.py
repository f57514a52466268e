"""Path tokens: this device's paths out on push, the receiving device's paths in on pull.

Windows behaviour is tested as pure functions (the tests run on Linux).
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from claude_sync.format.tokens import (
    TOKEN_NAMES,
    Context,
    Flavour,
    PathTokens,
    json_escape,
    split_path,
)

JSON, RAW = Context.JSON, Context.RAW
POSIX, WINDOWS = Flavour.POSIX, Flavour.WINDOWS

POSIX_A = {"HOME": "/home/a", "PROJECTS_ROOT": "/home/a/code", "PROJECT_ROOT": "/home/a/code/acme/api"}
POSIX_B = {"HOME": "/Users/b", "PROJECTS_ROOT": "/Users/b/work", "PROJECT_ROOT": "/Users/b/work/acme/api"}
WIN_A = {
    "HOME": "C:\\Users\\a",
    "PROJECTS_ROOT": "C:\\Users\\a\\code",
    "PROJECT_ROOT": "C:\\Users\\a\\code\\acme\\api",
}
WIN_B = {
    "HOME": "D:\\Users\\b",
    "PROJECTS_ROOT": "D:\\Users\\b\\work",
    "PROJECT_ROOT": "D:\\Users\\b\\work\\acme\\api",
}
DEVICES = {POSIX: (POSIX_A, POSIX_B), WINDOWS: (WIN_A, WIN_B)}

pa = PathTokens(POSIX_A, POSIX)
pb = PathTokens(POSIX_B, POSIX)
wa = PathTokens(WIN_A, WINDOWS)
wb = PathTokens(WIN_B, WINDOWS)


def j(text: str) -> str:
    """`text` as it appears inside a JSON string."""
    return json_escape(text)


def roundtrip(tokens: PathTokens, text: str, ctx: Context) -> str:
    carried = tokens.tokenize(text, ctx)
    back = tokens.detokenize(carried, ctx)
    assert back == text
    assert tokens.detokenize_bytes(carried.encode("utf-8"), ctx) == text.encode("utf-8")  # the pull's path
    return carried


# ---------------------------------------------------------------------------
# Which occurrences are rewritten (POSIX)
# ---------------------------------------------------------------------------


def test_project_path_becomes_project_root_token():
    assert pa.tokenize("cd /home/a/code/acme/api", RAW) == "cd ${PROJECT_ROOT}"


def test_longest_path_wins_project_over_projects_root_over_home():
    text = "/home/a/code/acme/api/x.py /home/a/code/other /home/a/.bashrc"
    assert pa.tokenize(text, RAW) == "${PROJECT_ROOT}/x.py ${PROJECTS_ROOT}/other ${HOME}/.bashrc"


def test_sibling_directory_with_common_prefix_is_not_rewritten():
    assert pa.tokenize("/home/a/code/acme/api2/x", RAW) == "${PROJECTS_ROOT}/acme/api2/x"
    assert pa.tokenize("/home/ab/x and /home/a2", RAW) == "/home/ab/x and /home/a2"


@pytest.mark.parametrize(
    "text",
    ["/x/home/a/code", "./home/a", "../home/a", "~/home/a", "src/home/a", "//home/a", "a.b/home/a"],
)
def test_path_nested_under_another_directory_is_not_rewritten(text):
    assert pa.tokenize(text, RAW) == text


@pytest.mark.parametrize("after", [".", ",", ":", ";", ")", "]", '"', "'", " ", "\n", "\t", "/", "", "...", ":12"])
def test_path_followed_by_punctuation_or_end_is_rewritten(after):
    assert pa.tokenize("at /home/a/code/acme/api" + after, RAW) == "at ${PROJECT_ROOT}" + after


def test_path_followed_by_json_escaped_newline_is_rewritten():
    line = json.dumps({"content": "created /home/a/code/acme/api\nok\t/home/a\r"})
    assert json.loads(pa.tokenize(line, JSON)) == {"content": "created ${PROJECT_ROOT}\nok\t${HOME}\r"}


@pytest.mark.parametrize("after", [".bak", "-2", "_old", "2", "é", "~1", "+x", "@v1", "=1", ".d/x", "..x"])
def test_path_continued_by_a_longer_name_is_not_rewritten(after):
    # The projects root may still match: only the project's own token must not appear.
    out = pa.tokenize("/home/a/code/acme/api" + after, RAW)
    assert out == "${PROJECTS_ROOT}/acme/api" + after


@pytest.mark.parametrize(
    "before",
    [" ", "\n", "(", '"', "'", "=", "--dir=", "@", ":", "PATH=/usr/bin:", "<", "[", "`", "$(", "file://"],
)
def test_path_after_a_delimiter_is_rewritten(before):
    assert pa.tokenize(before + "/home/a/code/acme/api/f.py", RAW) == before + "${PROJECT_ROOT}/f.py"


def test_path_after_json_escaped_newline_is_rewritten():
    line = json.dumps({"stdout": "total 0\n/home/a/code/acme/api\n\t/home/a"})
    assert json.loads(pa.tokenize(line, JSON)) == {"stdout": "total 0\n${PROJECT_ROOT}\n\t${HOME}"}


def test_literal_backslash_n_before_path_is_not_taken_for_a_newline():
    # The JSON text \\n/home/a is a backslash, an "n" and then /home/a: "n/home/a" is a relative path.
    text = j("\\n/home/a")
    assert text == "\\\\n/home/a"
    assert pa.tokenize(text, JSON) == text
    # ... but an escaped backslash followed by a real newline escape is a newline.
    text = j("\\\n/home/a")
    assert pa.tokenize(text, JSON) == j("\\\n${HOME}")


def test_path_after_a_one_letter_option_is_rewritten():
    text = "cc -I/home/a/code/acme/api/include -L/home/a/lib"
    assert pa.tokenize(text, RAW) == "cc -I${PROJECT_ROOT}/include -L${HOME}/lib"
    assert pa.tokenize("cc x-I/home/a/include", RAW) == "cc x-I/home/a/include"


def test_path_after_an_ansi_colour_code_is_rewritten():
    text = "\x1b[01;34m/home/a/code\x1b[0m\n\x1b[m/home/a"
    assert pa.tokenize(text, RAW) == "\x1b[01;34m${PROJECTS_ROOT}\x1b[0m\n\x1b[m${HOME}"
    assert json.loads(pa.tokenize(json.dumps(text), JSON)) == pa.tokenize(text, RAW)
    assert wa.tokenize("\x1b[1mC:\\Users\\a", RAW) == "\x1b[1m${HOME}"


def test_file_uri_is_rewritten():
    assert pa.tokenize("file:///home/a/code/acme/api/README.md", RAW) == "file://${PROJECT_ROOT}/README.md"


def test_every_place_a_transcript_holds_paths_is_rewritten():
    record = {
        "type": "user",
        "cwd": "/home/a/code/acme/api",
        "message": {
            "content": [
                {"type": "tool_use", "input": {"file_path": "/home/a/code/acme/api/src/a.py"}},
                {"type": "tool_use", "input": {"command": "cd /home/a/code/acme/api && ls /home/a/code"}},
                {"type": "tool_result", "content": "File created successfully at: /home/a/code/acme/api/b.py"},
                {"type": "text", "text": "I edited /home/a/code/acme/api/src/a.py, see (/home/a/.zshrc)."},
            ]
        },
        "toolUseResult": {"filePath": "/home/a/code/acme/api/b.py", "stdout": "/home/a/code/acme/api\n"},
        "snapshot": {"trackedFileBackups": {"/home/a/notes.md": {"backupFileName": "abc@v1"}}},
    }
    carried = pa.tokenize(json.dumps(record, ensure_ascii=False), JSON)
    assert "/home/a" not in carried
    data = json.loads(carried)
    assert data["cwd"] == "${PROJECT_ROOT}"
    assert data["message"]["content"][1]["input"]["command"] == "cd ${PROJECT_ROOT} && ls ${PROJECTS_ROOT}"
    assert data["message"]["content"][3]["text"] == "I edited ${PROJECT_ROOT}/src/a.py, see (${HOME}/.zshrc)."
    assert data["toolUseResult"]["stdout"] == "${PROJECT_ROOT}\n"
    assert list(data["snapshot"]["trackedFileBackups"]) == ["${HOME}/notes.md"]
    assert json.loads(pb.detokenize(carried, JSON))["cwd"] == "/Users/b/work/acme/api"


def test_path_with_json_escaped_characters_matches_in_json_context():
    tokens = PathTokens({"HOME": '/home/a "quoted"\\dir'}, POSIX)
    line = json.dumps({"p": '/home/a "quoted"\\dir/x'})
    assert json.loads(tokens.tokenize(line, JSON)) == {"p": "${HOME}/x"}
    assert tokens.tokenize('/home/a "quoted"\\dir/x', RAW) == "${HOME}/x"


# ---------------------------------------------------------------------------
# Literal token text and the ${$} escape
# ---------------------------------------------------------------------------


def test_literal_token_text_is_escaped_on_push():
    assert pa.tokenize("echo ${HOME} ${PROJECT_ROOT}", RAW) == "echo ${$}{HOME} ${$}{PROJECT_ROOT}"
    assert pa.tokenize("${$} ${HOME|x}", RAW) == "${$}{$} ${$}{HOME|x}"


def test_literal_token_text_comes_back_on_the_same_device():
    for text in ["echo ${HOME}", "${$}", "${$}{HOME}", "${HOME|C:/}", "$${HOME}}", "${PROJECTS_ROOT|}"]:
        roundtrip(pa, text, RAW)
        roundtrip(pa, text, JSON)


def test_other_dollar_text_is_left_alone():
    text = "${VAR} $HOME ${HOME ${home} ${HOMES} $ {HOME} ${ HOME}"
    assert pa.tokenize(text, RAW) == text


def test_unclosed_token_prefix_before_a_path_round_trips():
    # "${HOME|" followed by a path and no "}": once the path becomes a token,
    # the text would read "${HOME|${HOME}" -- a token -- if "$" were not escaped.
    text = "${HOME|/home/a and more"
    carried = roundtrip(pa, text, RAW)
    assert carried == "${$}{HOME|${HOME} and more"
    assert pb.detokenize(carried, RAW) == "${HOME|/Users/b and more"


def test_only_a_drive_and_separators_make_a_variant():
    # Push never writes "${HOME|" unescaped, but an older client did (above) and a hostile remote may.
    # Read as a variant running to the next "}", "${HOME|${HOME}" swallowed the token after it.
    assert pb.detokenize("${HOME|${HOME} and more", RAW) == "${HOME|/Users/b and more"
    assert wb.detokenize("${HOME|${HOME} and more", RAW) == "${HOME|D:\\Users\\b and more"
    for text in ["${HOME|xyz}", "${HOME|C}", "${HOME|C:x}", "${HOME|C:/ }", "${HOME|:/}", "${HOME|é:/}"]:
        assert pb.detokenize(text, RAW) == wb.detokenize(text, RAW) == text
    assert wb.detokenize("${HOME|d:/\\}", RAW) == "d:/Users\\b"
    assert wb.detokenize("${HOME|D:" + "/" * 65_536 + "}", RAW) == "D:/Users/b"  # any Windows path's depth
    assert wb.detokenize("${HOME|D:" + "/" * 65_537 + "}", RAW).startswith("${HOME|")


def test_text_after_a_dollar_that_becomes_a_token_round_trips():
    for text in ["$/home/a", "${/home/a}", "${$/home/a}", "${HOME/home/a}", "$${PROJECT_ROOT}/home/a"]:
        roundtrip(pa, text, RAW)


def test_path_containing_dollar_and_braces_round_trips():
    tokens = PathTokens({"HOME": "/home/${HOME}", "PROJECT_ROOT": "/home/${HOME}/p{$}|"}, POSIX)
    for text in ["/home/${HOME}/p{$}|/x", "${HOME} /home/${HOME}", "/home/${HOME}2", "${$}{HOME}"]:
        roundtrip(tokens, text, RAW)
        roundtrip(tokens, j(text), JSON)


# ---------------------------------------------------------------------------
# Windows spellings
# ---------------------------------------------------------------------------


def test_windows_path_json_escaped_becomes_a_plain_token():
    line = json.dumps({"cwd": "C:\\Users\\a\\code\\acme\\api", "f": "C:\\Users\\a\\code\\acme\\api\\src\\a.py"})
    carried = wa.tokenize(line, JSON)
    assert json.loads(carried) == {"cwd": "${PROJECT_ROOT}", "f": "${PROJECT_ROOT}\\src\\a.py"}
    assert wa.detokenize(carried, JSON) == line


def test_windows_path_raw_becomes_a_plain_token():
    assert wa.tokenize("dir C:\\Users\\a\\code\\x", RAW) == "dir ${PROJECTS_ROOT}\\x"


@pytest.mark.parametrize(
    "spelling",
    ["c:\\Users\\a\\code", "C:/Users/a/code", "c:/Users\\a/code", "C:\\Users/a\\code", "c:\\Users\\a\\code"],
)
@pytest.mark.parametrize("ctx", [RAW, JSON])
def test_windows_odd_spellings_are_tokenized_and_restored_exactly(spelling, ctx):
    text = (j(spelling) if ctx is JSON else spelling) + (j("\\x.txt") if ctx is JSON else "\\x.txt")
    carried = roundtrip(wa, text, ctx)
    assert carried.startswith("${PROJECTS_ROOT|")
    assert "Users" not in carried


def test_windows_variant_records_drive_case_and_separators():
    assert wa.tokenize("c:/Users\\a", RAW) == "${HOME|c:/\\}"
    assert wa.tokenize(j("C:\\Users/a"), JSON) == "${HOME|C:\\\\/}"


def test_windows_sibling_directory_is_not_rewritten():
    assert wa.tokenize("C:\\Users\\ab C:\\Users\\a2", RAW) == "C:\\Users\\ab C:\\Users\\a2"
    assert wa.tokenize("C:\\Users\\a\\code\\acme\\api.bak", RAW) == "${PROJECTS_ROOT}\\acme\\api.bak"


def test_windows_path_glued_to_a_word_is_not_rewritten():
    assert wa.tokenize("XC:\\Users\\a", RAW) == "XC:\\Users\\a"
    assert wa.tokenize("D:\\Users\\a", RAW) == "D:\\Users\\a"


@pytest.mark.parametrize("before", ["file:///", "\\\\?\\", "\n", " ", '"', "=", "@"])
def test_windows_path_after_a_delimiter_is_rewritten(before):
    assert wa.tokenize(before + "C:\\Users\\a\\x", RAW) == before + "${HOME}\\x"


def test_windows_path_after_json_escaped_newline_is_rewritten():
    line = json.dumps({"stdout": "dir\nC:\\Users\\a\\code\\acme\\api\n"})
    assert json.loads(wa.tokenize(line, JSON)) == {"stdout": "dir\n${PROJECT_ROOT}\n"}


def test_windows_path_followed_by_json_escaped_newline_is_rewritten():
    # "\\x\n" is the component x and a newline, not a component "xn".
    line = json.dumps({"stdout": "C:\\Users\\a\nnext"})
    assert json.loads(wa.tokenize(line, JSON)) == {"stdout": "${HOME}\nnext"}


def test_windows_components_are_case_sensitive():
    # Only the drive letter is matched case-insensitively (see docs: known limits).
    assert wa.tokenize("C:\\users\\A", RAW) == "C:\\users\\A"


# ---------------------------------------------------------------------------
# Across devices and flavours
# ---------------------------------------------------------------------------


def test_posix_to_posix_puts_the_receiving_devices_paths():
    carried = pa.tokenize("cd /home/a/code/acme/api && cat /home/a/code/x /home/a/.rc ${HOME}", RAW)
    assert pb.detokenize(carried, RAW) == "cd /Users/b/work/acme/api && cat /Users/b/work/x /Users/b/.rc ${HOME}"


def test_windows_to_posix_converts_separators_after_the_token():
    carried = wa.tokenize(j("C:\\Users\\a\\code\\acme\\api\\src\\a.py"), JSON)
    assert carried == "${PROJECT_ROOT}\\\\src\\\\a.py"
    assert pb.detokenize(carried, JSON, source=WINDOWS) == "/Users/b/work/acme/api/src/a.py"
    carried = wa.tokenize("C:\\Users\\a\\code\\acme\\api\\src\\a.py", RAW)
    assert pb.detokenize(carried, RAW, source=WINDOWS) == "/Users/b/work/acme/api/src/a.py"


def test_posix_to_windows_uses_backslashes_json_escaped_in_json():
    carried = pa.tokenize("/home/a/code/acme/api/src/a.py", JSON)
    assert wb.detokenize(carried, JSON, source=POSIX) == j("D:\\Users\\b\\work\\acme\\api\\src\\a.py")
    assert wb.detokenize(carried, RAW, source=POSIX) == "D:\\Users\\b\\work\\acme\\api\\src\\a.py"


def test_windows_variant_spelling_is_dropped_on_posix():
    carried = wa.tokenize("c:/Users/a/code/x/y.txt", RAW)
    assert pb.detokenize(carried, RAW, source=WINDOWS) == "/Users/b/work/x/y.txt"


def test_windows_variant_drive_case_and_uniform_separators_carry_to_another_windows_device():
    carried = wa.tokenize("c:/Users/a/code/x", RAW)
    assert wb.detokenize(carried, RAW) == "d:/Users/b/work/x"
    # Mixed separators cannot be mapped onto a path of another depth: canonical ones are used.
    carried = wa.tokenize("C:/Users\\a", RAW)
    other = PathTokens({"HOME": "E:\\home"}, WINDOWS)
    assert other.detokenize(carried, RAW) == "E:\\home"


def test_cross_flavour_tail_keeps_directories_with_spaces_together():
    carried = wa.tokenize(j("C:\\Users\\a\\OneDrive - Acme\\My Docs\\f.txt"), JSON)
    assert pb.detokenize(carried, JSON, source=WINDOWS) == "/Users/b/OneDrive - Acme/My Docs/f.txt"


def test_posix_tail_stops_at_a_space():
    # "/" is common in prose ("and/or"), so a POSIX tail never runs past a space.
    carried = pa.tokenize("see /home/a/code/acme/api/src and/or docs", RAW)
    assert wb.detokenize(carried, RAW, source=POSIX) == "see D:\\Users\\b\\work\\acme\\api\\src and/or docs"


def test_cross_flavour_tail_stops_at_the_end_of_the_path():
    carried = wa.tokenize("type C:\\Users\\a\\x.txt, then C:\\Windows\\y", RAW)
    assert pb.detokenize(carried, RAW, source=WINDOWS) == "type /Users/b/x.txt, then C:\\Windows\\y"


def test_cross_flavour_keeps_literal_token_text():
    carried = wa.tokenize("set X=${HOME}\\x & echo ${$} C:\\Users\\a", RAW)
    assert pb.detokenize(carried, RAW, source=WINDOWS) == "set X=${HOME}\\x & echo ${$} /Users/b"


def test_token_this_device_has_no_path_for_is_an_error():
    with pytest.raises(KeyError):
        PathTokens({"HOME": "/home/b"}, POSIX).detokenize("${PROJECT_ROOT}/x", RAW)


# ---------------------------------------------------------------------------
# Construction and helpers
# ---------------------------------------------------------------------------


def test_unknown_token_name_is_refused():
    with pytest.raises(ValueError):
        PathTokens({"TMP": "/tmp"}, POSIX)


@pytest.mark.parametrize(("path", "flavour"), [("/", POSIX), ("C:\\", WINDOWS), ("c:/", WINDOWS)])
def test_filesystem_root_is_refused(path, flavour):
    with pytest.raises(ValueError):
        PathTokens({"HOME": path}, flavour)


@pytest.mark.parametrize(("path", "flavour"), [("home/a", POSIX), ("C:Users", WINDOWS), ("\\Users", WINDOWS)])
def test_relative_path_is_refused(path, flavour):
    with pytest.raises(ValueError):
        split_path(path, flavour)


def test_split_path_normalises_drive_and_separators():
    assert split_path("c:/Users\\\\a/", WINDOWS) == ("C", ["Users", "a"])
    assert split_path("/home//a/", POSIX) == ("", ["home", "a"])


def test_json_escape_matches_json_dumps():
    assert json_escape('C:\\a "b"\n') == 'C:\\\\a \\"b\\"\\n'


def test_tokens_in_lists_path_tokens_but_not_escapes():
    assert pa.tokens_in(pa.tokenize("/home/a ${PROJECT_ROOT} /home/a/code", RAW)) == {"HOME", "PROJECTS_ROOT"}


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

FLAVOURS = [POSIX, WINDOWS]
CONTEXTS = [JSON, RAW]
ADVERSARIAL = [
    "$", "$$", "{", "}", "|", "${", "${$", "${$}", "${$|", "HOME", "PROJECT_ROOT", "PROJECTS_ROOT",
    "${HOME}", "${PROJECT_ROOT}", "${PROJECTS_ROOT}", "${HOME|", "${HOME|C:\\}", "${HOME|c:/\\\\}",
    "}}", "/", "\\", "\\\\", "\\n", "\\\\n", "\n", ".", "..", "-", "_", "~", "=", "@", ":", ";", ",",
    " ", '"', "'", "(", ")", "a", "x", "2", "é", "😀", "C", "c", "C:", "c:", "file://", "\\?\\",
]  # fmt: skip


def spellings(path: str, flavour: Flavour, ctx: Context) -> st.SearchStrategy[str]:
    """The path as text could hold it: on Windows any drive case and separators."""
    if flavour is POSIX:
        return st.just(j(path) if ctx is JSON else path)
    drive, comps = split_path(path, flavour)
    seps = ["\\\\", "/"] if ctx is JSON else ["\\", "/"]
    return st.tuples(
        st.sampled_from([drive.upper(), drive.lower()]),
        st.lists(st.sampled_from(seps), min_size=len(comps), max_size=len(comps)),
    ).map(lambda t: t[0] + ":" + "".join(s + (j(c) if ctx is JSON else c) for s, c in zip(t[1], comps)))


def adversarial_text(flavour: Flavour, ctx: Context, paths: list[str]) -> st.SearchStrategy[str]:
    piece = st.one_of(
        st.sampled_from(ADVERSARIAL),
        *[spellings(p, flavour, ctx) for p in paths],
        st.text(max_size=3),
    )
    return st.lists(piece, max_size=30).map("".join)


def all_paths(flavour: Flavour) -> list[str]:
    a, b = DEVICES[flavour]
    extra = (
        ["/home/a/code/acme/api2", "/x/home/a", "/home/ab"]
        if flavour is POSIX
        else ["C:\\Users\\a\\code\\acme\\api2", "D:\\Users\\a", "C:\\Users\\ab"]
    )
    return [*a.values(), *b.values(), *extra]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("ctx", CONTEXTS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_same_device_round_trip_is_exact(flavour, ctx, data):
    tokens = PathTokens(DEVICES[flavour][0], flavour)
    text = data.draw(adversarial_text(flavour, ctx, all_paths(flavour)))
    roundtrip(tokens, text, ctx)


def _outcome(f):  # type: ignore[no-untyped-def]
    try:
        return f()
    except KeyError as e:
        return ("refused", e.args)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("source", FLAVOURS)
@pytest.mark.parametrize("ctx", CONTEXTS)
@pytest.mark.parametrize("bundle_format", [1, 2])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_bytes_detokenize_is_the_text_one(flavour, source, ctx, bundle_format, data):
    """What a pull writes (detokenize_bytes over UTF-8) is what detokenize gives for the decoded text,
    for any text a remote may send: tokens, variants, escapes and broken ones, in any order."""
    tokens = PathTokens(DEVICES[flavour][1], flavour)
    text = data.draw(adversarial_text(source, ctx, all_paths(source)))
    want = _outcome(lambda: tokens.detokenize(text, ctx, source, bundle_format).encode("utf-8"))
    assert _outcome(lambda: tokens.detokenize_bytes(text.encode("utf-8"), ctx, source, bundle_format)) == want


def device_component(flavour: Flavour) -> st.SearchStrategy[str]:
    forbidden = "/\x00" if flavour is POSIX else "/\\\x00"
    alphabet = st.sampled_from(list("aZ9.-_ ${}|é~@=\\:") + ["😀"]).filter(lambda ch: ch not in forbidden)
    return st.text(alphabet, min_size=1, max_size=4)


@st.composite
def random_device(draw, flavour: Flavour) -> dict[str, str]:
    """Three nested paths (project under projects root under home) with odd characters."""
    comps = draw(st.lists(device_component(flavour), min_size=3, max_size=5))
    head = "/" if flavour is POSIX else draw(st.sampled_from("CcZ")) + ":\\"
    sep = "/" if flavour is POSIX else "\\"
    return {
        "HOME": head + comps[0],
        "PROJECTS_ROOT": head + sep.join(comps[:2]),
        "PROJECT_ROOT": head + sep.join(comps),
    }


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("ctx", CONTEXTS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_round_trip_is_exact_for_odd_device_paths(flavour, ctx, data):
    paths = data.draw(random_device(flavour))
    tokens = PathTokens(paths, flavour)
    text = data.draw(adversarial_text(flavour, ctx, list(paths.values())))
    roundtrip(tokens, text, ctx)


def blocks_before(flavour: Flavour, ctx: Context, left: str, before: str) -> bool:
    """The boundary rule, restated: does `left` (ending with the piece `before`) keep a path after it from matching?"""
    if before == "" or (ctx is JSON and before in ("\\n", "\\t")) or before.isspace():
        return False
    if flavour is POSIX and re.search(r"(?:^|[^\w.~+%/-])-[A-Za-z]$", left):
        return False  # a one-letter option: -I/home/a
    chars = ".-~+%/" if flavour is POSIX else ".-~+%"
    return bool(re.match(r"\w", before[-1])) or before[-1] in chars


def continues_after(right: str) -> bool:
    return bool(re.match(r"\w|[.\-~+@%=]+\w", right))


BEFORE = ["", " ", '"', "(", "=", ":", "@", "'", "<", "\\n", "\\t", "x", "é", "0", "_", ".", "-", "~", "/", "+"]
AFTER = ["", " ", '"', ")", ",", ":", ";", ".", "..", ".x", "-2", "_", "x", "é", "0", "\\n", "'", "~", "@a", "=1", "%"]
FILLER = st.lists(st.sampled_from(list("ab .,;:()'\"=@-_~0é{}|") + ["\\n", "\\t", "${"]), max_size=6).map("".join)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("ctx", CONTEXTS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_property_only_whole_components_are_rewritten(flavour, ctx, data):
    device = DEVICES[flavour][0]
    tokens = PathTokens(device, flavour)
    name = data.draw(st.sampled_from(sorted(device)))
    path = data.draw(spellings(device[name], flavour, ctx))
    before, after = data.draw(st.sampled_from(BEFORE)), data.draw(st.sampled_from(AFTER))
    left = data.draw(FILLER) + before if before else ""
    right = after + data.draw(FILLER) if after else ""
    if ctx is RAW:  # JSON escapes become the characters themselves
        left, right, before = (x.replace("\\n", "\n").replace("\\t", "\t") for x in (left, right, before))
    text = left + path + right
    out = tokens.tokenize(text, ctx)
    assert tokens.detokenize(out, ctx) == text
    if blocks_before(flavour, ctx, left, before):
        assert out == text
    elif continues_after(right):
        assert "${" + name + "}" not in out and "${" + name + "|" not in out
    else:
        canonical = path == (j(device[name]) if ctx is JSON else device[name])
        assert out.startswith(left + ("${" + name + "}" if canonical else "${" + name + "|"))
        assert out.endswith("}" + right)


def literal_segment(no_backslash: bool = False) -> st.SearchStrategy[str]:
    """Text with no path in it: token look-alikes, dollars, braces, words.

    `no_backslash`: after a Windows path and a space, "word\\" would read as
    the next directory of that path (see docs: directories with spaces).
    """
    pieces = [p for p in ADVERSARIAL if "/" not in p and not (no_backslash and "\\" in p)]
    return st.lists(st.sampled_from(pieces), min_size=1, max_size=5).map("".join)


@pytest.mark.parametrize("source", FLAVOURS)
@pytest.mark.parametrize("target", FLAVOURS)
@pytest.mark.parametrize("ctx", CONTEXTS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_property_cross_device_swaps_paths_and_keeps_literal_text(source, target, ctx, data):
    a = DEVICES[source][0]
    b = DEVICES[target][1]
    ta, tb = PathTokens(a, source), PathTokens(b, target)
    enc = (lambda s: j(s)) if ctx is JSON else (lambda s: s)
    a_sep, b_sep = ("/" if source is POSIX else "\\"), ("/" if target is POSIX else "\\")
    # Directories with spaces are kept together only in Windows paths (see docs).
    components = ["src", "a.py", "x y"] if source is WINDOWS else ["src", "a.py"]
    segments = data.draw(
        st.lists(
            st.one_of(
                literal_segment(no_backslash=source is WINDOWS).map(lambda s: (s, s)),
                st.tuples(st.sampled_from(sorted(a)), st.lists(st.sampled_from(components), max_size=2)).map(
                    lambda t: (
                        enc(a[t[0]] + "".join(a_sep + c for c in t[1])),
                        enc(b[t[0]] + "".join(b_sep + c for c in t[1])),
                    )
                ),
            ),
            max_size=8,
        )
    )
    text = " ".join(s for s, _ in segments)
    expected = " ".join(e for _, e in segments)
    out = tb.detokenize(ta.tokenize(text, ctx), ctx, source=source)
    assert out == expected
    home_a = enc(a["HOME"])
    assert home_a not in out


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("ctx", CONTEXTS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_property_cross_device_leaves_no_trace_of_any_spelling(flavour, ctx, data):
    a, b = DEVICES[flavour]
    ta, tb = PathTokens(a, flavour), PathTokens(b, flavour)
    parts = data.draw(
        st.lists(st.one_of(literal_segment(), *[spellings(p, flavour, ctx) for p in a.values()]), max_size=8)
    )
    out = tb.detokenize(ta.tokenize(" ".join(parts), ctx), ctx)
    for trace in ["/home/a", "Users\\a", "Users/a", "Users\\\\a"]:
        assert trace not in out
    # Each of A's paths became one of B's (in the spelling the variant asked for).
    paths = [p for p in parts if "Users" in p or "/home/a" in p]
    assert len(re.findall(r"Users(?:\\\\|\\|/)b", out)) == len(paths)


# -- tokenize() finds exactly the matches of its pattern ----------------------
# tokenize() looks for the literal starts of its alternatives with str.find and
# tries the pattern only there. Whatever the text, that must replace exactly
# what the pattern's own sub() replaces: leftmost, non-overlapping, the same
# alternative. Each configuration puts leads inside one another (a folder that
# is a path component, a path holding "${", a folder that starts like a path).

SCAN_CONFIGS = [
    (POSIX, POSIX_A, "-home-a-code-acme-api", "api"),
    (POSIX, {"HOME": "/home/home", "PROJECT_ROOT": "/home/home/home"}, "home", "home-2"),
    (POSIX, {"HOME": "/home/${HOME}", "PROJECT_ROOT": "/home/${HOME}/p{$}|"}, "p{$}|", None),
    (POSIX, {"HOME": "/home/zoë", "PROJECT_ROOT": "/home/zoë/代码/app"}, "app", "代码"),
    (WINDOWS, WIN_A, "C--Users-a-code-acme-api", "api"),
    (WINDOWS, {"HOME": "c:\\Users\\c", "PROJECT_ROOT": "C:\\Users\\c\\C"}, "C", "c"),
]
SCAN_FRAGMENTS = [
    "/", "\\", "\\\\", "\\\\\\\\", ":", "$", "{", "}", "|", "${", "${HOME}", "${$}", "${PROJECT_FOLDER|",
    "-", ".", "~", "+", "@", "%", "=", "_", "a", "Z", "9", "é", "代", " ", "\n", "\"", "'",
    "\\n", "\\u001b[1;34m", "\x1b[0m", "file://", "FILE://", "-I", "--dir=", "C:", "c:", "D:",
    "home", "Users", "code", "acme", "api", "app", "zoë", "代码", "p{$}|",
]


@pytest.mark.parametrize("config", SCAN_CONFIGS, ids=lambda c: f"{c[0].value}-{c[2]}")
@pytest.mark.parametrize("ctx", CONTEXTS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_tokenize_replaces_what_its_pattern_matches(config, ctx, data):
    from claude_sync.format import tokens as tokens_module

    flavour, paths, project_folder, repo_folder = config
    tokens = PathTokens(paths, flavour, project_folder=project_folder, repo_folder=repo_folder)
    spelled = [
        (json_escape(d + p[1:]) if ctx is JSON else d + p[1:]).replace("\\\\" if ctx is JSON else "\\", sep)
        for p in paths.values()
        for d in {p[0], p[0].lower()}  # on Windows, the drive letter in either case
        for sep in (["/", "\\\\" if ctx is JSON else "\\"] if flavour is WINDOWS else ["/"])
    ]
    fragment = st.one_of(st.sampled_from(SCAN_FRAGMENTS + spelled), st.text(max_size=3))
    text = "".join(data.draw(st.lists(fragment, max_size=30)))
    fast = tokens.tokenize(text, ctx)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(tokens_module._Scanner, "sub", lambda self, repl, text: self.pattern.sub(repl, text))
        reference = tokens.tokenize(text, ctx)
    assert fast == reference
