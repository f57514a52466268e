"""What each sidecar request does: blocking calls into the core, run in a worker thread.

Each returns plain JSON data with the protocol's camelCase keys (docs/sidecar-protocol.md).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

from pydantic.alias_generators import to_camel

from .. import __version__, credentials
from .. import hooks as claude_hooks
from ..config import Config, Paths, default_device_name, load_config, update_config
from ..engine import Outcome, Progress, Selection, SyncEngine
from ..format.errors import ConfigError
from ..listing import local_groups, remote_dicts
from .models import SidecarOptions


def camel(data: Any) -> Any:
    """snake_case keys (the core's plain views) -> the protocol's camelCase, recursively."""
    if isinstance(data, dict):
        return {to_camel(k): camel(v) for k, v in data.items()}
    if isinstance(data, list):
        return [camel(v) for v in data]
    return data


def config_view(config: Config) -> dict[str, Any]:
    return {
        "deviceName": config.device,
        "projectsRoot": config.projects_root,
        "backend": config.backend,
        "gitRepoUrl": config.git_url,
        "serverUrl": config.server_url,
    }


def status(paths: Paths) -> dict[str, Any]:
    config: Config | None = None
    problem: str | None = None
    try:
        config = load_config(paths)
    except ConfigError as e:
        if paths.config_file.exists():  # a broken file, not a fresh device
            problem = str(e)
    return {
        "version": __version__,
        "configured": config is not None,
        "config": config_view(config) if config else None,
        "configError": problem,
        "defaultDeviceName": default_device_name(),
        "hasToken": _has_token(paths, config),
        "hooks": hooks(paths, "status"),
    }


def configure(paths: Paths, changes: dict[str, str | None]) -> dict[str, Any]:
    update_config(paths, **changes)
    return status(paths)


def list_local(paths: Paths) -> dict[str, Any]:
    engine = SyncEngine(load_config(paths), paths)
    return {"groups": camel(local_groups(engine.local_sessions(), engine.layout))}


def _engine(paths: Paths, options: SidecarOptions) -> SyncEngine:
    return SyncEngine(load_config(paths), paths, lock_timeout=options.lock_wait_seconds, stop_when_unreachable=True)


def list_remote(paths: Paths, options: SidecarOptions) -> dict[str, Any]:
    engine = _engine(paths, options)
    try:
        return {"entries": camel(remote_dicts(engine.remote(), engine.layout))}
    finally:
        engine.close()


def repositories(paths: Paths) -> dict[str, Any]:
    """Each repository this device knows and the folder its sessions go to (or none)."""
    return {"repositories": camel(SyncEngine(load_config(paths), paths).repository_map())}


def map_repository(paths: Paths, repository: str, folder: str | None) -> dict[str, Any]:
    engine = SyncEngine(load_config(paths), paths)
    if folder:
        engine.pin(repository, folder)
    else:
        engine.unpin(repository)
    return {"repositories": camel(engine.repository_map())}


def sync(
    paths: Paths,
    options: SidecarOptions,
    action: Literal["push", "pull"],
    selection: Selection,
    progress: Progress,
    cancel: threading.Event,
) -> dict[str, Any]:
    engine = _engine(paths, options)
    try:
        run = engine.push if action == "push" else engine.pull
        return camel(run(selection, progress, cancel).to_dict())  # type: ignore[no-any-return]
    finally:
        engine.close()


def progress_view(operation_id: str, done: int, total: int, o: Outcome) -> dict[str, Any]:
    what = o.title or o.session_id[:8]
    return {
        "operationId": operation_id,
        "done": done,
        "total": total,
        "sessionId": o.session_id,
        "projectKey": o.project_key,
        "title": o.title,
        "status": o.status,
        "reason": o.reason,
        "message": f"{done}/{total} {what}: {o.status}" + (f" ({o.reason})" if o.reason else ""),
    }


def _has_token(paths: Paths, config: Config | None) -> bool:
    if config is None or not config.server_url:
        return False
    try:
        return credentials.get_token(config.server_url, paths) is not None
    except ConfigError:  # an unreadable token file: as good as none, and status must still answer
        return False


def set_token(paths: Paths, token: str, server_url: str | None) -> dict[str, Any]:
    url = server_url or load_config(paths).server_url
    if not url:
        raise ConfigError("no sync server configured: set the server URL first")
    where = credentials.set_token(url, token, paths)
    return {"hasToken": True, "serverUrl": url, "storedIn": where}


def _libs() -> tuple[str, ...]:
    """The library folders this sidecar runs with: the extension's bundled libraries when
    it runs from a .vsix (the extension sets PYTHONPATH). The hook launcher needs them all."""
    return tuple(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


def hooks(paths: Paths, action: Literal["status", "install", "remove"]) -> dict[str, Any]:
    change: dict[str, Any] = {}
    libs = _libs()
    if action == "status":
        st = claude_hooks.status(paths, libs)
        if st["installed"] and not st["launcher"]["current"]:
            # Installed by another interpreter or an older extension: point the launcher at this
            # one, so the hooks keep working after the extension updated.
            claude_hooks.install(paths, libs)
    else:
        # install: the launcher runs this interpreter with the folder claude_sync is imported from,
        # plus the bundled libraries when the sidecar runs from the .vsix.
        done = claude_hooks.install(paths, libs) if action == "install" else claude_hooks.remove(paths)
        change = {"changed": done.changed, "backup": str(done.backup) if done.backup else None}
    st = claude_hooks.status(paths, libs)
    return {
        "installed": st["installed"],
        "settingsPath": st["settings"],
        "events": st["events"],
        "error": st["error"],
        "pending": st["outbox"]["pending"],
        "lastError": st["outbox"]["last_error"],
        **change,
    }
