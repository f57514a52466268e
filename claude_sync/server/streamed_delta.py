"""The server's side of deltas (format in claude_sync/format/delta.py), streamed: no bundle is held in memory whole.

* `rebuild` writes the bundle that a stored bundle plus an uploaded append make,
  checking every file against the SHA-256 the client declared for it.
* `download` answers a device that holds an older copy with what it lacks.

Both read the stored bundle's members in order; bundles list their files in name
order, as deltas do, so one pass suffices. A member needed later than it comes
(a bundle not written by claude-sync) is set aside in a scratch file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import tarfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO

from ..format.bundle import (
    DAMAGED_STREAM,
    FILES_PREFIX,
    MANIFEST,
    ContentCheck,
    FileEntry,
    Manifest,
    is_opaque,
    open_tar_stream,
)
from ..format.delta import DeltaHeader, FileChange, Stream, header_line
from ..format.errors import BundleError
from ..format.layout import is_log
from .storage import BundleTooLarge, StorageError, Upload

_CHUNK = 1024 * 1024
Scratch = Callable[[], Upload]

# What the server compresses itself (bundles rebuilt from appends, deltas it sends) is deflated by
# ISA-L at its level 3: 7-15x faster than zlib's level 6 (the corpus's transcripts at 196 MB/s instead
# of 26), so an append no longer costs as much CPU as gzip'ing the whole session again at level 6; the
# output is 16% larger on those transcripts. Where isal has no wheel, zlib's level 1 (94 MB/s, 31% larger).
# Either is plain gzip that every client reads; a device that pushes the session whole writes level 6 again.
_compressobj: Callable[[int, int, int], Any]
_GzipWriter: Any
try:
    from isal import igzip, isal_zlib

    _LEVEL = 3
    _compressobj, _GzipWriter = isal_zlib.compressobj, igzip.IGzipFile
except ImportError:  # pragma: no cover - a platform without an isal wheel
    _LEVEL = 1
    _compressobj, _GzipWriter = zlib.compressobj, gzip.GzipFile


class _StoredMembers:
    """The files of a stored bundle, opened one after another in the order they are asked for."""

    def __init__(self, blob: BinaryIO, sizes: dict[str, int], scratch: Scratch) -> None:
        self._tar = open_tar_stream(blob)
        self._members = iter(self._tar)
        self._sizes = sizes  # name -> size, of every file that will be asked for
        self._scratch = scratch
        self._set_aside: dict[str, Upload] = {}
        self._open: list[IO[bytes]] = []

    def open(self, name: str) -> IO[bytes]:
        if name in self._set_aside:
            spilled = open(self._set_aside[name].path, "rb")
            self._open.append(spilled)
            return spilled
        try:
            for info in self._members:
                member = info.name[len(FILES_PREFIX) :] if info.name.startswith(FILES_PREFIX) else None
                if member is None or member not in self._sizes or member in self._set_aside:
                    continue
                if not info.isfile() or info.size != self._sizes[member]:
                    raise StorageError(f"the stored bundle's file {member!r} does not match its manifest")
                f = self._tar.extractfile(info)
                assert f is not None
                if member == name:
                    return f
                spill = self._scratch()
                self._set_aside[member] = spill
                while chunk := f.read(_CHUNK):
                    spill.write(chunk)
                spill.finish()
        except DAMAGED_STREAM as e:
            raise StorageError(f"the stored bundle is damaged: {e}") from e
        raise StorageError(f"the stored bundle lacks the file {name!r}")

    def close(self) -> None:
        for f in self._open:
            f.close()
        for spill in self._set_aside.values():
            spill.discard()
        self._tar.close()


class _Source:
    """What tarfile copies into one member: parts read one after another, hashed as they pass."""

    def __init__(self, parts: list[tuple[Stream, int, bool]], check: ContentCheck | None = None, only_payload: bool = False) -> None:
        self._parts = parts  # (stream, bytes to take, is it the upload's payload)
        self.digest = hashlib.sha256()
        # What the file must be (UTF-8 text, whole JSON lines), over the payload alone when the rest
        # was checked as it was stored (an append to a log that ends with a newline).
        self._check, self._only_payload = check, only_payload

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes, fewer only at the very end (tarfile counts a short read as the end)."""
        out = bytearray()
        while self._parts and (n is None or n < 0 or len(out) < n):
            stream, left, from_upload = self._parts[0]
            if left == 0:
                self._parts.pop(0)
                continue
            want = left if n is None or n < 0 else min(n - len(out), left)
            try:
                data = stream.read(want)
            except DAMAGED_STREAM as e:
                if from_upload:
                    raise BundleError(f"the delta is truncated or malformed: {e}") from e
                raise StorageError(f"the stored bundle is damaged: {e}") from e
            if not data:
                if from_upload:
                    raise BundleError("the delta is truncated: a payload is shorter than it declares")
                raise StorageError("the stored bundle is shorter than its manifest says")
            self._parts[0] = (stream, left - len(data), from_upload)
            self.digest.update(data)
            if self._check is not None and (from_upload or not self._only_payload):
                self._check.feed(data)
            out += data
        return bytes(out)


class _Out:
    """Writes into an upload, refusing past the size limit."""

    def __init__(self, out: Upload, limit: int) -> None:
        self._out, self._limit = out, limit

    def write(self, data: bytes) -> int:
        if self._out.size + len(data) > self._limit:
            raise BundleTooLarge(f"the bundle would be larger than this server accepts ({self._limit} bytes)")
        self._out.write(data)
        return len(data)

    def flush(self) -> None:
        pass


def _member(name: str, size: int) -> tarfile.TarInfo:
    """A member header exactly as bundle.Bundle.to_bytes writes it (deterministic)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def rebuild(
    blob: BinaryIO,
    base: Manifest,
    payloads: Stream,
    header: DeltaHeader,
    result: Manifest,
    out: Upload,
    *,
    scratch: Scratch,
    limit: int,
) -> None:
    """Write the bundle `result` into `out`: the stored `base` bundle's files with the delta's changes.

    `payloads` is the delta's stream just past its header. Raises BundleError when
    the delta does not match what it declares, BundleTooLarge past `limit` bytes.
    """
    changes = {c.path: c for c in header.changes}
    old_sizes = {e.path: e.size for e in base.files}
    kept = {e.path: old_sizes[e.path] for e in result.files if e.path not in changes or changes[e.path].op != "put"}
    stored = _StoredMembers(blob, kept, scratch)
    try:
        with _GzipWriter(filename="", mode="wb", fileobj=_Out(out, limit), mtime=0, compresslevel=_LEVEL) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                manifest_json = result.to_json()
                tar.addfile(
                    _member(MANIFEST, len(manifest_json)),
                    _Source([(io.BytesIO(manifest_json), len(manifest_json), False)]),
                )
                for entry in result.files:
                    change = changes.get(entry.path)
                    parts: list[tuple[Stream, int, bool]] = []
                    if entry.path in kept:  # all of the stored file, or its first bytes (`prefix`)
                        take = entry.size if change is not None and change.op == "prefix" else kept[entry.path]
                        parts.append((stored.open(entry.path), take, False))
                    if change is not None and change.length:
                        parts.append((payloads, change.length, True))
                    check = ContentCheck(entry.path) if change is not None and not is_opaque(result) else None
                    source = _Source(parts, check, only_payload=change is not None and change.op == "append")
                    tar.addfile(_member(FILES_PREFIX + entry.path, entry.size), source)
                    if source.digest.hexdigest() != entry.sha256:
                        raise BundleError(
                            f"file {entry.path!r} rebuilt from the delta does not match the SHA-256 the client "
                            "declared; nothing was stored"
                        )
                    why = check.finish().problem(entry.text) if check is not None else None
                    if why:
                        raise BundleError(f"session {result.session_id}: {why}; nothing was stored")
        try:
            extra = payloads.read(1)
        except (OSError, EOFError, zlib.error) as e:
            raise BundleError(f"the delta is truncated or malformed: {e}") from e
        if extra:
            raise BundleError("the delta has data past its last change")
    finally:
        stored.close()


def prefix_digests(blob: BinaryIO, wanted: dict[str, int]) -> dict[str, str]:
    """SHA-256 of the first `wanted[name]` bytes of each named file in a stored bundle, streamed."""
    out: dict[str, str] = {}
    if not wanted:
        return out
    with open_tar_stream(blob) as tar:
        for info in tar:
            name = info.name[len(FILES_PREFIX) :] if info.name.startswith(FILES_PREFIX) else None
            if name is None or name not in wanted:
                continue
            f = tar.extractfile(info)
            assert f is not None
            h, left = hashlib.sha256(), wanted[name]
            while left > 0:
                chunk = f.read(min(left, _CHUNK))
                if not chunk:
                    break
                h.update(chunk)
                left -= len(chunk)
            out[name] = h.hexdigest()
            if len(out) == len(wanted):
                break
    return out


def download(
    blob: BinaryIO, manifest: Manifest, content_sha256: str, have: list[FileEntry], *, scratch: Scratch
) -> Iterator[bytes]:
    """What a device holding `have` lacks of the stored bundle, as the chunks of a gzip'd delta.

    A log the device holds a prefix of gets its new bytes, a log the device holds
    more of is cut to the stored length (the device checks the result and downloads
    the whole bundle if that is wrong), and any other file that differs travels
    whole. The header is decided here (one pass over the bundle to check the
    prefixes); the payloads stream as the iterator is consumed.
    """
    mine = {h.path: h for h in have}
    candidates: dict[str, int] = {}
    for e in manifest.files:
        h = mine.get(e.path)
        if h is None or (h.sha256 == e.sha256 and h.size == e.size and h.text == e.text):
            continue
        if is_log(e.path) and h.text == e.text and 0 < h.size < e.size:
            candidates[e.path] = h.size
    try:
        prefixes = prefix_digests(blob, candidates)
    except DAMAGED_STREAM as err:
        blob.close()
        raise StorageError(f"the stored bundle of session {manifest.session_id} is damaged: {err}") from err
    changes: list[FileChange] = []
    skip: dict[str, int] = {}  # file -> leading bytes the device has
    for e in manifest.files:
        h = mine.get(e.path)
        if h is not None and h.sha256 == e.sha256 and h.size == e.size and h.text == e.text:
            continue
        if e.path in candidates and prefixes.get(e.path) == mine[e.path].sha256:
            skip[e.path] = mine[e.path].size
            changes.append(FileChange(**e.model_dump(), op="append", length=e.size - skip[e.path]))
        elif h is not None and is_log(e.path) and h.text == e.text and h.size > e.size:
            changes.append(FileChange(**e.model_dump(), op="prefix", length=0))
        else:
            changes.append(FileChange(**e.model_dump(), op="put", length=e.size))
    listed = {e.path for e in manifest.files}
    header = DeltaHeader(
        content_sha256=content_sha256,
        manifest=manifest.model_copy(update={"files": []}),
        changes=changes,
        deleted=sorted(p for p in mine if p not in listed),
    )
    return _payloads(blob, header, skip, {e.path: e.size for e in manifest.files}, scratch)


def _payloads(
    blob: BinaryIO, header: DeltaHeader, skip: dict[str, int], sizes: dict[str, int], scratch: Scratch
) -> Iterator[bytes]:
    z = _compressobj(_LEVEL, zlib.DEFLATED, 31)
    try:
        yield z.compress(header_line(header))
        sent = [c for c in header.changes if c.length]
        if sent:
            blob.seek(0)
            stored = _StoredMembers(blob, {c.path: sizes[c.path] for c in sent}, scratch)
            try:
                for c in sent:
                    f = stored.open(c.path)
                    left = skip.get(c.path, 0)
                    while left > 0:  # the device has these bytes
                        got = f.read(min(left, _CHUNK))
                        if not got:
                            raise StorageError(f"the stored bundle's file {c.path!r} is shorter than its manifest says")
                        left -= len(got)
                    while chunk := f.read(_CHUNK):
                        if out := z.compress(chunk):
                            yield out
            finally:
                stored.close()
        yield z.flush()
    finally:
        with contextlib.suppress(OSError):
            blob.close()
