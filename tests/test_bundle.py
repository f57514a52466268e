"""Bundles: deterministic, verified, and refused whole when anything is off."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from claude_sync.bundle import Bundle, Manifest, sha256
from claude_sync.errors import BundleError

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


def test_same_content_gives_the_same_bytes():
    assert make().to_bytes() == make().to_bytes()
    assert sha256(make().to_bytes()) == sha256(make().to_bytes())


def test_round_trip_keeps_every_file_and_the_manifest():
    b = make()
    data = b.to_bytes()
    back = Bundle.from_bytes(data, sha256(data), session_id=SID)
    assert back.files == b.files
    assert back.manifest == b.manifest
    assert {e.path: e.text for e in back.manifest.files}["file-history/abcd@v1"] is False


def test_checksum_mismatch_is_refused():
    data = make().to_bytes()
    with pytest.raises(BundleError, match="checksum mismatch"):
        Bundle.from_bytes(data, "0" * 64)


def test_truncated_bundle_is_refused():
    data = make().to_bytes()
    with pytest.raises(BundleError, match="truncated or malformed"):
        Bundle.from_bytes(data[: len(data) // 2], None)


def test_garbage_is_refused():
    with pytest.raises(BundleError):
        Bundle.from_bytes(b"not a bundle at all", None)


@pytest.mark.parametrize(
    "name",
    ["files/../escape.jsonl", "/etc/passwd", "files//etc/passwd", "files/tasks/../../x", "files/unknown/x", "files/C:/x", "evil"],
)
def test_member_names_that_could_escape_are_refused(name):
    data = raw_tar([member("manifest.json", make().manifest.to_json()), member(name)])
    with pytest.raises(BundleError):
        Bundle.from_bytes(data, None)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_are_refused(kind):
    data = raw_tar([member("manifest.json", make().manifest.to_json()), member("files/tasks/1.json", kind=kind)])
    with pytest.raises(BundleError, match="not a regular file"):
        Bundle.from_bytes(data, None)


def test_bundle_expanding_past_the_limit_is_refused():
    big = make({"transcript.jsonl": b"a" * 100_000})
    data = big.to_bytes()
    assert len(data) < 2_000  # compresses well: a small download that expands a lot
    with pytest.raises(BundleError, match="limit"):
        Bundle.from_bytes(data, None, max_bytes=50_000)


def test_file_that_does_not_match_its_manifest_is_refused():
    b = make()
    b.files["tasks/1.json"] = b'{"id":"2"}'  # changed after the manifest was made
    with pytest.raises(BundleError, match="manifest checksum"):
        Bundle.from_bytes(b.to_bytes(), None)


def test_bundle_for_another_session_is_refused():
    data = make().to_bytes()
    with pytest.raises(BundleError, match="not"):
        Bundle.from_bytes(data, None, session_id="ffffffff-1111-4222-8333-944455556666")


def test_newer_format_asks_for_an_upgrade():
    b = make()
    b.manifest.format = 99
    with pytest.raises(BundleError, match="upgrade"):
        Bundle.from_bytes(b.to_bytes(), None)
