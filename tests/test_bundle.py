"""Bundles: deterministic, verified, and refused whole when anything is off."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from claude_sync.format import bundle as bundle_module
from claude_sync.format.bundle import Bundle, Manifest, sha256, verify_file
from claude_sync.format.errors import BundleError

SID = "0b7f3c1e-1111-4222-8333-944455556666"


def make(files: dict[str, bytes] | None = None) -> Bundle:
    files = files or {
        "transcript.jsonl": b'{"cwd":"${PROJECT_ROOT}"}\n',
        "session/subagents/agent-1.jsonl": b"{}\n",
        "file-history/abcd@v1": b"\x00\xffbinary",
        "tasks/1.json": b'{"id":"1"}',
    }
    m = Manifest(session_id=SID, project_key="acme/api", device="alpha", last_modified="2026-11-01T00:00:00Z")
    return Bundle.build(m, files, {"file-history/abcd@v1"})


def raw_tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    info.linkname = "/etc/passwd"
    return info, None


@pytest.fixture(params=["from_bytes in memory", "from_bytes streaming", "verify_file in memory", "verify_file streaming"])
def read(request, tmp_path, monkeypatch):
    """Each way a bundle is read and verified: the client's from_bytes and the server's verify_file,
    each on both of its paths (in memory for small bundles, streamed for large ones). All must agree."""

    def from_bytes(data: bytes, expected: str | None, **kw) -> Manifest:
        return Bundle.from_bytes(data, expected, **kw).manifest

    def from_file(data: bytes, expected: str | None, **kw) -> Manifest:
        path = tmp_path / "bundle.tar.gz"
        path.write_bytes(data)
        return verify_file(path, expected, **kw)

    if request.param.endswith("streaming"):
        monkeypatch.setattr(bundle_module, "_IN_MEMORY_PACKED", 0)
    return from_bytes if request.param.startswith("from_bytes") else from_file


def test_same_content_gives_the_same_bytes():
    assert make().to_bytes() == make().to_bytes()
    assert sha256(make().to_bytes()) == sha256(make().to_bytes())


@pytest.mark.parametrize("in_memory", [True, False])
def test_round_trip_keeps_every_file_and_the_manifest(in_memory, monkeypatch):
    if not in_memory:
        monkeypatch.setattr(bundle_module, "_IN_MEMORY_PACKED", 0)
    b = make()
    data = b.to_bytes()
    back = Bundle.from_bytes(data, sha256(data), session_id=SID)
    assert back.files == b.files
    assert back.manifest == b.manifest
    assert {e.path: e.text for e in back.manifest.files}["file-history/abcd@v1"] is False


def test_every_reader_returns_the_manifest(read):
    data = make().to_bytes()
    assert read(data, sha256(data), session_id=SID) == make().manifest
    assert read(data, None) == make().manifest


def test_checksum_mismatch_is_refused(read):
    data = make().to_bytes()
    with pytest.raises(BundleError, match="checksum mismatch"):
        read(data, "0" * 64)


def test_truncated_bundle_is_refused(read):
    data = make().to_bytes()
    with pytest.raises(BundleError, match="truncated or malformed"):
        read(data[: len(data) // 2], None)


def test_garbage_is_refused(read):
    with pytest.raises(BundleError):
        read(b"not a bundle at all", None)


@pytest.mark.parametrize(
    "name",
    ["files/../escape.jsonl", "/etc/passwd", "files//etc/passwd", "files/tasks/../../x", "files/unknown/x", "files/C:/x", "evil"],
)
def test_member_names_that_could_escape_are_refused(name, read):
    data = raw_tar([member("manifest.json", make().manifest.to_json()), member(name)])
    with pytest.raises(BundleError):
        read(data, None)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_are_refused(kind, read):
    data = raw_tar([member("manifest.json", make().manifest.to_json()), member("files/tasks/1.json", kind=kind)])
    with pytest.raises(BundleError, match="not a regular file"):
        read(data, None)


def test_bundle_expanding_past_the_limit_is_refused(read):
    big = make({"transcript.jsonl": b"{}" + b" " * 100_000 + b"\n"})
    data = big.to_bytes()
    assert len(data) < 2_000  # compresses well: a small download that expands a lot
    with pytest.raises(BundleError, match="limit"):
        read(data, None, max_bytes=50_000)


def test_file_that_does_not_match_its_manifest_is_refused(read):
    b = make()
    b.files["tasks/1.json"] = b'{"id":"2"}'  # changed after the manifest was made
    with pytest.raises(BundleError, match="manifest checksum"):
        read(b.to_bytes(), None)


def test_bundle_for_another_session_is_refused(read):
    data = make().to_bytes()
    with pytest.raises(BundleError, match="not"):
        read(data, None, session_id="ffffffff-1111-4222-8333-944455556666")


def test_newer_format_asks_for_an_upgrade(read):
    b = make()
    b.manifest.format = 99
    with pytest.raises(BundleError, match="upgrade"):
        read(b.to_bytes(), None)


def test_bytes_after_the_compressed_stream_are_refused(read):
    data = make().to_bytes()
    with pytest.raises(BundleError, match="after the end"):
        read(data + b"trailing", None)


def test_much_data_after_the_end_of_the_archive_is_refused(read):
    """Padding after the archive is ignored, but not a megabyte of it: nobody inflates a bomb hidden there."""
    tar = gzip.decompress(make().to_bytes())
    assert read(gzip.compress(tar + b"\0" * 20_000, mtime=0), None) == make().manifest
    with pytest.raises(BundleError, match="after the end of the archive"):
        read(gzip.compress(tar + b"\0" * (2 << 20), mtime=0), None)


def test_damaged_gzip_trailer_is_refused(read):
    data = bytearray(make().to_bytes())
    data[-6] ^= 0xFF  # a byte of the CRC-32 of the unpacked tar
    with pytest.raises(BundleError, match="truncated or malformed"):
        read(bytes(data), None)


def test_a_member_twice_is_refused(read):
    manifest = make({"tasks/1.json": b"x"}).manifest.to_json()
    data = raw_tar([member("manifest.json", manifest), member("files/tasks/1.json"), member("files/tasks/1.json")])
    with pytest.raises(BundleError, match="twice"):
        read(data, None)


def test_a_bundle_without_manifest_is_refused(read):
    with pytest.raises(BundleError, match="no manifest"):
        read(raw_tar([member("files/tasks/1.json")]), None)


def test_sparse_members_are_refused(read):
    manifest = make({"tasks/1.json": b"x"}).manifest.to_json()
    info, data = member("files/tasks/1.json")
    info.type = tarfile.GNUTYPE_SPARSE
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(member("manifest.json", manifest)[0], io.BytesIO(manifest))
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError):
        read(out.getvalue(), None)


def test_a_small_bundle_that_unpacks_past_memory_limits_is_streamed(tmp_path, monkeypatch):
    """verify_file keeps memory bounded: what would unpack to too much is verified as a stream, with the same result."""
    monkeypatch.setattr(bundle_module, "_IN_MEMORY_UNPACKED", 10_000)
    b = make({"transcript.jsonl": b"{}" + b" " * 100_000 + b"\n"})
    path = tmp_path / "b.tar.gz"
    path.write_bytes(b.to_bytes())
    assert verify_file(path, sha256(path.read_bytes())) == b.manifest
    with pytest.raises(BundleError, match="checksum mismatch"):
        verify_file(path, "0" * 64)


def test_a_forged_size_in_the_gzip_trailer_is_refused(read, monkeypatch):
    """verify_file picks its path by the size the trailer states; a lie there is caught, not trusted."""
    monkeypatch.setattr(bundle_module, "_IN_MEMORY_UNPACKED", 50_000)
    data = bytearray(make({"transcript.jsonl": b"{}" + b" " * 100_000 + b"\n"}).to_bytes())
    data[-4:] = (1_000).to_bytes(4, "little")
    with pytest.raises(BundleError, match="truncated or malformed"):
        read(bytes(data), None)


def test_without_isal_zlib_reads_and_refuses_the_same(read, monkeypatch):
    """Where isal has no wheel, zlib inflates: same results, same refusals."""
    import zlib

    monkeypatch.setattr(bundle_module, "_decompressobj", zlib.decompressobj)
    monkeypatch.setattr(bundle_module, "_INFLATE_ERROR", zlib.error)
    data = make().to_bytes()
    assert read(data, sha256(data), session_id=SID) == make().manifest
    damaged = bytearray(data)
    damaged[-6] ^= 0xFF
    for bad in (bytes(damaged), data[: len(data) // 2], b"not a bundle at all", data + b"trailing"):
        with pytest.raises(BundleError):
            read(bad, None)


LOG_LINES = {  # a log line -> is it a JSON record (what json.loads or pydantic-core's parser takes)
    b'{"type":"user","message":{"content":"caf\xc3\xa9 \xe2\x80\xa6"}}': True,
    b'{"n":NaN,"m":-Infinity}': True,  # json takes these; the syntax check does not: the parsers decide
    b'"\\ud800"': True,  # a lone surrogate escape, which json takes
    b'\xef\xbb\xbf{}': True,  # a byte order mark, which json takes
    b'{"a":"\xc0\x80"}': False,  # JSON syntax, not UTF-8 (an overlong encoding)
    b'{"\xff":1}': False,
    b'{"a":"\xed\xa0\x80"}': True,  # an encoded surrogate, which json takes (it decodes with surrogatepass)
    b'{"a":1}x': False,
    b'{"a":"b\x01"}': False,
    b'{"a":': False,
    b"[" * 5000 + b"]" * 5000: False,  # nested past every parser's depth
}


@pytest.mark.parametrize("fast", [True, False], ids=["msgspec", "parsers only"])
def test_log_lines_are_judged_the_same_with_and_without_the_fast_syntax_check(monkeypatch, fast):
    if not fast:
        monkeypatch.setattr(bundle_module, "_json_syntax", None)
    else:
        assert bundle_module._json_syntax is not None, "msgspec is a dependency"
    for line, ok in LOG_LINES.items():
        check = bundle_module.ContentCheck("transcript.jsonl")
        check.feed(line + b"\n")  # a line nested past the stack is refused like any other, never raised
        assert (check.finish().log_problem is None) is ok, line[:40]
