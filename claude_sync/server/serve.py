"""`claude-sync serve`: run the sync server with uvicorn, on SQLite (one process) or PostgreSQL (replicas)."""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import platformdirs

from ..format.errors import ConfigError
from ..format.locking import Busy, exclusive
from .app import DEFAULT_MAX_BUNDLE_BYTES, create_app
from .auth import RedactTokens
from .slow_clients import DEFAULT_READ_TIMEOUT, timely_protocol
from .sqlite_storage import SqliteStorage
from .storage import Storage

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

log = logging.getLogger("claude_sync.server")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("claude-sync-server", appauthor=False))


def logging_config() -> dict:
    """uvicorn's logging, with every handler redacting bearer tokens and our own logger included."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg.setdefault("filters", {})["redact"] = {"()": RedactTokens}
    for handler in cfg["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    cfg["loggers"]["claude_sync"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return cfg


RETENTION_EVERY = 3600.0  # seconds between two sweeps of expired sessions


def _draining_server(config: uvicorn.Config, app: FastAPI) -> uvicorn.Server:
    """uvicorn's server that, told to stop, first marks the app not ready (/readyz answers 503).

    uvicorn then stops accepting connections and lets the requests in flight (an upload
    half received, say) finish, for up to `timeout_graceful_shutdown` seconds.
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app.state.draining = True
            super().handle_exit(sig, frame)

    return Server(config)


def _sweep_retention(storage: Storage, stop: threading.Event) -> None:
    """Every replica sweeps; deleting what another replica deleted first is a no-op."""
    while not stop.is_set():
        try:
            removed = storage.apply_retention()
            if removed:
                log.info("retention: removed %d expired session(s)", removed)
        except Exception as e:  # the database may be away for a while; try again next time
            log.warning("retention sweep failed: %s", e)
        stop.wait(RETENTION_EVERY)


def serve(
    data: Path | None = None,
    *,
    database: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8787,
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
    require_encryption: bool = False,
    drain_seconds: float = 30.0,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> None:
    """Serve from PostgreSQL (`database`, any number of replicas) or SQLite (`data`, one process)."""
    if database:
        from .pg_storage import PostgresStorage, redact_url

        storage: Storage = PostgresStorage(database)  # migrates, under a lock shared with the other replicas
        try:
            storage.recover()  # type: ignore[attr-defined]
            _run(
                storage,
                f"database {redact_url(database)}",
                host,
                port,
                max_bundle_bytes,
                require_encryption,
                drain_seconds,
                read_timeout,
            )
        finally:
            storage.close()
        return
    data = data or default_data_dir()
    sqlite = SqliteStorage(data)
    try:
        # One server per data dir: start-up recovery removes what no live push could still need.
        with exclusive(data / "server.lock", timeout=0):
            sqlite.recover()
            _run(sqlite, f"data in {data}", host, port, max_bundle_bytes, require_encryption, drain_seconds, read_timeout)
    except Busy as e:
        raise ConfigError(f"another claude-sync server is already using {data}") from e


def _run(
    storage: Storage,
    where: str,
    host: str,
    port: int,
    max_bundle_bytes: int,
    require_encryption: bool,
    drain_seconds: float,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> None:
    import uvicorn

    app = create_app(storage, max_bundle_bytes=max_bundle_bytes, require_encryption=require_encryption)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=logging_config(),
        server_header=False,
        proxy_headers=True,
        timeout_graceful_shutdown=int(drain_seconds) if drain_seconds else None,
        http=timely_protocol(read_timeout),
    )
    server = _draining_server(config, app)
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_retention, args=(storage, stop), name="retention", daemon=True)
    sweeper.start()
    log.info(
        "claude-sync server: %s, bundles up to %d bytes%s",
        where,
        max_bundle_bytes,
        ", encrypted accounts only" if require_encryption else "",
    )
    try:
        server.run()
    finally:
        stop.set()
