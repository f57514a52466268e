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
import hmac
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from ..format import version
from ..format.bundle import DEFAULT_MAX_BYTES, Manifest
from ..format.layout import is_session_prefix
from ..format.wire import PushReply, StoredSession, StoreStatus
from .auth import new_token, token_hash
from .pushes import BlobStorage, Current, FileUpload, Shrinks, check_quota, check_sealed, decide
from .records import (
    check_token_name,
    check_user_name,
    default_token_name,
    iso,
    micros,
    micros_iso,
    record_format,
    retention_cutoff,
    session_page_query,
)
from .storage import (
    UNSET,
    Page,
    StorageError,
    StorageStats,
    TokenInfo,
    Unset,
    UserInfo,
)

log = logging.getLogger(__name__)

__all__ = ["FileUpload", "SqliteStorage"]

SCHEMA_VERSION = 2
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
# Schema 2: named tokens, and each account's limits and end-to-end-encryption flag.
_SCHEMA_2 = """
ALTER TABLE tokens ADD COLUMN name TEXT;
UPDATE tokens SET name = 'token-' || rowid;
CREATE UNIQUE INDEX tokens_by_name ON tokens(user, name);
ALTER TABLE users ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN quota_bytes INTEGER;
ALTER TABLE users ADD COLUMN retention_days INTEGER;
"""
_COLUMNS = (
    "session_id, project_key, device, last_modified, title, message_count, size, content_sha256, sha256, updated_at"
)


def _run(con: sqlite3.Connection, script: str) -> None:
    """Each statement of a script inside the caller's transaction (executescript would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            con.execute(statement)


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


class SqliteStorage(BlobStorage):
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
            con.execute("BEGIN IMMEDIATE")  # one migrating process at a time
            try:
                _run(con, _SCHEMA)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', '1')")  # then migrated to the latest
                (schema,) = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if int(schema) == 1:
                    _run(con, _SCHEMA_2)
                    schema = "2"
                    con.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (schema,))
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        if int(schema) > SCHEMA_VERSION:
            raise StorageError(f"{self.data} was written by a newer claude-sync server (schema {schema}); upgrade")
        self.format_version = self._record_format()

    def _record_format(self) -> int:
        """The format version of the sessions stored here, brought up to this server's (never lowered)."""
        where = f"the server's data in {self.data}"
        with self._write() as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            return record_format(None if row is None else row[0], where, self._migrate, lambda now: con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(now),)
            ))

    def _migrate(self, step: version.Migration) -> None:
        version.migrate_nothing_stored(step)  # each step so far adds kinds of objects or keys, changes none

    # -- plumbing ----------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per use, not a pool: closing the last one checkpoints the WAL and removes it,
        # so rows a push replaced (a session's plain title before it was sealed) do not linger in
        # index.sqlite3-wal (tests/test_encryption.py). Pooling would save about 2 ms of a push's 25 (py-spy).
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

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole store in `target` (a new folder), while the server runs.

        The index through SQLite's online backup API; blobs are immutable once placed, so
        copying those the copied index refers to is enough.
        """
        target.mkdir(parents=True)
        (target / "tmp").mkdir()
        with self._connect() as con, contextlib.closing(sqlite3.connect(target / "index.sqlite3")) as out:
            # Pages copied at once: blobs stay referenced while the backup's snapshot is taken.
            con.backup(out)
            used = [r[0] for r in out.execute("SELECT DISTINCT sha256 FROM sessions")]
        for sha in used:
            dest = target / "blobs" / sha[:2] / sha
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(self.blob_path(sha), dest)
            except FileNotFoundError:
                raise StorageError(f"blob {sha} vanished during the backup: run it again") from None

    # -- users and tokens --------------------------------------------------

    def add_user(self, name: str, *, token_name: str | None = None) -> str:
        check_user_name(name)
        if token_name is not None:
            check_token_name(token_name)
        token = new_token()
        now = time.time()
        with self._write() as con:
            con.execute("INSERT OR IGNORE INTO users (name, created) VALUES (?, ?)", (name, now))
            if token_name is None:
                token_name = default_token_name(
                    {r[0] for r in con.execute("SELECT name FROM tokens WHERE user = ?", (name,))}
                )
            try:
                con.execute(
                    "INSERT INTO tokens (hash, user, created, name) VALUES (?, ?, ?, ?)",
                    (token_hash(token), name, now, token_name),
                )
            except sqlite3.IntegrityError:
                raise StorageError(f"{name} already has a token named {token_name!r}: revoke it first") from None
        return token

    def revoke(self, name: str, token_name: str | None = None) -> int:
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
                raise StorageError(f"no such user: {name}")
            if token_name is None:
                return con.execute("DELETE FROM tokens WHERE user = ?", (name,)).rowcount
            n = con.execute("DELETE FROM tokens WHERE user = ? AND name = ?", (name, token_name)).rowcount
            if n == 0:
                raise StorageError(f"{name} has no token named {token_name!r}")
            return n

    def tokens(self, name: str) -> list[TokenInfo]:
        with self._connect() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
                raise StorageError(f"no such user: {name}")
            rows = con.execute("SELECT name, created FROM tokens WHERE user = ? ORDER BY created, name", (name,))
            return [TokenInfo(r["name"], iso(r["created"])) for r in rows]

    def delete_user(self, name: str) -> int:
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
                raise StorageError(f"no such user: {name}")
            blobs = [r[0] for r in con.execute("SELECT DISTINCT sha256 FROM sessions WHERE user = ?", (name,))]
            n = con.execute("DELETE FROM sessions WHERE user = ?", (name,)).rowcount
            con.execute("DELETE FROM users WHERE name = ?", (name,))  # tokens cascade
        for sha in blobs:
            self._drop_blob_if_unused(sha)
        return n

    def set_account(
        self,
        name: str,
        *,
        quota_bytes: int | None | Unset = UNSET,
        retention_days: int | None | Unset = UNSET,
        encrypted: bool | Unset = UNSET,
    ) -> UserInfo:
        changes = {"quota_bytes": quota_bytes, "retention_days": retention_days, "encrypted": encrypted}
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
                raise StorageError(f"no such user: {name}")
            for column, value in changes.items():
                if value is not UNSET:
                    con.execute(f"UPDATE users SET {column} = ? WHERE name = ?", (value, name))
        info = self.user(name)
        assert info is not None
        return info

    def users(self) -> list[UserInfo]:
        return self._users(None)

    def user(self, name: str) -> UserInfo | None:
        found = self._users(name)
        return found[0] if found else None

    def is_encrypted(self, name: str) -> bool | None:
        with self._connect() as con:
            row = con.execute("SELECT encrypted FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else bool(row[0])

    def _users(self, name: str | None) -> list[UserInfo]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT name, created, encrypted, quota_bytes, retention_days,"
                " (SELECT COUNT(*) FROM tokens t WHERE t.user = u.name) AS tokens,"
                " (SELECT COUNT(*) FROM sessions s WHERE s.user = u.name) AS sessions,"
                " (SELECT COALESCE(SUM(size), 0) FROM sessions s WHERE s.user = u.name) AS bytes"
                f" FROM users u {'WHERE name = ?' if name is not None else ''} ORDER BY name",
                () if name is None else (name,),
            ).fetchall()
        return [
            UserInfo(
                r["name"],
                iso(r["created"]),
                r["tokens"],
                r["sessions"],
                r["bytes"],
                bool(r["encrypted"]),
                r["quota_bytes"],
                r["retention_days"],
            )
            for r in rows
        ]

    def user_for_token(self, token: str) -> str | None:
        if not token or len(token) > 512:
            return None
        wanted = token_hash(token)
        with self._connect() as con:
            row = con.execute("SELECT hash, user FROM tokens WHERE hash = ?", (wanted,)).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], wanted):
            return None
        return str(row["user"])

    def apply_retention(self, now: datetime | None = None) -> int:
        removed = 0
        with self._connect() as con:
            limits = con.execute("SELECT name, retention_days FROM users WHERE retention_days IS NOT NULL").fetchall()
        for name, days in limits:
            with self._write() as con:
                where = "WHERE user = ? AND updated_at < ?", (name, retention_cutoff(now, days))
                blobs = [r[0] for r in con.execute(f"SELECT DISTINCT sha256 FROM sessions {where[0]}", where[1])]
                removed += con.execute(f"DELETE FROM sessions {where[0]}", where[1]).rowcount
            for sha in blobs:
                self._drop_blob_if_unused(sha)
        return removed

    def remove(self, user: str, session_id: str, content_sha256: str) -> bool:
        with self._write() as con:
            row = con.execute(
                "DELETE FROM sessions WHERE user = ? AND session_id = ? AND content_sha256 = ? RETURNING sha256",
                (user, session_id, content_sha256),
            ).fetchone()
        if row is None:
            return False
        self._drop_blob_if_unused(row[0])
        return True

    def stats(self) -> StorageStats:
        with self._connect() as con:
            (users,) = con.execute("SELECT COUNT(*) FROM users").fetchone()
            sessions, size = con.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM sessions").fetchone()
        return StorageStats(users, sessions, size)

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
        sql, args = session_page_query(
            _COLUMNS, "user", "?", user, project=project, since=since, cursor=cursor, limit=limit
        )
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

    def _current(self, user: str, sid: str) -> Current | None:
        with self._connect() as con:
            return self._row(con, user, sid)

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
        sid = manifest.session_id
        with self._write() as con:
            account = con.execute("SELECT quota_bytes, encrypted FROM users WHERE name = ?", (user,)).fetchone()
            if account is None:
                raise StorageError(f"no such user: {user}")
            check_sealed(bool(account["encrypted"]), manifest)
            row = self._row(con, user, sid)
            cur = row[0] if row else None
            unchanged = decide(sid, row, digest, base, force, shrinks, manifest.project_key)
            if unchanged is not None:
                return unchanged
            if account["quota_bytes"] is not None:  # summing every session of the user costs: only when it counts
                (others,) = con.execute(
                    "SELECT COALESCE(SUM(size), 0) FROM sessions WHERE user = ? AND session_id != ?", (user, sid)
                ).fetchone()
                check_quota(user, account["quota_bytes"], others, blob.size)
            self._place_blob(blob, blob.sha256)
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
                    blob.sha256,
                    manifest.model_dump_json(),
                    micros(datetime.now(timezone.utc)),
                ),
            )
            row = self._row(con, user, sid)
            assert row is not None
            stored = row[0]
        if cur is not None and cur.sha256 and cur.sha256 != blob.sha256:
            self._drop_blob_if_unused(cur.sha256)
        return PushReply(result=StoreStatus.STORED, entry=stored)

    @staticmethod
    def _row(con: sqlite3.Connection, user: str, sid: str) -> Current | None:
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
