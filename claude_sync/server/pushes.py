"""What every store does the same way on a push or an append; each store supplies only its transaction.

Uploads (and bundles rebuilt from appends) are temp files on the server's own disk,
checked before anything is stored. The store's `_swap` then, under a lock on the one
session, looks at the current copy and calls `decide`: identical content is a no-op,
another base a StaleBase, a shorter copy a WouldShrink; only then is the bundle stored.
The expensive shrink check (reading the stored bundle) runs once, before the lock.
"""

from __future__ import annotations

import abc
import contextlib
import gzip
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..format.bundle import DEFAULT_MAX_BYTES, Bundle, FileEntry, Manifest, content_digest, verify_file
from ..format.delta import read_header, result_manifest
from ..format.errors import BundleError
from ..format.layout import is_log, is_sealed, is_session_id
from ..format.wire import PushReply, StoredSession, StoreStatus
from . import streamed_delta
from .storage import QuotaExceeded, StaleBase, Storage, StorageError, Upload, WouldShrink

Current = tuple[StoredSession, str]  # a session's entry and its manifest (JSON)
Shrinks = Callable[[StoredSession, str], bool]


class FileUpload(Upload):
    def __init__(self, folder: Path, *, durable: bool = True) -> None:
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".tar.gz", dir=folder)
        self.path = Path(name)
        # fsync'd on finish: the store keeps this very file. Not when it is read once and removed
        # (a delta, a scratch file, a bundle copied into a database that makes its copy durable).
        self.durable = durable
        self._f: BinaryIO | None = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, chunk: bytes) -> None:
        assert self._f is not None
        self._f.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        if self._f is not None:
            self._f.flush()
            if self.durable:
                os.fsync(self._f.fileno())
            self._f.close()
            self._f = None

    def discard(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.discarded = True


def decide(
    sid: str, current: Current | None, digest: str, base: str | None, force: bool, shrinks: Shrinks, project_key: str
) -> PushReply | None:
    """Under the session's lock: the outcome when nothing is to be stored, None to store; or a refusal.

    The same content under another project key is stored: a device re-keys a session (issue #17)."""
    cur = current[0] if current else None
    if cur is not None and cur.content_sha256 == digest and cur.project_key == project_key:
        return PushReply(result=StoreStatus.UNCHANGED, entry=cur)
    if (cur.content_sha256 if cur else None) != base:
        raise StaleBase(f"session {sid} changed on the server since version {base or '(none)'}", cur)
    if not force and current is not None and shrinks(*current):
        raise WouldShrink(
            f"session {sid} on the server is a longer version of this one; pull it, or push with force to replace it",
            current[0],
        )
    return None


def check_sealed(encrypted: bool, manifest: Manifest) -> None:
    """Under the session's lock, from the account's row the store reads there anyway: an account
    flagged end-to-end encrypted stores only sealed sessions."""
    if encrypted and not is_sealed(manifest.session_id, manifest.project_key):
        raise BundleError(
            f"session {manifest.session_id} is not end-to-end encrypted, and this account stores only sealed "
            "sessions: turn encryption on (`claude-sync encryption init` or `join`); nothing was stored"
        )


def check_quota(user: str, quota: int | None, others: int, size: int) -> None:
    """`others`: the bytes of the user's other sessions; `size`: the new bundle's."""
    if quota is not None and others + size > quota:
        raise QuotaExceeded(
            f"storing this {size}-byte bundle would take {user} past their quota of {quota} bytes "
            f"({others} bytes in other sessions); ask the server's administrator, or delete old sessions"
        )


class BlobStorage(Storage):
    """Push, append and download over a store of whole bundles; subclasses store and lock."""

    tmp: Path
    max_expanded_bytes: int = DEFAULT_MAX_BYTES
    # Does the store keep the upload's file itself (then it is fsync'd before it is referred to)?
    keeps_upload_files: bool = True

    @abc.abstractmethod
    def _current(self, user: str, sid: str) -> Current | None: ...

    @abc.abstractmethod
    def _swap(
        self,
        user: str,
        manifest: Manifest,
        digest: str,
        blob: FileUpload,
        *,
        base: str | None,
        force: bool,
        shrinks: Shrinks,
    ) -> PushReply:
        """Atomically: lock the session, `decide`, check the quota, store the blob and the row."""

    def new_upload(self) -> FileUpload:
        return FileUpload(self.tmp, durable=self.keeps_upload_files)

    def _scratch(self) -> FileUpload:
        return FileUpload(self.tmp, durable=False)

    def _one_connection(self) -> contextlib.AbstractContextManager[None]:
        """Where a store can, every statement of one commit on one database connection."""
        return contextlib.nullcontext()

    def commit_push(
        self, user: str, upload: Upload, bundle_sha256: str, *, base: str | None, force: bool
    ) -> PushReply:
        assert isinstance(upload, FileUpload)
        try:
            upload.finish()
            if upload.sha256 != bundle_sha256:
                raise BundleError(
                    f"bundle checksum mismatch (expected {bundle_sha256[:12]}…, got {upload.sha256[:12]}…): "
                    "it was corrupted or truncated in transit; nothing was stored"
                )
            manifest = verify_file(upload.path, None, max_bytes=self.max_expanded_bytes)
            sid = manifest.session_id
            if not is_session_id(sid):
                raise BundleError(f"not a session id: {sid!r}")
            paths = [e.path for e in manifest.files]
            if paths != sorted(set(paths)):
                raise BundleError("bundle manifest does not list its files in canonical order")
            with self._one_connection():
                return self._store(user, manifest, upload, base=base, force=force)
        finally:
            upload.discard()

    def commit_append(
        self, user: str, session_id: str, upload: Upload, *, base: str, force: bool, max_bundle_bytes: int
    ) -> PushReply:
        assert isinstance(upload, FileUpload)
        rebuilt: FileUpload | None = None
        try:
            upload.durable = False  # the delta is read once, here, and removed
            upload.finish()
            if not is_session_id(session_id):
                raise BundleError(f"not a session id: {session_id!r}")
            with self._one_connection(), gzip.open(upload.path, "rb") as payloads:
                header = read_header(payloads)
                if header.manifest.session_id != session_id:
                    raise BundleError(f"the delta is for session {header.manifest.session_id}, not {session_id}")
                row = self._current(user, session_id)
                cur = row[0] if row else None
                if cur is not None and cur.content_sha256 == header.content_sha256 and cur.project_key == header.manifest.project_key:
                    return PushReply(result=StoreStatus.UNCHANGED, entry=cur)
                if row is None or row[0].content_sha256 != base:
                    raise StaleBase(f"session {session_id} changed on the server since version {base}", cur)
                old = Manifest.model_validate_json(row[1])
                result = result_manifest(old.files, header, max_bytes=self.max_expanded_bytes)
                try:
                    blob = self.open_blob(row[0])
                except StorageError:
                    now = self._current(user, session_id)
                    if now is None or now[0].content_sha256 != base:  # replaced meanwhile, its blob dropped
                        raise StaleBase(
                            f"session {session_id} changed on the server since version {base}", now[0] if now else None
                        ) from None
                    raise
                rebuilt = self.new_upload()
                with blob:
                    streamed_delta.rebuild(
                        blob, old, payloads, header, result, rebuilt, scratch=self._scratch, limit=max_bundle_bytes
                    )
                rebuilt.finish()
                # Read a moment ago: its base matched, and the result extends it (no shrink check to read for).
                return self._store(user, result, rebuilt, base=base, force=force, current=row)
        finally:
            upload.discard()
            if rebuilt is not None:
                rebuilt.discard()

    def manifest(self, user: str, session_id: str) -> tuple[StoredSession, Manifest] | None:
        row = self._current(user, session_id)
        if row is None:
            return None
        return row[0], Manifest.model_validate_json(row[1])

    def download_delta(
        self, user: str, session_id: str, have: list[FileEntry]
    ) -> tuple[StoredSession, Iterator[bytes]] | None:
        found = self.manifest(user, session_id)
        if found is None:
            return None
        entry, manifest = found
        blob = self.open_blob(entry)
        return entry, streamed_delta.download(blob, manifest, entry.content_sha256, have, scratch=self._scratch)

    def _store(
        self,
        user: str,
        manifest: Manifest,
        blob: FileUpload,
        *,
        base: str | None,
        force: bool,
        current: Current | None = None,
    ) -> PushReply:
        """Compare-and-swap a finished, verified bundle of `manifest` into place.

        `current`: the session's row as the caller just read it, if it did (saves reading it again
        for the shrink check before the lock; `_swap` reads it again under the lock in any case)."""
        digest = content_digest(Bundle(manifest, {}))
        checked: dict[str, bool] = {}  # current digest -> would the push shrink it

        def shrinks(cur: StoredSession, cur_manifest: str) -> bool:
            if cur.content_sha256 not in checked:
                old = Manifest.model_validate_json(cur_manifest)
                checked[cur.content_sha256] = self._is_shorter(manifest, old, cur)
            return checked[cur.content_sha256]

        if not force:  # the expensive check runs before the lock
            row = current or self._current(user, manifest.session_id)
            if row is not None and row[0].content_sha256 == base and row[0].content_sha256 != digest:
                try:
                    shrinks(*row)
                except StorageError:
                    pass  # replaced meanwhile: the check under the lock sees the new copy
        return self._swap(user, manifest, digest, blob, base=base, force=force, shrinks=shrinks)

    def _is_shorter(self, new: Manifest, old: Manifest, cur: StoredSession) -> bool:
        """Is `new` the stored version cut short: every log a prefix of the stored one, and less in all?"""
        old_files = {e.path: e for e in old.files}
        new_logs = {e.path: e for e in new.files if is_log(e.path)}
        old_total = sum(e.size for e in old.files if is_log(e.path))
        if sum(e.size for e in new_logs.values()) >= old_total:
            return False
        need: dict[str, int] = {}
        for name, e in new_logs.items():
            o = old_files.get(name)
            if o is None or o.size < e.size:
                return False
            if o.size == e.size:
                if o.sha256 != e.sha256:
                    return False
            else:
                need[name] = e.size
        if not need:
            return True
        with self.open_blob(cur) as f:
            prefixes = streamed_delta.prefix_digests(f, need)
        return all(prefixes.get(n) == new_logs[n].sha256 for n in need)
