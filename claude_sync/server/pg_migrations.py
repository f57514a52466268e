"""The PostgreSQL schema, as numbered migrations applied at start-up, one replica at a time.

Every replica runs `migrate` when it starts. A session-level advisory lock makes the
others wait while one applies what is missing, each migration in its own transaction
with its row in `schema_migrations`; they then find nothing left to do. A database
migrated by a newer server is refused rather than misread.
"""

from __future__ import annotations

import logging

import psycopg

from .storage import StorageError

log = logging.getLogger(__name__)

# pg_advisory_lock(MIGRATION_LOCK, 0): the two-key form, so no session lock (one bigint key) can take it.
MIGRATION_LOCK = 0x43534D  # "CSM"

MIGRATIONS: list[str] = [
    # 1: users with their tokens and limits; sessions; bundles stored once per SHA-256, in chunks;
    # meta: what the data is (the format version of the sessions, format/version.py).
    """
    CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE users (
        name text PRIMARY KEY,
        created double precision NOT NULL,
        encrypted boolean NOT NULL DEFAULT false,
        quota_bytes bigint,
        retention_days integer
    );
    CREATE TABLE tokens (
        hash text PRIMARY KEY,
        user_name text NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        name text NOT NULL,
        created double precision NOT NULL,
        UNIQUE (user_name, name)
    );
    CREATE TABLE blobs (sha256 text PRIMARY KEY, size bigint NOT NULL);
    CREATE TABLE blob_chunks (
        sha256 text NOT NULL REFERENCES blobs(sha256) ON DELETE CASCADE,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (sha256, seq)
    );
    -- Bundles are gzip already: compressing the chunks again costs CPU and saves nothing.
    ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
    CREATE TABLE sessions (
        user_name text NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        -- "C": byte order, as SQLite sorts, and prefix LIKE can use the index
        session_id text COLLATE "C" NOT NULL,
        project_key text COLLATE "C" NOT NULL,
        device text NOT NULL,
        last_modified text,
        title text NOT NULL,
        message_count integer NOT NULL,
        size bigint NOT NULL,
        content_sha256 text NOT NULL,
        -- no cascade: a blob goes only when no session refers to it (see PostgresStorage._drop_blobs)
        sha256 text NOT NULL REFERENCES blobs(sha256),
        manifest text NOT NULL,
        updated_at bigint NOT NULL,  -- microseconds since the epoch
        PRIMARY KEY (user_name, session_id)
    );
    CREATE INDEX sessions_by_update ON sessions(user_name, updated_at);
    CREATE INDEX sessions_by_blob ON sessions(sha256);
    """,
]


def migrate(con: psycopg.Connection) -> int:
    """Bring the database to the latest schema (an autocommit connection); returns the version."""
    con.execute("SELECT pg_advisory_lock(%s, 0)", (MIGRATION_LOCK,))
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied double precision NOT NULL)"
        )
        row = con.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StorageError(
                f"the database was migrated by a newer claude-sync server (schema {version}, this one knows "
                f"{len(MIGRATIONS)}); upgrade this server"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            with con.transaction():
                con.execute(MIGRATIONS[number - 1])  # type: ignore[arg-type]  # our own constant SQL
                con.execute("INSERT INTO schema_migrations VALUES (%s, extract(epoch FROM now()))", (number,))
            log.info("database schema migrated to version %d", number)
        return len(MIGRATIONS)
    finally:
        con.execute("SELECT pg_advisory_unlock(%s, 0)", (MIGRATION_LOCK,))
