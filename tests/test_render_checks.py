"""render()'s last check before the disk: a text file that is not UTF-8 is never written.

A bundle read from a remote was checked as it streamed in (Bundle.text_checked) and is not decoded
again; one built another way (a delta applied, bundle fields set by hand) is checked by render itself."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from claude_sync import portable
from claude_sync.format import tokens as tokens_module
from claude_sync.format.bundle import Bundle, FileEntry, Manifest, Spilled
from claude_sync.format.errors import BundleError
from claude_sync.format.tokens import Context, Flavour, PathTokens
from claude_sync.portable import render
from claude_sync.project import DeviceLayout

SID = "6f1e2c44-7a7b-4c56-9d0e-0a1b2c3d4e5f"
GOOD = (json.dumps({"cwd": "${PROJECT_ROOT}", "t": "é"}) + "\n").encode()
BAD = b'{"t":"\xff"}\n'


def layout(tmp_path: Path) -> DeviceLayout:
    return DeviceLayout(projects_root=str(tmp_path / "code"), home=str(tmp_path), flavour=Flavour.POSIX)


def manifest(key: str = "acme/api", files: dict[str, bytes] | None = None) -> Manifest:
    entries = [
        FileEntry(path=n, size=len(d), sha256=hashlib.sha256(d).hexdigest(), text=True) for n, d in (files or {}).items()
    ]
    return Manifest(session_id=SID, project_key=key, device="a", files=entries)


def test_a_built_bundle_is_marked_checked_and_renders_without_decoding_again(tmp_path: Path) -> None:
    bundle = Bundle.build(manifest(), {"transcript.jsonl": GOOD})
    assert bundle.text_checked and bundle.in_memory().text_checked
    _cwd, files = render(bundle, layout(tmp_path))
    assert json.loads(files["transcript.jsonl"])["t"] == "é"


def test_a_bundle_read_from_bytes_is_marked_checked() -> None:
    # What the HTTP backend fetches: from_bytes checked every file against its manifest and its content.
    data = Bundle.build(manifest(), {"transcript.jsonl": GOOD}).to_bytes()
    assert Bundle.from_bytes(data, None).text_checked


def test_build_refuses_text_that_is_not_utf8() -> None:
    with pytest.raises(BundleError, match="not a JSON record"):
        Bundle.build(manifest(), {"transcript.jsonl": BAD})


def test_a_sealed_bundle_is_not_marked_checked() -> None:
    # Its files are ciphertext: nothing was checked, and it is unsealed (and checked) before render.
    assert not Bundle.build(manifest("e2e/abc"), {"transcript.jsonl": b"\x00\xff"}, {"transcript.jsonl"}).text_checked


def test_a_bundle_built_by_hand_with_text_that_is_not_utf8_is_refused_by_render(tmp_path: Path) -> None:
    files = {"transcript.jsonl": GOOD, "tasks/1.json": b'{"a":"\xff"}'}
    bundle = Bundle(manifest(files=files), files)  # as delta.apply and merges make them: no check ran
    assert not bundle.text_checked
    with pytest.raises(BundleError, match=r"'tasks/1.json' is marked as text but is not UTF-8.*nothing was written"):
        render(bundle, layout(tmp_path))


def test_a_spilled_file_built_by_hand_that_is_not_utf8_is_refused_by_render(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.write_bytes(GOOD + BAD)
    big = Spilled(spill, spill.stat().st_size, hashlib.sha256(spill.read_bytes()).hexdigest())
    bundle = Bundle(manifest(files={"transcript.jsonl": GOOD + BAD}), {"transcript.jsonl": big})  # type: ignore[dict-item]
    with pytest.raises(BundleError, match="is marked as text but is not UTF-8"):
        render(bundle, layout(tmp_path))


# -- the branch a session last ran on: searched from the end of its transcript -----------------

_BRANCH_VALUES = st.one_of(
    st.text(alphabet=st.sampled_from('ab/-_.é"\\\n 😀'), min_size=0, max_size=8),
    st.text(alphabet="x", min_size=250, max_size=260),  # around the longest branch name read
)
_RECORDS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("user"), "gitBranch": _BRANCH_VALUES}),
        st.fixed_dictionaries({"message": st.fixed_dictionaries({"gitBranch": _BRANCH_VALUES})}),  # nested
        st.fixed_dictionaries({"text": st.just('"gitBranch":"inside a string"')}),
        st.fixed_dictionaries({"type": st.just("summary")}),
    ),
    max_size=12,
)


def _last_branch_forward(data: bytes) -> str | None:
    """The reference: the last match scanning forward over the whole tail."""
    found = None
    for m in portable._BRANCH_RE.finditer(data[-portable._BRANCH_TAIL :]):
        found = m
    if found is None:
        return None
    try:
        return json.loads(b'"' + found.group(1) + b'"') or None
    except ValueError:
        return None


@settings(max_examples=300, deadline=None)
@given(records=_RECORDS, spaced=st.booleans(), tail=st.integers(min_value=1, max_value=400))
def test_the_branch_searched_from_the_end_is_the_last_one_in_the_transcript(records, spaced, tail) -> None:
    sep = (", ", ": ") if spaced else (",", ":")
    data = b"".join((json.dumps(r, separators=sep, ensure_ascii=False) + "\n").encode() for r in records)
    bundle = Bundle(manifest(), {"transcript.jsonl": data})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(portable, "_BRANCH_TAIL", tail)
        assert portable.session_branch(bundle) == _last_branch_forward(data)
    assert portable.session_branch(bundle) == _last_branch_forward(data)


# -- a large file rendered a piece at a time: the same bytes as rendered whole -----------------

_PIECES = [
    "${PROJECT_ROOT}", "${HOME}", "${PROJECTS_ROOT}", "${$}", "${$}{HOME}", "${PROJECT_ROOT}/src/a.py",
    "${HOME}\\\\x\\\\y z", "${HOME}\\x\\y", "$", "{", "}", "${", "$x", "/", "\\", " ", "\"", "é", "中", "😀",
    "abc", "x" * 40, "\n", "${HOME|C:\\}", "${HOME|c:/\\\\}", "${HOME|x", "${HOME}\\\\My Docs\\\\f",
    "${HOME}\\My Docs\\f", "'", ",", ":", ";", "(", ")", "\t", "|",
]
_TARGETS = {
    Flavour.POSIX: {"HOME": "/Users/b", "PROJECTS_ROOT": "/Users/b/work", "PROJECT_ROOT": "/Users/b/work/acme/api"},
    Flavour.WINDOWS: {"HOME": "D:\\Users\\b", "PROJECTS_ROOT": "D:\\Users\\b\\work", "PROJECT_ROOT": "D:\\Users\\b\\work\\acme\\api"},
}


@settings(max_examples=300, deadline=None)
# A token's variant is a drive and separators (docs/path-tokens.md): "${$|" is text, so the token after
# it is one; read as a variant running to the next "}", it was a token a cut could fall inside.
@example(pieces=["${", "$", "|", "${PROJECT_ROOT}"], newlines=False, batch=1, target=Flavour.POSIX,
         source=Flavour.POSIX, ctx=Context.JSON)
# A token's variant is a drive and separators (docs/path-tokens.md): "${$|" is text, so the token after
# it is one; read as a variant running to the next "}", it was a token a cut could fall inside.
@example(pieces=["${", "$", "|", "${PROJECT_ROOT}"], newlines=False, batch=1, target=Flavour.POSIX,
         source=Flavour.POSIX, ctx=Context.JSON)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=120),
    newlines=st.booleans(),
    batch=st.integers(1, 50),
    target=st.sampled_from(list(Flavour)),
    source=st.sampled_from(list(Flavour)),
    ctx=st.sampled_from(list(Context)),
)
def test_a_spilled_file_renders_a_piece_at_a_time_as_it_renders_whole(pieces, newlines, batch, target, source, ctx, tmp_path_factory) -> None:
    """_render_spilled cuts a file where PathTokens.safe_cut says (after a newline, before a token, or
    in text without one), with batches and a margin this small for the cuts to fall everywhere."""
    data = "".join(p for p in pieces if newlines or p != "\n").encode("utf-8")
    tokens = PathTokens(_TARGETS[target], target)
    whole = tokens.detokenize_bytes(data, ctx, source)
    spill = tmp_path_factory.mktemp("spill") / "f"
    spill.write_bytes(data)
    saved = portable._RENDER_BATCH, tokens_module._CUT_MARGIN
    portable._RENDER_BATCH, tokens_module._CUT_MARGIN = batch, 64
    try:
        out = portable._render_spilled(Spilled(spill, len(data), ""), tokens, ctx, (source, 6), checked=False)
    finally:
        portable._RENDER_BATCH, tokens_module._CUT_MARGIN = saved
    assert out.path.read_bytes() == whole
    assert out.size == len(whole) and out.sha256 == hashlib.sha256(whole).hexdigest()


def _render_long_line(line: bytes, tokens: PathTokens, ctx: Context, source: Flavour, folder: Path) -> tuple[Spilled, int]:
    """_render_spilled of `line`, and the most it carried from one batch to the next."""
    spill = folder / "f"
    spill.write_bytes(line)
    carried: list[int] = []
    real = tokens.safe_cut

    def watched(data: bytes, *args: object) -> int:
        cut = real(data, *args)  # type: ignore[arg-type]
        carried.append(len(data) - cut)
        return cut

    tokens.safe_cut = watched  # type: ignore[method-assign]
    out = portable._render_spilled(Spilled(spill, len(line), ""), tokens, ctx, (source, 6), checked=True)
    return out, max(carried)


def test_a_long_line_without_newlines_is_rendered_in_bounded_pieces(tmp_path: Path) -> None:
    """A 64 MB line (a minified file, zeros): what is carried from one batch to the next stays small."""
    tokens = PathTokens(_TARGETS[Flavour.POSIX], Flavour.POSIX)
    line = (b"x" * 1000 + b"${PROJECT_ROOT}/a ") * (64 * 1024 * 1024 // 1018)
    out, carried = _render_long_line(line, tokens, Context.RAW, Flavour.POSIX, tmp_path)
    assert carried < 2 * 1024  # the tokens are a kilobyte apart
    assert out.size == len(line.replace(b"${PROJECT_ROOT}", b"/Users/b/work/acme/api"))


@pytest.mark.parametrize("source", list(Flavour))
def test_a_long_line_is_rendered_in_bounded_pieces_across_flavours_too(source: Flavour, tmp_path: Path) -> None:
    """Across flavours the path after a token is converted too, so a cut must not fall inside it: it
    falls before a character no path holds (a quote ends a JSON string). A 60 MB JSON line with a token
    every 20 MB is not carried whole from batch to batch (it was: 20 MB and more)."""
    target = Flavour.WINDOWS if source is Flavour.POSIX else Flavour.POSIX
    tokens = PathTokens(_TARGETS[target], target)
    path = b"${PROJECT_ROOT}\\\\src\\\\a.py" if source is Flavour.WINDOWS else b"${PROJECT_ROOT}/src/a.py"
    piece = b'"' + path + b'",' + (b'"' + b"x" * 1000 + b'",') * 20_000
    line = b"[" + piece * 3 + b'""]'
    out, carried = _render_long_line(line, tokens, Context.JSON, source, tmp_path)
    assert carried < 4 * 1024
    expected = b"[" + tokens.detokenize_bytes(piece, Context.JSON, source) * 3 + b'""]'
    assert b"src" in expected and path not in expected
    assert out.size == len(expected) and out.sha256 == hashlib.sha256(expected).hexdigest()
