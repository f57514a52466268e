"""The team-scale storage: everything in PostgreSQL, so that server replicas share nothing else.

Tables (see pg_migrations.py): users, tokens (hashed), sessions (one row per user and
session), blobs (one per bundle SHA-256) and blob_chunks (the bundle's bytes, 1 MiB a
row). Uploads are received into temp files on the replica's own disk, verified there,
and stored by one transaction:

    lock the session (a transaction-scoped advisory lock on user/session id)
    -> decide (identical, stale base, would shrink) -> check the quota
    -> insert the blob and its chunks unless that SHA-256 is there already
    -> upsert the session row -> commit

so a replica killed at any point leaves nothing half-stored: PostgreSQL rolls the
transaction back. A replaced bundle is deleted after the commit when no row refers to
it; the foreign key from sessions to blobs makes a deletion that races a push taking
the same blob fail instead of losing it, and start-up sweeps what a crash left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..format import version
from ..format.bundle import DEFAULT_MAX_BYTES, Manifest
from ..format.layout import is_session_prefix
from ..format.wire import PushReply, StoredSession, StoreStatus
from .auth import new_token, token_hash
from .pg_migrations import MIGRATION_LOCK, migrate
from .pushes import BlobStorage, Current, FileUpload, Shrinks, check_quota, check_sealed, decide
from .records import (
    check_token_name,
    check_user_name,
    default_token_name,
    iso,
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
    StorageUnavailable,
    TokenInfo,
    Unset,
    UserInfo,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes of a bundle per blob_chunks row
SPOOL = 8 << 20  # a bundle read back stays in memory up to this size, then goes to a temp file
POOL_SIZE_ENV = "CLAUDE_SYNC_DB_POOL_SIZE"
_COLUMNS = (
    "session_id, project_key, device, last_modified, title, message_count, size, content_sha256, sha256, updated_at"
)
# The database's clock, not the replica's: `since` compares times written by every replica.
_NOW_MICROS = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"


def redact_url(url: str) -> str:
    """The URL without its password, for logs and errors."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://…"
    host, port, db = info.get("host", ""), info.get("port", ""), info.get("dbname", "")
    return f"postgresql://{info.get('user', '')}@{host}{':' + str(port) if port else ''}/{db}"


def _check_idle(con: psycopg.Connection[Any]) -> None:
    """Check a pooled connection on checkout without a round trip while its socket is quiet.

    An idle connection has nothing to read; one the database closed (a restart,
    pg_terminate_backend, a failover) has its FATAL notice or its end of stream waiting,
    and only then is it asked a query, which raises and has the pool replace it. An
    empty query on every checkout cost a round trip per statement group, several per
    request. A connection lost without a word (a cut network) fails its request with a
    503, as it would have hung the check before.
    """
    if con.closed:
        raise psycopg.OperationalError("connection is closed")
    readable, _, _ = select.select([con.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(con)


UPLOADS_PREFIX = "claude-sync-replica-uploads-"


def uploads_folder(base: Path | None = None) -> tuple[Path, int | None]:
    """A folder of this replica's own for uploads in flight (in TMPDIR), and the descriptor that
    holds its lock: the kernel drops the lock when the process ends, however it ends.

    The folders that replicas killed on this machine left behind (a `kill -9` mid-upload leaves
    the upload too) are removed here: those whose lock nobody holds. A folder is locked before it
    takes its swept name, so no replica sweeps another's that is just starting."""
    base = Path(tempfile.gettempdir()) if base is None else base
    try:
        import fcntl
    except ImportError:  # not POSIX: nothing to lock, nothing swept
        return Path(tempfile.mkdtemp(prefix=UPLOADS_PREFIX, dir=base)), None
    staging = Path(tempfile.mkdtemp(prefix=".claude-sync-replica-starting-", dir=base))
    fd = os.open(staging, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new: nobody else holds it
    folder = staging.with_name(UPLOADS_PREFIX + staging.name.rsplit("-", 1)[1])
    os.rename(staging, folder)
    for left in base.glob(UPLOADS_PREFIX + "*"):
        if left == folder:
            continue
        try:
            other = os.open(left, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(other)  # a running replica holds it
            continue
        log.info("removing %s, left by a replica that has stopped", left)
        shutil.rmtree(left, ignore_errors=True)
        os.close(other)
    return folder, fd


def _entry(row: dict[str, Any]) -> StoredSession:
    d = dict(row)
    d["updated_at"] = micros_iso(d["updated_at"])
    return StoredSession.model_validate(d)


class PostgresStorage(BlobStorage):
    keeps_upload_files = False  # bundles are copied into the database; its commit makes them durable

    def __init__(self, url: str, *, max_expanded_bytes: int = DEFAULT_MAX_BYTES, pool_size: int | None = None) -> None:
        self.url = url
        self.max_expanded_bytes = max_expanded_bytes
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as con:
                self.schema = migrate(con)
                self.format_version = self._record_format(con, redact_url(url))
        except psycopg.OperationalError as e:
            raise StorageError(f"cannot reach the database {redact_url(url)}: {e}") from e
        size = pool_size or int(os.environ.get(POOL_SIZE_ENV) or 10)
        # `check`: a connection the database dropped (a restart, a failover) is replaced on
        # checkout, instead of failing the request that drew it (see _check_idle).
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True},
            # How long a request waits for a connection: then 503 (clients retry) rather than hang.
            timeout=10,
            open=True,
            name="claude-sync",
            check=_check_idle,
        )
        self._pinned = threading.local()  # the connection a commit holds from its first statement on
        # Uploads land on this replica's disk only while a request lasts; nothing here is shared.
        self.tmp, self._tmp_lock = uploads_folder()

    def _record_format(self, con: psycopg.Connection[Any], where: str) -> int:
        """The format version of the sessions stored here, brought up to this server's (never lowered)."""
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s, 1)", (MIGRATION_LOCK,))  # one replica at a time
            row = con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            return record_format(
                None if row is None else row[0],
                f"the database {where}",
                self._migrate,
                lambda now: con.execute(
                    "INSERT INTO meta VALUES ('format', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (str(now),),
                ),
            )

    def _migrate(self, step: version.Migration) -> None:
        version.migrate_nothing_stored(step)  # each step so far adds kinds of objects or keys, changes none

    def close(self) -> None:
        self.pool.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._tmp_lock is not None:
            os.close(self._tmp_lock)

    # -- plumbing ----------------------------------------------------------

    @contextmanager
    def _con(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection; a lost or unreachable database is StorageUnavailable (503: retry).

        Inside `_pin`, the same connection each time (drawn at the first use)."""
        pin: ExitStack | None = getattr(self._pinned, "stack", None)
        try:
            if pin is None:
                with self.pool.connection() as con:
                    con.row_factory = dict_row  # type: ignore[assignment]
                    yield cast("psycopg.Connection[dict[str, Any]]", con)
                return
            held: psycopg.Connection[Any] | None = getattr(self._pinned, "con", None)
            if held is None:
                held = self._pinned.con = pin.enter_context(self.pool.connection())
                held.row_factory = dict_row  # type: ignore[assignment]
            yield cast("psycopg.Connection[dict[str, Any]]", held)
        except (psycopg.OperationalError, PoolTimeout) as e:
            raise StorageUnavailable(f"the database does not answer: {type(e).__name__}") from e

    @contextmanager
    def _pin(self) -> Iterator[None]:
        """Every statement of one push or append on one pooled connection: a checkout each
        (and the pool's bookkeeping) cost more than the statements they carried."""
        if getattr(self._pinned, "stack", None) is not None:  # nested: the outer one holds it
            yield
            return
        self._pinned.stack = stack = ExitStack()
        try:
            with stack:
                yield
        except (psycopg.OperationalError, PoolTimeout) as e:  # raised while giving the connection back
            raise StorageUnavailable(f"the database does not answer: {type(e).__name__}") from e
        finally:
            self._pinned.stack = self._pinned.con = None

    def ping(self) -> None:
        try:
            with self.pool.connection(timeout=3) as con:
                con.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout) as e:
            raise StorageError(f"the database does not answer: {type(e).__name__}") from e

    def recover(self) -> None:
        """Remove bundles no session refers to (a replica that died between a commit and its clean-up)."""
        with self._con() as con:
            orphans = [
                r["sha256"]
                for r in con.execute(
                    "SELECT sha256 FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.sha256 = b.sha256)"
                )
            ]
        self._drop_blobs(orphans)

    def _drop_blobs(self, shas: Iterable[str]) -> None:
        for sha in set(shas):
            try:
                with self._con() as con:
                    con.execute(
                        "DELETE FROM blobs b WHERE sha256 = %s"
                        " AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.sha256 = b.sha256)",
                        (sha,),
                    )
            except errors.ForeignKeyViolation:
                pass  # a push took this bundle meanwhile: it stays
            except (psycopg.Error, StorageError) as e:  # start-up recovery removes it later
                log.warning("could not remove replaced blob %s: %s", sha, e)

    # -- users and tokens --------------------------------------------------

    def _require_user(self, con: psycopg.Connection[Any], name: str) -> None:
        if con.execute("SELECT 1 FROM users WHERE name = %s", (name,)).fetchone() is None:
            raise StorageError(f"no such user: {name}")

    def add_user(self, name: str, *, token_name: str | None = None) -> str:
        check_user_name(name)
        if token_name is not None:
            check_token_name(token_name)
        token = new_token()
        now = time.time()
        with self._con() as con, con.transaction():
            con.execute("INSERT INTO users (name, created) VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, now))
            con.execute("SELECT 1 FROM users WHERE name = %s FOR UPDATE", (name,))  # one new token at a time
            if token_name is None:
                taken = {r["name"] for r in con.execute("SELECT name FROM tokens WHERE user_name = %s", (name,))}
                token_name = default_token_name(taken)
            try:
                con.execute(
                    "INSERT INTO tokens (hash, user_name, name, created) VALUES (%s, %s, %s, %s)",
                    (token_hash(token), name, token_name, now),
                )
            except errors.UniqueViolation:
                raise StorageError(f"{name} already has a token named {token_name!r}: revoke it first") from None
        return token

    def revoke(self, name: str, token_name: str | None = None) -> int:
        with self._con() as con, con.transaction():
            self._require_user(con, name)
            if token_name is None:
                return con.execute("DELETE FROM tokens WHERE user_name = %s", (name,)).rowcount
            n = con.execute("DELETE FROM tokens WHERE user_name = %s AND name = %s", (name, token_name)).rowcount
            if n == 0:
                raise StorageError(f"{name} has no token named {token_name!r}")
            return n

    def tokens(self, name: str) -> list[TokenInfo]:
        with self._con() as con:
            self._require_user(con, name)
            rows = con.execute(
                "SELECT name, created FROM tokens WHERE user_name = %s ORDER BY created, name", (name,)
            ).fetchall()
        return [TokenInfo(r["name"], iso(r["created"])) for r in rows]

    def delete_user(self, name: str) -> int:
        with self._con() as con, con.transaction():
            self._require_user(con, name)
            rows = con.execute("DELETE FROM sessions WHERE user_name = %s RETURNING sha256", (name,)).fetchall()
            con.execute("DELETE FROM users WHERE name = %s", (name,))  # tokens cascade
        self._drop_blobs(r["sha256"] for r in rows)
        return len(rows)

    def set_account(
        self,
        name: str,
        *,
        quota_bytes: int | None | Unset = UNSET,
        retention_days: int | None | Unset = UNSET,
        encrypted: bool | Unset = UNSET,
    ) -> UserInfo:
        changes = {"quota_bytes": quota_bytes, "retention_days": retention_days, "encrypted": encrypted}
        with self._con() as con, con.transaction():
            self._require_user(con, name)
            for column, value in changes.items():
                if value is not UNSET:  # column names are ours, never the caller's
                    con.execute(f"UPDATE users SET {column} = %s WHERE name = %s", (value, name))  # type: ignore[arg-type]
        info = self.user(name)
        assert info is not None
        return info

    def users(self) -> list[UserInfo]:
        return self._users(None)

    def user(self, name: str) -> UserInfo | None:
        found = self._users(name)
        return found[0] if found else None

    def is_encrypted(self, name: str) -> bool | None:
        with self._con() as con:
            row = con.execute("SELECT encrypted FROM users WHERE name = %s", (name,)).fetchone()
        return None if row is None else bool(row["encrypted"])

    def _users(self, name: str | None) -> list[UserInfo]:
        with self._con() as con:
            rows = con.execute(
                "SELECT u.name, u.created, u.encrypted, u.quota_bytes, u.retention_days,"
                " (SELECT COUNT(*) FROM tokens t WHERE t.user_name = u.name) AS tokens,"
                " COUNT(s.session_id) AS sessions, COALESCE(SUM(s.size), 0) AS bytes"
                " FROM users u LEFT JOIN sessions s ON s.user_name = u.name"
                " WHERE %(name)s::text IS NULL OR u.name = %(name)s"
                " GROUP BY u.name ORDER BY u.name",
                {"name": name},
            ).fetchall()
        return [
            UserInfo(
                r["name"],
                iso(r["created"]),
                int(r["tokens"]),
                int(r["sessions"]),
                int(r["bytes"]),
                bool(r["encrypted"]),
                r["quota_bytes"],
                r["retention_days"],
            )
            for r in rows
        ]

    def user_for_token(self, token: str) -> str | None:
        if not token or len(token) > 512:
            return None
        with self._con() as con:
            row = con.execute("SELECT user_name FROM tokens WHERE hash = %s", (token_hash(token),)).fetchone()
        return None if row is None else str(row["user_name"])

    def apply_retention(self, now: datetime | None = None) -> int:
        with self._con() as con:
            limits = con.execute("SELECT name, retention_days FROM users WHERE retention_days IS NOT NULL").fetchall()
        removed = 0
        for r in limits:
            with self._con() as con:
                rows = con.execute(
                    "DELETE FROM sessions WHERE user_name = %s AND updated_at < %s RETURNING sha256",
                    (r["name"], retention_cutoff(now, r["retention_days"])),
                ).fetchall()
            self._drop_blobs(x["sha256"] for x in rows)
            removed += len(rows)
        return removed

    def remove(self, user: str, session_id: str, content_sha256: str) -> bool:
        with self._con() as con:
            rows = con.execute(
                "DELETE FROM sessions WHERE user_name = %s AND session_id = %s AND content_sha256 = %s RETURNING sha256",
                (user, session_id, content_sha256),
            ).fetchall()
        self._drop_blobs(x["sha256"] for x in rows)
        return bool(rows)

    def stats(self) -> StorageStats:
        with self._con() as con:
            row = con.execute(
                "SELECT (SELECT COUNT(*) FROM users) AS users, COUNT(*) AS sessions,"
                " COALESCE(SUM(size), 0) AS bytes FROM sessions"
            ).fetchone()
        assert row is not None
        return StorageStats(int(row["users"]), int(row["sessions"]), int(row["bytes"]))

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
            _COLUMNS, "user_name", "%s", user, project=project, since=since, cursor=cursor, limit=limit
        )
        with self._con() as con:
            rows = con.execute(sql, args).fetchall()  # type: ignore[arg-type]  # built from our own fragments
        entries = [_entry(r) for r in rows[:limit]]
        return Page(entries, entries[-1].session_id if len(rows) > limit else None)

    def find(self, user: str, prefix: str) -> list[StoredSession]:
        prefix = prefix.lower()
        if not is_session_prefix(prefix):
            return []
        with self._con() as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE user_name = %s AND session_id LIKE %s"  # type: ignore[arg-type]
                " ORDER BY session_id LIMIT 51",
                (user, prefix + "%"),
            ).fetchall()
        return [_entry(r) for r in rows]

    def open_blob(self, entry: StoredSession) -> BinaryIO:
        """The bundle, copied out in one statement (one snapshot): a later replacement cannot cut it short."""
        assert entry.sha256
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL, dir=str(self.tmp))  # noqa: SIM115 - returned open
        try:
            size = 0
            query = "SELECT data FROM blob_chunks WHERE sha256 = %s ORDER BY seq"
            if entry.size <= SPOOL:  # it is held in memory anyway: one round trip, not a cursor's five
                with self._con() as con:
                    for row in con.execute(query, (entry.sha256,)):
                        spool.write(row["data"])
                        size += len(row["data"])
            else:
                with self._con() as con, con.transaction():
                    chunks = con.cursor(name="blob_chunks", row_factory=psycopg.rows.tuple_row)
                    chunks.itersize = 8
                    chunks.execute(query, (entry.sha256,))
                    for (data,) in chunks:
                        spool.write(data)
                        size += len(data)
                    chunks.close()
            if size != entry.size:
                raise StorageError(f"the stored bundle of session {entry.session_id} is missing")
            spool.seek(0)
            return cast(BinaryIO, spool)
        except BaseException:
            spool.close()
            raise

    def _one_connection(self) -> contextlib.AbstractContextManager[None]:
        return self._pin()

    def _current(self, user: str, sid: str) -> Current | None:
        with self._con() as con:
            return self._row(con, user, sid)

    @staticmethod
    def _row(con: psycopg.Connection[Any], user: str, sid: str) -> Current | None:
        row = con.execute(
            f"SELECT {_COLUMNS}, manifest FROM sessions WHERE user_name = %s AND session_id = %s",  # type: ignore[arg-type]
            (user, sid),
        ).fetchone()
        if row is None:
            return None
        manifest = row.pop("manifest")
        return _entry(row), manifest

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
        with self._con() as con, con.transaction():
            # Every replica's writers of this session queue here; other sessions go on in parallel.
            con.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{user}/{sid}",))
            # The account and the session's row in one statement (after the lock: its snapshot sees
            # whatever the writer before us committed).
            account = con.execute(
                f"SELECT u.quota_bytes, u.encrypted, {_COLUMNS}, s.manifest FROM users u"  # type: ignore[arg-type]
                " LEFT JOIN sessions s ON s.user_name = u.name AND s.session_id = %s WHERE u.name = %s",
                (sid, user),
            ).fetchone()
            if account is None:
                raise StorageError(f"no such user: {user}")
            quota, encrypted = account.pop("quota_bytes"), account.pop("encrypted")
            check_sealed(bool(encrypted), manifest)
            if quota is not None:  # the user's pushes to other sessions must not pass it together
                con.execute("SELECT 1 FROM users WHERE name = %s FOR NO KEY UPDATE", (user,))
            manifest_json = account.pop("manifest")
            row = None if account["session_id"] is None else (_entry(account), manifest_json)
            cur = row[0] if row else None
            unchanged = decide(sid, row, digest, base, force, shrinks, manifest.project_key)
            if unchanged is not None:
                return unchanged
            if quota is not None:
                others = con.execute(
                    "SELECT COALESCE(SUM(size), 0) AS n FROM sessions WHERE user_name = %s AND session_id <> %s",
                    (user, sid),
                ).fetchone()
                assert others is not None
                check_quota(user, quota, int(others["n"]), blob.size)
            self._put_blob(con, blob)
            stored = con.execute(
                f"INSERT INTO sessions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {_NOW_MICROS})"  # type: ignore[arg-type]
                " ON CONFLICT (user_name, session_id) DO UPDATE SET project_key = EXCLUDED.project_key,"
                " device = EXCLUDED.device, last_modified = EXCLUDED.last_modified, title = EXCLUDED.title,"
                " message_count = EXCLUDED.message_count, size = EXCLUDED.size,"
                " content_sha256 = EXCLUDED.content_sha256, sha256 = EXCLUDED.sha256,"
                f" manifest = EXCLUDED.manifest, updated_at = EXCLUDED.updated_at RETURNING {_COLUMNS}",
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
                ),
            ).fetchone()
            assert stored is not None
        if cur is not None and cur.sha256 and cur.sha256 != blob.sha256:
            self._drop_blobs([cur.sha256])
        return PushReply(result=StoreStatus.STORED, entry=_entry(stored))

    @staticmethod
    def _put_blob(con: psycopg.Connection[Any], blob: FileUpload) -> None:
        """The bundle's row and chunks, unless that SHA-256 is stored already.

        DO UPDATE (not DO NOTHING) locks an existing row until commit, so a concurrent
        clean-up cannot delete it between here and the session row that refers to it.
        """
        upsert = (
            "INSERT INTO blobs VALUES (%s, %s) ON CONFLICT (sha256) DO UPDATE SET size = EXCLUDED.size"
            " RETURNING (xmax = 0) AS inserted"
        )
        if blob.size <= CHUNK:  # one chunk (most bundles): the row and its chunk in one statement
            with open(blob.path, "rb") as f:
                data = f.read(CHUNK + 1)
            if len(data) != blob.size:
                raise StorageError("an upload changed size on this replica's disk")
            con.execute(
                f"WITH b AS ({upsert}) INSERT INTO blob_chunks (sha256, seq, data)"  # type: ignore[arg-type]
                " SELECT %s, 0, %s FROM b WHERE b.inserted",
                (blob.sha256, blob.size, blob.sha256, data),
            )
            return
        row = con.execute(upsert, (blob.sha256, blob.size)).fetchone()
        assert row is not None
        if not row["inserted"]:
            return
        with con.cursor().copy("COPY blob_chunks (sha256, seq, data) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "int4", "bytea"])
            with open(blob.path, "rb") as f:
                for seq, data in enumerate(_read_chunks(f)):
                    copy.write_row((blob.sha256, seq, data))


def _read_chunks(f: IO[bytes]) -> Iterator[bytes]:
    while data := f.read(CHUNK):
        yield data
