"""Deleting sessions: locally (into the backups), on the remote (a tombstone), or both.

Nothing is destroyed on a device: a local delete, and a tombstone met by a pull, move the
session's files into the backups (`claude-sync backups`, `claude-sync restore`). The remote
keeps a tombstone in place of the session (format/tombstone.py) so that devices that were
offline do not push it back; a copy that went on after the delete is pushed back over it.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path

from .discovery import LocalSession
from .format.bundle import Bundle, Manifest, parse_time
from .format.tombstone import TOMBSTONE_FILE, TOMBSTONE_KIND, Tombstone, now_iso
from .format.tombstone import parse as parse_tombstone
from .restore import back_up

DELETED_TITLE = "(deleted)"  # how a tombstone lists (its kind is known only by reading it)


def tombstone_bundle(session_id: str, project_key: str, device: str, deleted_version: str | None) -> Bundle:
    t = Tombstone(session_id=session_id, deleted_version=deleted_version, deleted_at=now_iso(), device=device)
    manifest = Manifest(
        kind=TOMBSTONE_KIND,
        session_id=session_id,
        project_key=project_key,
        device=device,
        last_modified=t.deleted_at,
        title=DELETED_TITLE,
    )
    return Bundle.build(manifest, {TOMBSTONE_FILE: t.to_bytes()})


def tombstone_of(b: Bundle) -> Tombstone | None:
    """The tombstone a fetched bundle is, or None for a session."""
    if b.manifest.kind != TOMBSTONE_KIND:
        return None
    return parse_tombstone(b.in_memory().files.get(TOMBSTONE_FILE), b.session_id)  # tiny: in memory


def last_activity(s: LocalSession) -> float:
    """When the local copy last changed: its last record's time, else its newest file."""
    t = parse_time(s.meta.last_timestamp)
    if t:
        return t
    times = []
    for p in s.files.values():
        with contextlib.suppress(OSError):
            times.append(p.stat().st_mtime)
    return max(times, default=0.0)


def continued_after(s: LocalSession, t: Tombstone) -> bool:
    """The local copy went on after the delete: it comes back (resurrection), never silently lost."""
    return last_activity(s) > t.deleted_time().timestamp()


def move_to_backups(s: LocalSession, claude_dir: Path, backups: Path, reason: str) -> Path | None:
    """Copy the session's files into a new backup, then remove them here; the backup folder."""
    files = [p for p in s.files.values() if p.is_file()]
    backup = back_up(files, backups, claude_dir, s.session_id, reason)
    # The transcript goes first: a half-removed session is then no longer listed as a session.
    for p in sorted(files, key=lambda p: p.suffix != ".jsonl"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    for folder in {p.parent for p in files}:
        _prune_empty(folder, claude_dir)
    return backup


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_relative_to(stop) and folder.name not in ("projects", "file-history", "tasks", "todos"):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def when(t: Tombstone) -> str:
    return t.deleted_time().astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
