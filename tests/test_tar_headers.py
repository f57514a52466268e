"""tarheaders.canonical_members reads the tars this tool writes without tarfile, and any other
archive is read by tarfile as before: the two give the same members, or the same refusal, for
every archive tried here, including a host's damaged and hostile ones."""

from __future__ import annotations

import gzip
import io
import random
import tarfile

import pytest

from claude_sync.format import bundle as bundle_mod
from claude_sync.format.bundle import Bundle, Manifest, _add, _tar_members, _tarfile_members
from claude_sync.format.errors import BundleError
from claude_sync.format.tarheaders import BLOCK, canonical_members
from claude_sync.server.streamed_delta import _member

SID = "0b3c6c3e-4f6d-4a39-9d0e-5c1b2a3d4e5f"
LIMIT = 1024**3


def _archive(members: list[tuple[str, bytes]], **kwargs: object) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=kwargs.pop("format", tarfile.GNU_FORMAT)) as tar:  # type: ignore[call-overload]
        for name, data in members:
            _add(tar, name, data)
    return out.getvalue()


BASE = [
    ("manifest.json", b'{"format": 1}'),
    ("files/transcript.jsonl", b'{"type":"user"}\n' * 64),
    ("files/tasks/1.json", b""),
    ("files/file-history/abcd@v1", b"x" * BLOCK),
]


def _outcome(read, tar: bytes) -> object:  # type: ignore[no-untyped-def]
    try:
        return [(name, bytes(data)) for name, data in read(tar, LIMIT)]
    except BundleError as e:
        return ("refused", str(e))


def _same(tar: bytes) -> object:
    ours, theirs = _outcome(_tar_members, tar), _outcome(_tarfile_members, tar)
    assert ours == theirs
    return ours


def _headers(tar: bytes) -> list[int]:
    return [m.offset for m in tarfile.open(fileobj=io.BytesIO(tar), mode="r:").getmembers()]


def _with_checksum(header: bytearray) -> None:
    header[148:156] = b"        "
    header[148:156] = b"%06o\x00 " % sum(header)


def test_a_bundle_this_tool_writes_is_read_without_tarfile() -> None:
    manifest = Manifest(session_id=SID, project_key="acme/api", device="alpha", last_modified="2026-11-01T00:00:00Z")
    tar = gzip.decompress(Bundle.build(manifest, {"transcript.jsonl": b'{"a":1}\n', "tasks/1.json": b"[]"}).to_bytes())
    members = canonical_members(tar, 1024**2)
    assert members is not None
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        assert members == [(m.name, m.offset_data, m.size) for m in archive.getmembers()]
    _same(tar)


def test_the_servers_rebuilt_bundles_have_the_same_headers() -> None:
    # streamed_delta rebuilds bundles from deltas with its own TarInfo: the same bytes as _add's.
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_member("files/a.jsonl", 3), io.BytesIO(b"{}\n"))
    assert out.getvalue() == _archive([("files/a.jsonl", b"{}\n")])
    assert canonical_members(out.getvalue(), 1024**2) == [("files/a.jsonl", BLOCK, 3)]


@pytest.mark.parametrize(
    "tar",
    [
        pytest.param(_archive([("files/" + "n" * 120, b"{}")]), id="long name (GNU longname member)"),
        pytest.param(_archive(BASE, format=tarfile.PAX_FORMAT), id="pax format"),
        pytest.param(_archive([("files/" + "d/" * 60 + "f", b"{}")], format=tarfile.USTAR_FORMAT), id="ustar prefix"),
        pytest.param(_archive([("files/" + "n" * 94, b"{}")]), id="name of exactly 100 bytes"),
        pytest.param(_archive([("files/é.txt", b"{}")]), id="UTF-8 name"),
        pytest.param(_archive(BASE)[: -2 * 10240 + BLOCK * 6], id="no end-of-archive block"),
        pytest.param(_archive(BASE)[: BLOCK * 2 + 100], id="member data cut short"),
        pytest.param(_archive(BASE) + b"\x01" * 2 * 1024**2, id="data after the end"),
        pytest.param(_archive(BASE) + b"\x01" * 1000, id="a little data after the end"),
        pytest.param(_archive([("files/a", b"1"), ("files/a", b"2")]), id="a member twice"),
        pytest.param(_archive([("../../etc/passwd", b"x")]), id="a path out of the bundle"),
        pytest.param(b"", id="empty"),
        pytest.param(bytes(BLOCK * 2), id="only zero blocks"),
    ],
)
def test_archives_not_written_this_way_are_read_as_tarfile_reads_them(tar: bytes) -> None:
    _same(tar)


def test_a_directory_a_link_or_a_device_is_refused_as_before() -> None:
    for kind in (tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.AREGTYPE):
        tar = bytearray(_archive(BASE))
        tar[156] = kind[0]
        _with_checksum(tar)  # the first header only
        assert canonical_members(bytes(tar), 1024**2) is None
        _same(bytes(tar))


def test_a_size_in_base_256_past_any_file_is_refused_not_a_crash() -> None:
    # tarfile reads an 8-byte size field starting with 0x80 as a base-256 number: a host's huge one
    # made it seek past what a C integer holds (OverflowError, not a refusal) before this test.
    tar = bytearray(_archive(BASE))
    second = _headers(bytes(tar))[1]
    header = tar[second : second + BLOCK]
    header[124:136] = b"\x80" + (2**80).to_bytes(11, "big")
    _with_checksum(header)
    tar[second : second + BLOCK] = header
    assert _same(bytes(tar))[0] == "refused"
    with pytest.raises(BundleError):
        Bundle.from_bytes(gzip.compress(bytes(tar)), None)
    with pytest.raises(BundleError), bundle_mod._malformed_as_bundle_error():
        for _name, f in bundle_mod._streamed_members(io.BytesIO(gzip.compress(bytes(tar))), LIMIT):
            f.read()


def test_a_negative_size_is_refused() -> None:
    # 0xff starts a negative base-256 number: a member "ending" before it starts, which made tarfile
    # seek back to a header it had read (or, far enough, crash) before this test.
    for size in (-1, -BLOCK, -2 * BLOCK, -(2**70)):
        tar = bytearray(_archive(BASE))
        second = _headers(bytes(tar))[1]
        header = tar[second : second + BLOCK]
        header[124:136] = size.to_bytes(12, "big", signed=True)
        header[124] = 0xFF
        _with_checksum(header)
        tar[second : second + BLOCK] = header
        outcome = _same(bytes(tar))
        assert outcome[0] == "refused" and "negative" in str(outcome[1])


def test_a_non_utf8_name_is_left_to_tarfile() -> None:
    tar = bytearray(_archive([("files/ab.txt", b"{}")]))
    tar[6] = 0xFF
    _with_checksum(tar)
    assert canonical_members(bytes(tar), 1024**2) is None
    assert _same(bytes(tar))[0] == "refused"


@pytest.mark.parametrize("fix_checksum", [False, True])
def test_every_byte_of_every_header_changed_reads_as_tarfile_reads_it(fix_checksum: bool) -> None:
    # Each header byte set to values a hostile or broken host might put there, with the checksum
    # left as it was (a damaged archive) or made right again (a forged one).
    base = _archive(BASE)
    values = [0x00, 0x20, ord("7"), ord("8"), 0x80, 0xFF]
    fast = 0
    for offset in _headers(base):
        for i in range(BLOCK):
            for value in values:
                if base[offset + i] == value:
                    continue
                tar = bytearray(base)
                tar[offset + i] = value
                if fix_checksum and not 148 <= i < 156:
                    header = tar[offset : offset + BLOCK]
                    _with_checksum(header)
                    tar[offset : offset + BLOCK] = header
                fast += canonical_members(bytes(tar), bundle_mod._MAX_TRAILER) is not None
                _same(bytes(tar))
    if fix_checksum:
        assert fast > 0  # some changes (a name's byte) keep a header canonical: those were compared too


def test_random_damage_reads_as_tarfile_reads_it() -> None:
    rng = random.Random(20261206)
    base = _archive(BASE)
    for _ in range(3000):
        tar = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            tar[rng.randrange(len(tar))] = rng.randrange(256)
        if rng.random() < 0.5:
            for offset in range(0, len(tar) - BLOCK + 1, BLOCK):
                header = tar[offset : offset + BLOCK]
                if header[257:265] == b"ustar  \x00":
                    _with_checksum(header)
                    tar[offset : offset + BLOCK] = header
        _same(bytes(tar[: rng.choice([len(tar), rng.randrange(len(tar) + 1)])]))
