"""The bundle: one session, path-tokenized, as a deterministic tar.gz with a manifest.

Same content gives the same bytes, so a SHA-256 of the whole bundle identifies a
version of a session on every device and backend. Reading a bundle verifies that
checksum first, then every member against the manifest, and refuses anything
unsafe (links, absolute or escaping names, unknown members, oversize) before a
single byte reaches the user's disk.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Collection
from dataclasses import dataclass
from typing import BinaryIO

from pydantic import BaseModel, ValidationError

from .errors import BundleError
from .path_tokens import Context, Flavour

FORMAT = 1
MANIFEST = "manifest.json"
FILES_PREFIX = "files/"
MAX_MEMBERS = 100_000
DEFAULT_MAX_BYTES = 4 * 1024**3
_LOGICAL_HEADS = {"session", "legacy-agents", "file-history", "tasks", "todos"}


class FileEntry(BaseModel):
    path: str
    size: int
    sha256: str
    text: bool = True  # False: carried verbatim (not UTF-8), never rewritten


class Manifest(BaseModel):
    format: int = FORMAT
    session_id: str
    project_key: str
    device: str
    source_flavour: Flavour = Flavour.POSIX
    last_modified: str | None = None
    first_timestamp: str | None = None
    title: str = ""
    message_count: int = 0
    files: list[FileEntry] = []

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def context_for(logical: str) -> Context:
    return Context.JSON if logical.endswith((".jsonl", ".json")) else Context.RAW


def check_logical(name: str) -> None:
    """Refuse a member name that could escape the session's folders."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(p in ("", ".", "..") for p in parts)
        or (name != "transcript.jsonl" and (len(parts) < 2 or parts[0] not in _LOGICAL_HEADS))
        or (len(parts[0]) == 2 and parts[0][1] == ":")
    ):
        raise BundleError(f"refusing unsafe or unknown file name in bundle: {name!r}")


@dataclass
class Bundle:
    manifest: Manifest
    files: dict[str, bytes]  # logical name -> tokenized content

    @classmethod
    def build(cls, manifest: Manifest, files: dict[str, bytes], binary: set[str] = frozenset()) -> Bundle:  # type: ignore[assignment]
        for name in files:
            check_logical(name)
        manifest = manifest.model_copy(
            update={
                "files": [
                    FileEntry(path=n, size=len(d), sha256=sha256(d), text=n not in binary)
                    for n, d in sorted(files.items())
                ]
            }
        )
        return cls(manifest, dict(files))

    @property
    def session_id(self) -> str:
        return self.manifest.session_id

    def to_bytes(self, level: int = 6) -> bytes:
        raw = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=level) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                _add(tar, MANIFEST, self.manifest.to_json())
                for entry in self.manifest.files:
                    _add(tar, FILES_PREFIX + entry.path, self.files[entry.path])
        return raw.getvalue()

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        expected_sha256: str | None,
        *,
        session_id: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Bundle:
        """Verify and read a bundle; raises BundleError and has no side effects."""
        if expected_sha256 is not None and sha256(data) != expected_sha256:
            raise BundleError(
                f"bundle checksum mismatch (expected {expected_sha256[:12]}…, got {sha256(data)[:12]}…): "
                "it was corrupted or truncated in transit; nothing was written"
            )
        members: dict[str, bytes] = {}
        total = 0
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:
                for info in tar:
                    name = _checked_member(info, members)
                    total += info.size
                    if total > max_bytes:
                        raise BundleError(f"bundle expands past the limit of {max_bytes} bytes; refused")
                    f = tar.extractfile(info)
                    assert f is not None
                    members[name] = f.read()
        except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as e:
            raise BundleError(f"bundle is truncated or malformed: {e}") from e
        if MANIFEST not in members:
            raise BundleError("bundle has no manifest")
        try:
            manifest = Manifest.model_validate(json.loads(members.pop(MANIFEST)))
        except (ValueError, ValidationError) as e:
            raise BundleError(f"bundle manifest is malformed: {e}") from e
        if manifest.format > FORMAT:
            raise BundleError(f"bundle format {manifest.format} is newer than this tool understands ({FORMAT}); upgrade")
        if session_id is not None and manifest.session_id != session_id:
            raise BundleError(f"bundle holds session {manifest.session_id}, not {session_id}")
        files = {name[len(FILES_PREFIX) :]: d for name, d in members.items()}
        listed = {e.path: e for e in manifest.files}
        if set(listed) != set(files):
            raise BundleError("bundle files do not match its manifest")
        for name, d in files.items():
            entry = listed[name]
            if len(d) != entry.size or sha256(d) != entry.sha256:
                raise BundleError(f"bundle file {name!r} does not match its manifest checksum")
        return cls(manifest, files)


def _checked_member(info: tarfile.TarInfo, seen: Collection[str]) -> str:
    """The name of a member a bundle may hold; BundleError for anything else."""
    if len(seen) >= MAX_MEMBERS:
        raise BundleError(f"bundle has more than {MAX_MEMBERS} files")
    if not info.isfile():
        raise BundleError(f"refusing bundle member {info.name!r}: not a regular file")
    name = info.name
    if name != MANIFEST:
        if not name.startswith(FILES_PREFIX):
            raise BundleError(f"refusing unknown bundle member {name!r}")
        check_logical(name[len(FILES_PREFIX) :])
    if name in seen:
        raise BundleError(f"bundle member {name!r} appears twice")
    return name


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


MAX_MANIFEST_BYTES = 64 * 1024**2
_CHUNK = 1024 * 1024


class _HashingReader:
    """A read-only file wrapper that hashes every byte read through it."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def verify_file(
    path: str | os.PathLike[str],
    expected_sha256: str | None = None,
    *,
    session_id: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Manifest:
    """Verify a bundle on disk as `Bundle.from_bytes` does, holding one chunk at a time.

    Members are hashed as they stream past and checked against the manifest at
    the end (the manifest may come anywhere in the archive). Returns the manifest;
    raises BundleError. A checksum mismatch is reported in preference to any
    damage it explains.
    """
    seen: dict[str, tuple[int, str]] = {}
    manifest_bytes: bytes | None = None
    total = 0
    with open(path, "rb") as raw:
        reader = _HashingReader(raw)
        try:
            try:
                with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
                    for info in tar:
                        name = _checked_member(info, seen)
                        if name == MANIFEST and info.size > MAX_MANIFEST_BYTES:
                            raise BundleError("bundle manifest is too large")
                        total += info.size
                        if total > max_bytes:
                            raise BundleError(f"bundle expands past the limit of {max_bytes} bytes; refused")
                        f = tar.extractfile(info)
                        assert f is not None
                        if name == MANIFEST:
                            manifest_bytes = f.read()
                            seen[name] = (len(manifest_bytes), sha256(manifest_bytes))
                            continue
                        h, n = hashlib.sha256(), 0
                        while chunk := f.read(_CHUNK):
                            h.update(chunk)
                            n += len(chunk)
                        seen[name] = (n, h.hexdigest())
            except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as e:
                raise BundleError(f"bundle is truncated or malformed: {e}") from e
        except BundleError:
            if expected_sha256 is not None:
                reader.drain()
                _check_sha(reader.digest.hexdigest(), expected_sha256)
            raise
        reader.drain()
        if expected_sha256 is not None:
            _check_sha(reader.digest.hexdigest(), expected_sha256)
    if manifest_bytes is None:
        raise BundleError("bundle has no manifest")
    try:
        manifest = Manifest.model_validate(json.loads(manifest_bytes))
    except (ValueError, ValidationError) as e:
        raise BundleError(f"bundle manifest is malformed: {e}") from e
    if manifest.format > FORMAT:
        raise BundleError(f"bundle format {manifest.format} is newer than this tool understands ({FORMAT}); upgrade")
    if session_id is not None and manifest.session_id != session_id:
        raise BundleError(f"bundle holds session {manifest.session_id}, not {session_id}")
    files = {name[len(FILES_PREFIX) :]: v for name, v in seen.items() if name != MANIFEST}
    listed = {e.path: e for e in manifest.files}
    if set(listed) != set(files):
        raise BundleError("bundle files do not match its manifest")
    for name, (size, digest) in files.items():
        entry = listed[name]
        if size != entry.size or digest != entry.sha256:
            raise BundleError(f"bundle file {name!r} does not match its manifest checksum")
    return manifest


def _check_sha(actual: str, expected: str) -> None:
    if actual != expected:
        raise BundleError(
            f"bundle checksum mismatch (expected {expected[:12]}…, got {actual[:12]}…): "
            "it was corrupted or truncated in transit; nothing was written"
        )
