"""`claude-sync serve`: run the sync server with uvicorn on one data dir."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import platformdirs

from ..format.errors import ConfigError
from ..format.locking import Busy, exclusive
from .app import DEFAULT_MAX_BUNDLE_BYTES, create_app
from .auth import RedactTokens
from .slow_clients import DEFAULT_READ_TIMEOUT, timely_protocol
from .sqlite_storage import SqliteStorage

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


def serve(
    data: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> None:
    import uvicorn

    data = data or default_data_dir()
    storage = SqliteStorage(data)
    try:
        # One server per data dir: start-up recovery removes what no live push could still need.
        with exclusive(data / "server.lock", timeout=0):
            storage.recover()
            app = create_app(storage, max_bundle_bytes=max_bundle_bytes)
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=logging_config(),
                server_header=False,
                proxy_headers=True,
                http=timely_protocol(read_timeout),
            )
            server = uvicorn.Server(config)
            log.info("claude-sync server: data in %s, bundles up to %d bytes", data, max_bundle_bytes)
            server.run()
    except Busy as e:
        raise ConfigError(f"another claude-sync server is already using {data}") from e
