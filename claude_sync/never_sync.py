"""The never-sync list: projects and sessions that must not leave this device.

A project is named by its key (`acme/api`, the same on every device) or by a glob pattern
matched against the key or against the session's working directory on this device
(`clients/*`, `/home/me/confidential/**`); a single session by its id. Hooks and bulk
operations (`push --all`, `push --project`, the SessionStart pull) leave such sessions
alone, and listings show them as "not synced by choice".
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from .config import Config, Paths, update_config

REASON = "not synced by choice (never-sync list)"


def _matches(pattern: str, key: str | None, cwd: str | None) -> bool:
    pattern = pattern.strip()
    if not pattern:
        return False
    if key is not None:
        key = key.strip("/")
        bare = pattern.strip("/")
        if key == bare or key.startswith(bare + "/") or fnmatchcase(key, bare):
            return True
    if cwd:
        cwd = cwd.rstrip("/") or "/"
        root = pattern.rstrip("/")
        if cwd == root or cwd.startswith(root + "/") or fnmatchcase(cwd, pattern):
            return True
    return False


def never_synced(config: Config, session_id: str, key: str | None, cwd: str | None) -> bool:
    """Whether the never-sync list names this session or its project."""
    return named_by(config, session_id, key, cwd) is not None


def named_by(config: Config, session_id: str | None, key: str | None, cwd: str | None) -> str | None:
    """The entry of the never-sync list that names this session or its project (a session id, a
    project key or a pattern), None when none does: what "sync again" has to take off the list.
    Without a session id, only the project's entries count."""
    if session_id and session_id.lower() in config.never_sync_sessions:
        return session_id.lower()
    return next((p for p in config.never_sync_projects if _matches(p, key, cwd)), None)


def edit(paths: Paths, config: Config, action: str, projects: list[str], sessions: list[str]) -> Config:
    """Add to or remove from the list in config.json (the CLI and the sidecar); the new config."""
    sessions = [i.lower() for i in sessions]
    have_p, have_s = list(config.never_sync_projects), list(config.never_sync_sessions)
    if action == "add":
        have_p += [p for p in projects if p not in have_p]
        have_s += [i for i in sessions if i not in have_s]
    elif action == "remove":
        have_p = [p for p in have_p if p not in projects]
        have_s = [i for i in have_s if i not in sessions]
    else:
        return config
    return update_config(paths, never_sync_projects=have_p, never_sync_sessions=have_s)
