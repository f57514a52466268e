"""What each sidecar request does: blocking calls into the core, run in a worker thread.

Each returns plain JSON data with the protocol's camelCase keys (docs/sidecar-protocol.md).
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic.alias_generators import to_camel

from .. import __version__, credentials
from ..config import Config, Paths, default_device_name, load_config, save_config, update_config
from ..discovery import LocalSession
from ..engine import DONE, FAILED, NOT_PORTABLE, Outcome, Progress, Selection, SyncEngine
from ..format.bundle import Spilled
from ..format.errors import ConfigError, SessionNotFound
from ..format.layout import TRANSCRIPT
from ..format.locking import exclusive
from ..hooks import policy as claude_hooks
from ..listing import remote_dicts
from ..portable import render, render_title
from ..state import SyncState
from . import remote_cache, resume
from .errors import SidecarError
from .listings import Query, local_listing, remote_listing
from .models import CheckRemoteParams, SidecarOptions
from .remedies import Backend, choose_remote, configure_device, show_details
from .remedies import set_token as set_token_remedy
from .remote_check import check_git, check_server
from .transcript import render_part


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
        "gitBranch": config.git_branch,
        "serverUrl": config.server_url,
        "caBundle": config.ca_bundle,
        "hookPullTimeout": config.hook_pull_timeout,
    }


def remote_view(config: Config | None) -> dict[str, Any] | None:
    """Which remote this device syncs with, as the Remote view names it; None while there is none."""
    if config is None:
        return None
    url = config.git_url if config.backend == "git" else config.server_url
    if not url:
        return None
    kind = f"Git ({config.git_branch})" if config.backend == "git" else "Server"
    return {"backend": config.backend, "url": url, "branch": config.git_branch, "label": f"{kind} · {url}"}


def _with_fetch_time(paths: Paths, remote: dict[str, Any] | None) -> dict[str, Any] | None:
    if remote is not None:
        remote["fetchedAt"] = remote_cache.load(paths, remote)[0]
    return remote


def backend_of(paths: Paths) -> Backend | None:
    """The remote kind this device uses, to pick the remedies of an error; None when unknown."""
    try:
        return load_config(paths).backend
    except ConfigError:
        return None


def configured(paths: Paths) -> Config:
    """config.json, or an error that says how to set the device up (in the extension's words)."""
    if not paths.config_file.exists():
        raise SidecarError(
            "This device is not set up for Claude Sync yet: give it a name and the folder your projects live under.",
            [configure_device()],
        )
    try:
        return load_config(paths)
    except ConfigError as e:
        raise SidecarError(str(e), [configure_device(), show_details()]) from None


def with_remote(paths: Paths) -> Config:
    """config.json with a remote that can be used, or an error naming what is missing."""
    config = configured(paths)
    if remote_view(config) is None:
        raise SidecarError(
            "No remote chosen yet: sessions sync through a private Git repository or a claude-sync server.",
            choose_remote(),
        )
    if config.backend == "server" and not _has_token(paths, config):
        raise SidecarError(f"No token is set for the sync server {config.server_url}.", [set_token_remedy()])
    return config


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
        "configFile": str(paths.config_file),
        "claudeDir": str(paths.claude),
        "remote": _with_fetch_time(paths, remote_view(config)),
        "defaultDeviceName": default_device_name(),
        "hasToken": _has_token(paths, config),
        "hooks": hooks(paths, "status"),
    }


def configure(paths: Paths, changes: dict[str, Any], unset: tuple[str, ...] = ()) -> dict[str, Any]:
    config = update_config(paths, **changes)
    if unset:
        # update_config keeps what is not given; these the user emptied on purpose.
        save_config(config.model_copy(update=dict.fromkeys(unset)), paths)
    return status(paths)


def _local_states(paths: Paths, config: Config, query: Query) -> tuple[dict[str, Any], SyncEngine]:
    """This device's listing with states against the last remote listing (no remote is asked)."""
    engine = SyncEngine(config, paths)
    remote = _with_fetch_time(paths, remote_view(config))
    fetched_at, entries = remote_cache.load(paths, remote)
    known = {e["sessionId"]: e for e in entries} if fetched_at else None
    from ..never_sync import named_by

    listing = local_listing(
        engine.local_sessions(),
        engine.layout,
        config.device,
        SyncState(paths.state_file),
        known,
        query,
        lambda sid, key, cwd: named_by(config, sid, key, cwd),
    )
    return listing, engine


def list_local(paths: Paths, query: str | None = None) -> dict[str, Any]:
    if not paths.config_file.exists():
        return {"configured": False, "groups": [], "toUpload": [], "toDownload": [], "filtered": False}
    listing, _ = _local_states(paths, configured(paths), Query.parse(query))
    return {
        "configured": True,
        "groups": camel(listing["groups"]),
        "toUpload": listing["to_upload"],
        "toDownload": listing["to_download"],
        "filtered": listing["filtered"],
    }


def _engine(paths: Paths, options: SidecarOptions) -> SyncEngine:
    config = with_remote(paths)
    return SyncEngine(config, paths, lock_timeout=options.lock_wait_seconds, stop_when_unreachable=True)


def list_remote(paths: Paths, options: SidecarOptions, query: str | None = None, refresh: bool = True) -> dict[str, Any]:
    """The remote's sessions with their states here; `refresh: False` answers from the last listing."""
    config: Config | None = None
    if paths.config_file.exists():
        config = configured(paths)
    remote = remote_view(config)
    if config is None or remote is None:
        return {"configured": False, "remote": None, "fetchedAt": None, "entries": [], "groups": [], "toDownload": []}
    fetched_at, entries = remote_cache.load(paths, remote)
    if refresh or fetched_at is None:
        engine = _engine(paths, options)
        try:
            listed = engine.remote()
            entries = camel(remote_dicts(listed, engine.remote_statuses(listed), engine.layout))
        finally:
            engine.close()
        fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        remote_cache.save(paths, remote, fetched_at, entries)
    local, _ = _local_states(paths, config, Query())
    view = remote_listing(entries, local["states"], local["sizes"], Query.parse(query))
    return {"configured": True, "remote": remote, "fetchedAt": fetched_at, "entries": entries, **view}


def _local_session(paths: Paths, config: Config, session_id: str) -> tuple[LocalSession | None, SyncEngine]:
    engine = SyncEngine(config, paths)
    found = next((s for s in engine.local_sessions() if s.session_id == session_id), None)
    return found, engine


def transcript(paths: Paths, options: SidecarOptions, session_id: str, side: str, part: int) -> dict[str, Any]:
    """One part of a session's transcript as Markdown: this device's copy, or the remote's (with this device's paths)."""
    config = configured(paths)
    if side == "local":
        s, _ = _local_session(paths, config, session_id)
        if s is None:
            raise SessionNotFound(f"no session {session_id} on this device")
        with s.transcript.open("rb") as f:
            return {"sessionId": session_id, "side": side, **render_part(f, s.meta.title, part)}
    engine = _engine(paths, options)
    try:
        # Under the lock: the local mirror of the remote is shared with syncs, and so is the folder
        # where a large transcript waits in a temp file (spill.py) until it is read here.
        with engine._lock():
            engine.backend.refresh()
            bundle = engine.backend.fetch(session_id)
            _, files = render(bundle, engine.layout)
            title = render_title(bundle.manifest.title, bundle.manifest.project_key, engine.layout)
            data = files.get(TRANSCRIPT, b"")
            if isinstance(data, Spilled):
                with open(data.path, "rb") as f:
                    shown = render_part(f, title, part)
            else:
                shown = render_part(data.splitlines(), title, part)
    finally:
        engine.close()
    return {"sessionId": session_id, "side": side, **shown}


def resume_plan(paths: Paths, session_id: str) -> dict[str, Any]:
    """Where and how to resume a session; a session only on the remote must be downloaded first."""
    config = configured(paths)
    s, engine = _local_session(paths, config, session_id)
    if s is None:
        fetched_at, entries = remote_cache.load(paths, remote_view(config))
        if any(e["sessionId"] == session_id for e in entries):
            return {"sessionId": session_id, "local": False, "cwd": None, "command": None, "warnings": []}
        raise SessionNotFound(f"no session {session_id} here or on the remote")
    if not s.cwd:
        raise SessionNotFound(f"session {session_id} records no working directory to resume in")
    return resume.plan(session_id, s.transcript, s.cwd)


def check_remote(paths: Paths, p: CheckRemoteParams) -> dict[str, Any]:
    """Test a remote before it is saved; the configured one when the params name none."""
    config: Config | None = None
    if paths.config_file.exists():
        config = configured(paths)
    backend = p.backend or (config.backend if config else "git")
    if backend == "git":
        url = p.git_repo_url or (config.git_url if config else None)
        if not url:
            raise SidecarError("No Git repository to test: enter its URL.", choose_remote()[:1])
        return check_git(url, p.git_branch or (config.git_branch if config else "main"))
    url = p.server_url or (config.server_url if config else None)
    if not url:
        raise SidecarError("No sync server to test: enter its URL.", choose_remote()[1:])
    token = p.token
    if not token:
        try:
            token = credentials.get_token(url, paths)
        except ConfigError:
            token = None
    return check_server(url, token, p.ca_bundle or (config.ca_bundle if config else None))


def repositories(paths: Paths) -> dict[str, Any]:
    """Each repository this device knows (its checkouts, its pins, the last remote listing) and
    the folder its sessions go to (or none)."""
    return {"repositories": _repository_map(paths, SyncEngine(load_config(paths), paths))}


def _repository_map(paths: Paths, engine: SyncEngine) -> list[dict[str, Any]]:
    listed = remote_cache.load(paths, remote_view(engine.config))[1]
    known = [str(e["repository"]) for e in listed if isinstance(e, dict) and e.get("repository")]
    return camel(engine.repository_map(known=known))


def clone_repository(paths: Paths, repository: str, parent: str, url: str | None) -> dict[str, Any]:
    engine = SyncEngine(load_config(paths), paths)
    folder = engine.clone(repository, parent, url)
    return {"folder": folder, "repositories": _repository_map(paths, engine)}


def map_repository(paths: Paths, repository: str, folder: str | None) -> dict[str, Any]:
    engine = SyncEngine(load_config(paths), paths)
    if folder:
        engine.pin(repository, folder)
    else:
        engine.unpin(repository)
    return {"repositories": _repository_map(paths, engine)}


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
        return summary_view(camel(run(selection, progress, cancel).to_dict()))
    finally:
        engine.close()


def delete(paths: Paths, options: SidecarOptions, ids: list[str], where: str) -> dict[str, Any]:
    engine = _engine(paths, options)
    try:
        summary = engine.delete(ids, local=where in ("local", "everywhere"), remote=where in ("remote", "everywhere"))
        return summary_view(camel(summary.to_dict()))
    finally:
        engine.close()


def never_sync(paths: Paths, action: str, projects: list[str], sessions: list[str]) -> dict[str, Any]:
    from ..never_sync import edit

    config = edit(paths, configured(paths), action, projects, sessions)
    return {"projects": config.never_sync_projects, "sessions": config.never_sync_sessions}


UP_TO_DATE = "up to date"


def summary_view(summary: dict[str, Any]) -> dict[str, Any]:
    """The engine's summary with what the extension shows: the skipped counted by why, and one line."""
    outcomes = summary["outcomes"]
    skipped = [o for o in outcomes if o["status"] not in (DONE, FAILED)]
    up_to_date = sum(1 for o in skipped if o["reason"] == UP_TO_DATE)
    not_portable = sum(1 for o in skipped if o["reason"].startswith(NOT_PORTABLE))
    summary.update(upToDate=up_to_date, notPortable=not_portable, text=summary_text(summary["action"], summary, up_to_date, not_portable))
    return summary


# action -> (done, infinitive, noun) in the summary's line.
VERBS = {"push": ("Uploaded", "upload", "Upload"), "pull": ("Downloaded", "download", "Download"), "delete": ("Deleted", "delete", "Delete")}


def summary_text(action: str, s: dict[str, Any], up_to_date: int, not_portable: int) -> str:
    outcomes = s["outcomes"]
    did, do, noun = VERBS.get(action, VERBS["pull"])
    if len(outcomes) == 1:  # one session reads better by name
        o = outcomes[0]
        title = f'"{o["title"] or o["sessionId"][:8]}"'
        reason = o["reason"].rstrip(".")
        if o["status"] == DONE:
            return f"{did} {title}" + (f" ({reason})." if reason else ".")
        if o["status"] == FAILED:
            return f"Could not {do} {title}" + (f": {reason}." if reason else ".")
        return f"Skipped {title}" + (f": {reason}." if reason else ".")
    other = s["skipped"] - up_to_date - not_portable
    parts = [f"{s['done']} done"]
    parts += [f"{up_to_date} up to date"] if up_to_date else []
    parts += [f"{not_portable} skipped, not portable"] if not_portable else []
    parts += [f"{other} skipped"] if other else []
    parts += [f"{s['failed']} failed"] if s["failed"] else []
    return f"{noun}: {', '.join(parts)}."


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
    url = server_url or configured(paths).server_url
    if not url:
        raise SidecarError("No sync server is set: set its URL first.", choose_remote()[1:])
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


# -- end-to-end encryption (docs/encryption.md) -----------------------------------------------


def encryption_status(paths: Paths, options: SidecarOptions) -> dict[str, Any]:
    """Where encryption stands, with the words the extension shows (`label` beside the remote's
    name, `detail` in its tooltip)."""
    from ..encryption import setup

    # Each of these fetches into the local mirror of the remote, which a listing or a sync may be
    # fetching into at the same moment: they take the sync lock, as the engine does.
    with exclusive(paths.lock_file, options.lock_wait_seconds):
        st = setup.status(configured(paths), paths)
    if not st.encrypted:
        label = "not encrypted"
        detail = "Sessions on this remote are not end-to-end encrypted: its host can read them."
    elif st.joined:
        label = "end-to-end encrypted"
        detail = (
            f"Sessions are end-to-end encrypted (key {st.key_id}); this device holds the key in {st.store}."
            + (f" {st.plain} session(s) still in plain, sealed at the next upload." if st.plain else "")
        )
    else:
        label = "end-to-end encrypted, not joined"
        detail = "The remote is end-to-end encrypted and this device holds no key: join with the recovery phrase or the passphrase."
    return {**camel(st.to_dict()), "label": label, "detail": detail}


def encryption_init(paths: Paths, options: SidecarOptions, passphrase: str | None) -> dict[str, Any]:
    from ..encryption import setup

    with exclusive(paths.lock_file, options.lock_wait_seconds):
        done = setup.init(load_config(paths), paths, passphrase)
    return {"keyId": done.key_id, "sealed": done.sealed, "recoveryPhrase": done.phrase, "sealError": done.seal_error}


def encryption_join(paths: Paths, options: SidecarOptions, secret: str) -> dict[str, Any]:
    from ..encryption import setup

    with exclusive(paths.lock_file, options.lock_wait_seconds):
        return {"keyId": setup.join(load_config(paths), paths, secret)}


def encryption_show_phrase(paths: Paths) -> dict[str, Any]:
    from ..encryption import setup

    return {"recoveryPhrase": setup.show_phrase(load_config(paths), paths)}
