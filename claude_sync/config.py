"""Where things live on this device, and the user's settings (config.json)."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from . import atomic
from .format.errors import ConfigError, SyncError
from .format.tokens import Flavour

CONFIG_VERSION = 1


def home_dir() -> Path:
    return Path(os.path.expanduser("~"))


def claude_config_dir() -> Path:
    """The Claude Code config dir: $CLAUDE_CONFIG_DIR, else ~/.claude."""
    env = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(env) if env else home_dir() / ".claude"


def data_dir() -> Path:
    """This tool's own folder: config, git mirror, backups, caches, logs."""
    env = os.environ.get("CLAUDE_SYNC_HOME")
    return Path(env) if env else home_dir() / ".claude-sync-sessions"


def this_flavour() -> Flavour:
    return Flavour.WINDOWS if os.name == "nt" else Flavour.POSIX


class Config(BaseModel):
    version: int = CONFIG_VERSION
    device: str
    projects_root: str
    backend: Literal["git", "server"] = "git"
    git_url: str | None = None
    git_branch: str = "main"
    server_url: str | None = None
    ca_bundle: str | None = None
    # Largest bundle, uncompressed, that pull accepts (a guard against gzip bombs).
    max_bundle_bytes: int = 4 * 1024**3
    # Claude Code hooks: how long SessionStart waits for its pull before leaving it to the
    # background, and whether it tells the model (one line in its context) what arrived.
    hook_pull_timeout: float = Field(default=5.0, ge=0, le=60)
    hook_note: bool = False
    # Where else this device keeps git checkouts, beside the projects root (checkouts.py).
    search_roots: list[str] = []
    # End-to-end encryption (docs/encryption.md): whether sealed sessions name the device they came
    # from in clear (the host sees it), so listings on other devices can show it without the key.
    encryption_show_device: bool = False
    # Backups that pulls and restores leave: dropped past this age, then oldest first past this
    # total size; the newest backup of each session is always kept.
    backup_max_age_days: float = Field(default=90.0, gt=0)
    backup_max_bytes: int = Field(default=2 * 1024**3, ge=0)
    # Projects (keys) whose memory (projects/<enc>/memory/) this device sends and accepts; none by default.
    memory_projects: list[str] = []
    # Never synced (never_sync.py): projects by key or glob (of the key or of the working directory),
    # and single sessions by id. Hooks and bulk operations leave them alone; listed as "not synced by choice".
    never_sync_projects: list[str] = []
    never_sync_sessions: list[str] = []
    # How long a tombstone (a deleted session's mark on the remote) stays before `compact` may drop it.
    tombstone_days: int = Field(default=180, ge=1)

    @field_validator("memory_projects")
    @classmethod
    def _memory_keys_ok(cls, v: list[str]) -> list[str]:
        from .project import validate_key

        for key in v:
            try:
                validate_key(key)
            except SyncError as e:
                raise ValueError(str(e)) from e
        return list(dict.fromkeys(v))

    @field_validator("never_sync_sessions")
    @classmethod
    def _session_ids_ok(cls, v: list[str]) -> list[str]:
        from .format.layout import is_session_id

        for sid in v:
            if not is_session_id(sid):
                raise ValueError(f"not a session id: {sid!r}")
        return list(dict.fromkeys(v))

    @field_validator("device")
    @classmethod
    def _device_ok(cls, v: str) -> str:
        v = v.strip()
        if not v or any(c in v for c in "/\\\n\r\t"):
            raise ValueError("device name must be non-empty, one line, without slashes")
        return v

    @field_validator("projects_root")
    @classmethod
    def _root_ok(cls, v: str) -> str:
        if not os.path.isabs(v):
            raise ValueError("projects root must be an absolute path")
        return v


@dataclass(frozen=True)
class Paths:
    """Every location the tool uses, resolved once."""

    data: Path
    claude: Path
    home: Path

    @classmethod
    def current(cls) -> Paths:
        return cls(data=data_dir(), claude=claude_config_dir(), home=home_dir())

    @property
    def config_file(self) -> Path:
        return self.data / "config.json"

    @property
    def repo(self) -> Path:
        return self.data / "repo"

    @property
    def backups(self) -> Path:
        return self.data / "backups"

    @property
    def cache(self) -> Path:
        return self.data / "cache"

    @property
    def mappings_file(self) -> Path:
        """Folders the user pinned for repositories (`claude-sync map`)."""
        return self.data / "mappings.json"

    @property
    def state_file(self) -> Path:
        return self.data / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.data / "sync.lock"


def default_device_name() -> str:
    return socket.gethostname().split(".")[0] or "device"


def load_config(paths: Paths | None = None) -> Config:
    paths = paths or Paths.current()
    f = paths.config_file
    if not f.exists():
        raise ConfigError(
            f"not configured yet: run `claude-sync configure --device NAME --projects-root DIR` ({f} is missing)"
        )
    try:
        return Config.model_validate(json.loads(f.read_text("utf-8")))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{f} is not UTF-8 text ({e}): fix or delete it, then run `claude-sync configure`") from e
    except (ValueError, ValidationError) as e:
        raise ConfigError(f"{f} is not a valid configuration: {e}") from e
    except OSError as e:
        raise ConfigError(f"cannot read {f}: {e.strerror or e}") from e


def save_config(config: Config, paths: Paths | None = None) -> Path:
    paths = paths or Paths.current()
    paths.data.mkdir(parents=True, exist_ok=True)
    atomic.write_text(paths.config_file, config.model_dump_json(indent=2) + "\n", mode=0o600)
    return paths.config_file


def update_config(paths: Paths | None = None, **changes: object) -> Config:
    """Merge `changes` (Config field names; None = keep) into config.json and save it.

    The one place `claude-sync configure` and the sidecar's configure request change settings.
    """
    paths = paths or Paths.current()
    try:
        current = load_config(paths).model_dump()
    except ConfigError:
        if paths.config_file.exists():
            raise
        current = {}
    given = {k: v for k, v in changes.items() if v is not None}
    unknown = set(given) - set(Config.model_fields)
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    merged = {**current, **given}
    merged.setdefault("device", default_device_name())
    if "projects_root" not in merged:
        raise ConfigError(
            "the first configuration needs a projects root, the folder your projects live under"
            " (`claude-sync configure --projects-root DIR`)"
        )
    # A repository or server URL alone picks its backend, unless one was chosen before.
    if given.get("git_url") and "backend" not in given and not current.get("backend"):
        merged["backend"] = "git"
    if given.get("server_url") and "backend" not in given and "git_url" not in current:
        merged["backend"] = "server"
    try:
        config = Config.model_validate(merged)
    except ValueError as e:
        raise ConfigError(f"invalid configuration: {e}") from e
    save_config(config, paths)
    return config
