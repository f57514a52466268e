"""The embedded default storage: an SQLite index and a content-addressed blob folder.

Layout of the data dir:

    index.sqlite3          users, token hashes, and one row per (user, session)
    blobs/<s0s1>/<sha256>  each stored bundle, named by its SHA-256
    tmp/                   uploads in progress (emptied at start-up)

A push writes the upload to tmp/, fsyncs it, verifies it, and then, inside one
write transaction, checks the base, renames the blob into place (and fsyncs the
folder) before the index row commits. A crash at any point leaves at worst an
unreferenced blob or temp file, which start-up removes; never a listed bundle
whose bytes are missing or partial.

An append (a delta against the stored copy, see claude_sync/format/delta.py) is streamed
to tmp/ the same way; the new bundle is rebuilt from the stored one and the delta
into another temp file there, checked file by file, and then stored exactly as a
pushed bundle is.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import hmac
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from ..format import version
from ..format.bundle import DEFAULT_MAX_BYTES, Bundle, FileEntry, Manifest, content_digest, verify_file
from ..format.delta import read_header, result_manifest
from ..format.errors import BundleError
from ..format.layout import is_log, is_session_id, is_session_prefix
from ..format.wire import PushReply, StoredSession, StoreStatus
from . import streamed_delta
from .auth import new_token, token_hash
from .storage import (
    USER_NAME_RE,
    Page,
    StaleBase,
    Storage,
    StorageError,
    Upload,
    UserInfo,
    WouldShrink,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    user TEXT NOT NULL REFERENCES users(name),
    session_id TEXT NOT NULL,
    project_key TEXT NOT NULL,
    device TEXT NOT NULL,
    last_modified TEXT,
    title TEXT NOT NULL,
    message_count INTEGER NOT NULL,
    size INTEGER NOT NULL,
    content_sha256 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    manifest TEXT NOT NULL,
    updated_at INTEGER NOT NULL,  -- microseconds since the epoch
    PRIMARY KEY (user, session_id)
);
CREATE INDEX IF NOT EXISTS sessions_by_update ON sessions(user, updated_at);
CREATE INDEX IF NOT EXISTS sessions_by_blob ON sessions(sha256);
"""
_COLUMNS = (
    "session_id, project_key, device, last_modified, title, message_count, size, content_sha256, sha256, updated_at"
)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def micros(when: datetime) -> int:
    """Whole microseconds since the epoch (exact, so `since` a listed updated_at excludes that session)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - EPOCH) // timedelta(microseconds=1)


def micros_iso(us: int) -> str:
    return (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # pragma: no cover - directories cannot be fsynced there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _row_entry(row: sqlite3.Row) -> StoredSession:
    d = dict(row)
    d["updated_at"] = micros_iso(d["updated_at"])
    return StoredSession.model_validate(d)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class FileUpload(Upload):
    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".tar.gz", dir=folder)
        self.path = Path(name)
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
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None

    def discard(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class SqliteStorage(Storage):
    def __init__(self, data: Path, *, max_expanded_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.data = Path(data)
        self.db_path = self.data / "index.sqlite3"
        self.blobs = self.data / "blobs"
        self.tmp = self.data / "tmp"
        self.max_expanded_bytes = max_expanded_bytes
        # Writers in this process queue here rather than in SQLite's busy handler, which
        # polls with sleeps of up to 100 ms: under 50 concurrent pushes that was the p99.
        self._writer = threading.Lock()
        for d in (self.data, self.blobs, self.tmp):
            if not d.exists():
                d.mkdir(parents=True, exist_ok=True)
                if os.name != "nt":
                    os.chmod(d, 0o700)  # token hashes and everyone's sessions live here
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            (schema,) = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if int(schema) > SCHEMA_VERSION:
            raise StorageError(f"{self.data} was written by a newer claude-sync server (schema {schema}); upgrade")
        self.format_version = self._record_format()

    def _record_format(self) -> int:
        """The format version of the sessions stored here, brought up to this server's (never lowered)."""
        where = f"the server's data in {self.data}"
        with self._write() as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            recorded = None if row is None else version.parse(row[0], where)
            if recorded is not None and recorded > version.FORMAT_VERSION:
                log.warning("%s holds format %d, newer than this server writes: pushes are refused", where, recorded)
                return recorded
            now = version.upgrade(recorded, where, self._migrate)
            if now != recorded:
                con.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(now),))
        return now

    def _migrate(self, step: version.Migration) -> None:  # pragma: no cover - no migration exists yet
        raise StorageError(f"this server cannot bring its data to format {step.to} ({step.why})")

    # -- plumbing ----------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=FULL")
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; it also serializes blob renames and removals across processes."""
        with self._writer, self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def blob_path(self, sha: str) -> Path:
        return self.blobs / sha[:2] / sha

    def recover(self) -> None:
        """Remove what an interrupted push left: temp uploads and blobs no row refers to."""
        for p in self.tmp.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        with self._write() as con:
            used = {r[0] for r in con.execute("SELECT DISTINCT sha256 FROM sessions")}
            for sub in self.blobs.iterdir():
                if not sub.is_dir():
                    sub.unlink()
                    continue
                for p in sub.iterdir():
                    if p.name not in used:
                        log.info("removing unreferenced blob %s", p.name)
                        p.unlink()
                with contextlib.suppress(OSError):
                    sub.rmdir()  # only when empty

    # -- users and tokens --------------------------------------------------

    def add_user(self, name: str) -> str:
        if not USER_NAME_RE.match(name):
            raise StorageError(f"invalid user name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
        token = new_token()
        now = time.time()
        with self._write() as con:
            con.execute("INSERT OR IGNORE INTO users VALUES (?, ?)", (name, now))
            con.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token_hash(token), name, now))
        return token

    def revoke(self, name: str) -> int:
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
                raise StorageError(f"no such user: {name}")
            return con.execute("DELETE FROM tokens WHERE user = ?", (name,)).rowcount

    def users(self) -> list[UserInfo]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT name, created,"
                " (SELECT COUNT(*) FROM tokens t WHERE t.user = u.name) AS tokens,"
                " (SELECT COUNT(*) FROM sessions s WHERE s.user = u.name) AS sessions"
                " FROM users u ORDER BY name"
            ).fetchall()
        return [UserInfo(r["name"], iso(r["created"]), r["tokens"], r["sessions"]) for r in rows]

    def user_for_token(self, token: str) -> str | None:
        if not token or len(token) > 512:
            return None
        wanted = token_hash(token)
        with self._connect() as con:
            row = con.execute("SELECT hash, user FROM tokens WHERE hash = ?", (wanted,)).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], wanted):
            return None
        return str(row["user"])

    # -- sessions ----------------------------------------------------------

    def list_sessions(
        self,
        user: str,
        *,
        project: str | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 500,
    ) -> Page:
        sql = f"SELECT {_COLUMNS} FROM sessions WHERE user = ?"
        args: list[object] = [user]
        if project:
            project = project.strip("/")
            sql += " AND (project_key = ? OR project_key LIKE ? ESCAPE '\\')"
            args += [project, _like_escape(project) + "/%"]
        if since is not None:
            sql += " AND updated_at > ?"
            args.append(micros(since))
        if cursor:
            sql += " AND session_id > ?"
            args.append(cursor)
        sql += " ORDER BY session_id LIMIT ?"
        args.append(limit + 1)
        with self._connect() as con:
            rows = con.execute(sql, args).fetchall()
        entries = [_row_entry(r) for r in rows[:limit]]
        return Page(entries, entries[-1].session_id if len(rows) > limit else None)

    def find(self, user: str, prefix: str) -> list[StoredSession]:
        prefix = prefix.lower()
        if not is_session_prefix(prefix):
            return []
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE user = ? AND session_id LIKE ? ORDER BY session_id LIMIT 51",
                (user, prefix + "%"),
            ).fetchall()
        return [_row_entry(r) for r in rows]

    def open_blob(self, entry: StoredSession) -> BinaryIO:
        assert entry.sha256
        try:
            return open(self.blob_path(entry.sha256), "rb")
        except FileNotFoundError as e:
            raise StorageError(f"the stored bundle of session {entry.session_id} is missing") from e

    def new_upload(self) -> FileUpload:
        return FileUpload(self.tmp)

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
            return self._store(user, manifest, upload, base=base, force=force)
        finally:
            upload.discard()

    def commit_append(
        self, user: str, session_id: str, upload: Upload, *, base: str, force: bool, max_bundle_bytes: int
    ) -> PushReply:
        assert isinstance(upload, FileUpload)
        rebuilt: FileUpload | None = None
        try:
            upload.finish()
            if not is_session_id(session_id):
                raise BundleError(f"not a session id: {session_id!r}")
            with gzip.open(upload.path, "rb") as payloads:
                header = read_header(payloads)
                if header.manifest.session_id != session_id:
                    raise BundleError(f"the delta is for session {header.manifest.session_id}, not {session_id}")
                with self._connect() as con:
                    row = self._current(con, user, session_id)
                cur = row[0] if row else None
                if cur is not None and cur.content_sha256 == header.content_sha256:
                    return PushReply(result=StoreStatus.UNCHANGED, entry=cur)
                if row is None or row[0].content_sha256 != base:
                    raise StaleBase(f"session {session_id} changed on the server since version {base}", cur)
                old = Manifest.model_validate_json(row[1])
                result = result_manifest(old.files, header, max_bytes=self.max_expanded_bytes)
                try:
                    blob = self.open_blob(row[0])
                except StorageError:
                    with self._connect() as con:
                        now = self._current(con, user, session_id)
                    if now is None or now[0].content_sha256 != base:  # replaced meanwhile, its blob dropped
                        raise StaleBase(
                            f"session {session_id} changed on the server since version {base}", now[0] if now else None
                        ) from None
                    raise
                rebuilt = FileUpload(self.tmp)
                with blob:
                    streamed_delta.rebuild(
                        blob, old, payloads, header, result, rebuilt, scratch=self.new_upload, limit=max_bundle_bytes
                    )
            rebuilt.finish()
            return self._store(user, result, rebuilt, base=base, force=force)
        finally:
            upload.discard()
            if rebuilt is not None:
                rebuilt.discard()

    def manifest(self, user: str, session_id: str) -> tuple[StoredSession, Manifest] | None:
        with self._connect() as con:
            row = self._current(con, user, session_id)
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
        return entry, streamed_delta.download(blob, manifest, entry.content_sha256, have, scratch=self.new_upload)

    def _store(
        self, user: str, manifest: Manifest, blob: FileUpload, *, base: str | None, force: bool
    ) -> PushReply:
        """Compare-and-swap a finished, verified bundle of `manifest` into place (the row and its blob)."""
        sid = manifest.session_id
        bundle_sha256 = blob.sha256
        digest = content_digest(Bundle(manifest, {}))
        shrink_checked: dict[str, bool] = {}  # current digest -> would the push shrink it

        def shrinks(cur: StoredSession, cur_manifest: str) -> bool:
            if cur.content_sha256 not in shrink_checked:
                old = Manifest.model_validate_json(cur_manifest)
                shrink_checked[cur.content_sha256] = self._is_shorter(manifest, old, cur)
            return shrink_checked[cur.content_sha256]

        if not force:  # the expensive check runs outside the write lock
            with self._connect() as con:
                row = self._current(con, user, sid)
            if row is not None and row[0].content_sha256 == base and row[0].content_sha256 != digest:
                shrinks(*row)
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone() is None:
                raise StorageError(f"no such user: {user}")
            row = self._current(con, user, sid)
            cur = row[0] if row else None
            if cur is not None and cur.content_sha256 == digest:
                return PushReply(result=StoreStatus.UNCHANGED, entry=cur)
            if (cur.content_sha256 if cur else None) != base:
                raise StaleBase(f"session {sid} changed on the server since version {base or '(none)'}", cur)
            if not force:
                if row is not None and shrinks(*row):
                    raise WouldShrink(
                        f"session {sid} on the server is a longer version of this one; pull it, or push with force to replace it",
                        row[0],
                    )
            self._place_blob(blob, bundle_sha256)
            now = micros(datetime.now(timezone.utc))
            con.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user,
                    sid,
                    manifest.project_key,
                    manifest.device,
                    manifest.last_modified,
                    manifest.title,
                    manifest.message_count,
                    blob.size,
                    digest,
                    bundle_sha256,
                    manifest.model_dump_json(),
                    now,
                ),
            )
            row = self._current(con, user, sid)
            assert row is not None
            stored = row[0]
        if cur is not None and cur.sha256 and cur.sha256 != bundle_sha256:
            self._drop_blob_if_unused(cur.sha256)
        return PushReply(result=StoreStatus.STORED, entry=stored)

    def _current(self, con: sqlite3.Connection, user: str, sid: str) -> tuple[StoredSession, str] | None:
        row = con.execute(
            f"SELECT {_COLUMNS}, manifest FROM sessions WHERE user = ? AND session_id = ?", (user, sid)
        ).fetchone()
        if row is None:
            return None
        d = dict(row)
        manifest = d.pop("manifest")
        d["updated_at"] = micros_iso(d["updated_at"])
        return StoredSession.model_validate(d), manifest

    def _place_blob(self, upload: FileUpload, sha: str) -> None:
        """Rename a finished upload into the blob folder (already there: same bytes, keep it)."""
        target = self.blob_path(sha)
        if target.exists():
            return
        target.parent.mkdir(exist_ok=True)
        os.replace(upload.path, target)
        _fsync_dir(target.parent)

    def _drop_blob_if_unused(self, sha: str) -> None:
        try:
            with self._write() as con:  # no push can rename the same blob in meanwhile
                if con.execute("SELECT 1 FROM sessions WHERE sha256 = ? LIMIT 1", (sha,)).fetchone() is None:
                    with contextlib.suppress(FileNotFoundError):
                        self.blob_path(sha).unlink()
        except OSError as e:  # start-up recovery removes it later
            log.warning("could not remove replaced blob %s: %s", sha, e)

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
        assert cur.sha256
        prefixes = self._prefix_digests(self.blob_path(cur.sha256), need)
        return all(prefixes.get(n) == new_logs[n].sha256 for n in need)

    @staticmethod
    def _prefix_digests(blob: Path, wanted: dict[str, int]) -> dict[str, str]:
        """SHA-256 of the first `wanted[name]` bytes of each named file in a stored bundle, streamed."""
        with open(blob, "rb") as f:
            return streamed_delta.prefix_digests(f, wanted)
