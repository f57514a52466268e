"""Deltas: a version of a session told as its changes to an older version.

Logs only grow, so a session's next version is nearly always the previous one
plus a few lines at the end of a log or two. A delta carries only that:

    gzip( header JSON, one line, "\\n" | payload | payload | ... )

The header holds the result's manifest fields (its file list left empty: the
receiver rebuilds it), the result's content digest, and, in file-name order, one
change per file that differs: `append` (the payload goes at the end of the file
the receiver has), `put` (the payload is the whole file) or `prefix` (no payload:
the file is the first `size` bytes of the receiver's, for a device whose copy of a
log is longer than the sender's), each with the resulting size and SHA-256; files
the result no longer has are listed in `deleted`. Every other file is the
receiver's own, as it is.

The receiver rebuilds the file list from what it holds, checks the list against
the content digest and every rebuilt file against its declared SHA-256, and only
then uses the result. That is the whole check: bundles are compressed by the
local zlib, so the bytes of a rebuilt bundle (and so its SHA-256) can differ from
the sender's; its content cannot.

The same format goes both ways: a device uploads its appends to the server's copy,
and downloads what it lacks of the server's copy (see docs/server.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from typing import IO, Literal

from pydantic import BaseModel, ValidationError

from .bundle import (
    FORMAT,
    MAX_MANIFEST_BYTES,
    MAX_MEMBERS,
    Bundle,
    FileEntry,
    Manifest,
    check_content,
    check_files,
    content_digest,
    is_opaque,
)
from .errors import BundleError
from .layout import check_logical, is_log

DELTA_FORMAT = 1
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_DAMAGE = (OSError, EOFError, zlib.error, gzip.BadGzipFile)
Stream = IO[bytes] | gzip.GzipFile  # a delta's decompressing stream


class FileChange(FileEntry):
    """A file of the result that differs from the receiver's: `length` payload bytes follow in the stream."""

    op: Literal["append", "put", "prefix"]
    length: int


class DeltaHeader(BaseModel):
    format: int = DELTA_FORMAT
    content_sha256: str  # of the result
    manifest: Manifest  # the result's fields; `files` stays empty, the receiver rebuilds it
    changes: list[FileChange] = []
    deleted: list[str] = []


def _digest_of(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def diff(
    base: list[FileEntry], target: Bundle, *, logs_must_extend: bool
) -> tuple[DeltaHeader, list[memoryview]] | None:
    """The changes from a copy with the files `base` to `target`, and their payloads.

    A log of `target` that starts with the base's log is an `append`. When a log is
    not (rewritten, or gone), the result is None if `logs_must_extend`, else that
    log is sent whole.
    """
    old = {e.path: e for e in base}
    changes: list[FileChange] = []
    payloads: list[memoryview] = []
    for entry in target.manifest.files:
        data = memoryview(target.files[entry.path])
        was = old.get(entry.path)
        if was is not None and was.sha256 == entry.sha256 and was.text == entry.text:
            continue
        if (
            was is not None
            and is_log(entry.path)
            and was.text == entry.text
            and was.size < entry.size
            and _digest_of(data[: was.size]) == was.sha256
        ):
            changes.append(FileChange(**entry.model_dump(), op="append", length=entry.size - was.size))
            payloads.append(data[was.size :])
            continue
        if was is not None and is_log(entry.path) and logs_must_extend:
            return None
        changes.append(FileChange(**entry.model_dump(), op="put", length=entry.size))
        payloads.append(data)
    deleted = sorted(set(old) - {e.path for e in target.manifest.files})
    if logs_must_extend and any(is_log(n) for n in deleted):
        return None
    header = DeltaHeader(
        content_sha256=content_digest(target),
        manifest=target.manifest.model_copy(update={"files": []}),
        changes=changes,
        deleted=deleted,
    )
    return header, payloads


def encode(header: DeltaHeader, payloads: list[memoryview]) -> bytes:
    """The delta as it travels (deterministic for one zlib version)."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip stream
    out = [z.compress(header_line(header))]
    out += [z.compress(p) for p in payloads]
    out.append(z.flush())
    return b"".join(out)


def header_line(header: DeltaHeader) -> bytes:
    return header.model_dump_json().encode("utf-8") + b"\n"


def read_header(stream: Stream) -> DeltaHeader:
    """The header of a delta from its (decompressing) stream, which is left at the first payload."""
    try:
        line = stream.readline(MAX_MANIFEST_BYTES + 1)
    except _DAMAGE as e:
        raise BundleError(f"the delta is truncated or malformed: {e}") from e
    if not line.endswith(b"\n"):
        raise BundleError("the delta has no header, or one that is too large")
    try:
        header = DeltaHeader.model_validate_json(line)
    except (ValueError, ValidationError) as e:
        raise BundleError(f"the delta's header is malformed: {e}") from e
    if header.format > DELTA_FORMAT:
        raise BundleError(f"delta format {header.format} is newer than this tool understands ({DELTA_FORMAT}); upgrade")
    return header


def result_manifest(base: list[FileEntry], header: DeltaHeader, *, max_bytes: int) -> Manifest:
    """The full manifest of the result: `base` with the header's changes; checked against its content digest."""
    if header.manifest.files:
        raise BundleError("a delta's manifest lists no files (the receiver rebuilds the list)")
    if header.manifest.format > FORMAT:
        raise BundleError(
            f"bundle format {header.manifest.format} is newer than this tool understands ({FORMAT}); upgrade"
        )
    files = {e.path: e for e in base}
    for name in header.deleted:
        if files.pop(name, None) is None:
            raise BundleError(f"the delta deletes {name!r}, which its base does not have")
    previous = ""
    for c in header.changes:
        check_logical(c.path)
        if c.path <= previous:
            raise BundleError("the delta's changes are not in file-name order, or name a file twice")
        previous = c.path
        if c.size < 0 or c.length < 0 or not _SHA256_RE.match(c.sha256):
            raise BundleError(f"the delta's change of {c.path!r} is malformed")
        if c.path in header.deleted:
            raise BundleError(f"the delta both changes and deletes {c.path!r}")
        if c.op == "put" and c.length != c.size:
            raise BundleError(f"the delta's payload of {c.path!r} is not the whole file")
        if c.op == "append":
            was = files.get(c.path)
            if was is None or was.size + c.length != c.size:
                raise BundleError(f"the delta appends to {c.path!r}, which its base has not in that size")
        if c.op == "prefix":
            was = files.get(c.path)
            if was is None or was.size < c.size or c.length != 0:
                raise BundleError(f"the delta cuts {c.path!r}, which its base has not in that size")
        files[c.path] = FileEntry(path=c.path, size=c.size, sha256=c.sha256, text=c.text)
    if len(files) > MAX_MEMBERS:
        raise BundleError(f"bundle has more than {MAX_MEMBERS} files")
    if sum(e.size for e in files.values()) > max_bytes:
        raise BundleError(f"bundle expands past the limit of {max_bytes} bytes; refused")
    check_files(header.manifest, files)
    manifest = header.manifest.model_copy(update={"files": [files[n] for n in sorted(files)]})
    if content_digest(Bundle(manifest, {})) != header.content_sha256:
        raise BundleError(
            "the delta does not lead to the version it declares (content digest mismatch); nothing was written"
        )
    return manifest


def apply(data: bytes, have: Bundle, *, session_id: str, max_bytes: int) -> Bundle:
    """The bundle a delta against `have` leads to, verified file by file; raises BundleError, writes nothing."""
    stream = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
    header = read_header(stream)
    if header.manifest.session_id != session_id:
        raise BundleError(f"the delta is for session {header.manifest.session_id}, not {session_id}")
    manifest = result_manifest(have.manifest.files, header, max_bytes=max_bytes)
    files = {e.path: have.files[e.path] for e in manifest.files if e.path in have.files}
    try:
        for c in header.changes:
            payload = stream.read(c.length)
            if len(payload) != c.length:
                raise BundleError("the delta is truncated; nothing was written")
            if c.op == "append":
                files[c.path] = have.files[c.path] + payload
            elif c.op == "prefix":
                files[c.path] = have.files[c.path][: c.size]
            else:
                files[c.path] = payload
        if stream.read(1):
            raise BundleError("the delta has data past its last change")
    except _DAMAGE as e:
        raise BundleError(f"the delta is truncated or malformed: {e}") from e
    for entry in manifest.files:
        got = files[entry.path]
        if len(got) != entry.size or _digest_of(got) != entry.sha256:
            raise BundleError(
                f"file {entry.path!r} rebuilt from the delta does not match its SHA-256; nothing was written"
            )
    for c in header.changes if not is_opaque(manifest) else ():  # sealed: checked once opened, on the device
        try:
            check_content(c.path, files[c.path], c.text)
        except BundleError as e:
            raise BundleError(f"session {session_id}: {e}; nothing was written") from e
    return Bundle(manifest, files)
