"""Which store a server (or an administrator's command) opens: PostgreSQL for a URL, else SQLite."""

from __future__ import annotations

from pathlib import Path

from ..format.errors import ConfigError
from .storage import Storage, StorageError


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_storage(
    data: Path | None = None, *, database: str | None = None, max_expanded_bytes: int | None = None
) -> Storage:
    """PostgreSQL when `database` is a postgresql:// URL, else the embedded default under `data`."""
    kw = {"max_expanded_bytes": max_expanded_bytes} if max_expanded_bytes else {}
    if database:
        if not is_postgres_url(database):
            raise StorageError("--database takes a postgresql:// URL (without it, --data DIR keeps SQLite)")
        try:
            from .pg_storage import PostgresStorage
        except ImportError as e:  # the optional extra is not installed
            raise ConfigError(
                f"PostgreSQL needs psycopg ({e.name} is missing): pip install 'claude-sync-sessions[server]'"
            ) from e

        return PostgresStorage(database, **kw)
    if data is None:
        raise StorageError("no storage given: --data DIR or --database URL")
    from .sqlite_storage import SqliteStorage

    return SqliteStorage(data, **kw)
