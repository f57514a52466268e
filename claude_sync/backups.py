"""List and restore the backups that pulls and merges leave behind.

Every local file a pull replaces is first copied to
`~/.claude-sync-sessions/backups/<UTC time>-<sid8>/files/<path under the Claude dir>`
with a `backup.json` saying which session, when and why. Restoring puts those
files back — after backing up what is there now, so a restore loses nothing either.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import atomic, claude_home
from .config import Paths
from .format.errors import SessionNotFound, SyncError
from .format.layout import is_log
from .restore import new_backup_dir, write_log


@dataclass
class Backup:
    id: str
    path: Path
    session_id: str
    created: str
    reason: str
    files: list[str]

    def to_dict(self) -> dict:
        return {"id": self.id, "session_id": self.session_id, "created": self.created, "reason": self.reason, "files": self.files}


def list_backups(paths: Paths, session: str | None = None) -> list[Backup]:
    """Backups, newest first; `session` filters by session id or prefix."""
    out: list[Backup] = []
    if not paths.backups.is_dir():
        return out
    for d in sorted(paths.backups.iterdir(), reverse=True):
        try:
            info = json.loads((d / "backup.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        sid = str(info.get("session_id", ""))
        if session and not sid.startswith(session):
            continue
        out.append(Backup(d.name, d, sid, str(info.get("created", "")), str(info.get("reason", "")), list(info.get("files", []))))
    return out


def _size(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            continue
    return total


def prune(paths: Paths, max_age_days: float, max_bytes: int) -> list[str]:
    """Drop backups older than `max_age_days`, then the oldest until all of them fit in `max_bytes`;
    the newest backup of each session is always kept. Returns the ids dropped."""
    found = list_backups(paths)  # newest first
    newest: set[str] = set()
    keep_always: set[str] = set()
    for b in found:
        if b.session_id not in newest:
            newest.add(b.session_id)
            keep_always.add(b.id)
    cutoff = datetime.now(timezone.utc) - timedelta(days=max_age_days)
    sizes = {b.id: _size(b.path) for b in found}
    total = sum(sizes.values())
    dropped: list[str] = []
    for b in reversed(found):  # oldest first
        if b.id in keep_always:
            continue
        if _created(b) < cutoff or total > max_bytes:
            shutil.rmtree(b.path, ignore_errors=True)
            total -= sizes[b.id]
            dropped.append(b.id)
    return dropped


def _created(b: Backup) -> datetime:
    try:
        when = datetime.fromisoformat(b.created)
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.now(timezone.utc)  # unknown: not dropped for its age


def find_backup(paths: Paths, ident: str) -> Backup:
    hits = [b for b in list_backups(paths) if b.id == ident] or [b for b in list_backups(paths) if b.id.startswith(ident)]
    if not hits:
        raise SessionNotFound(f"no backup {ident!r}: `claude-sync backups` lists them")
    if len(hits) > 1:
        raise SyncError(f"backup {ident!r} is ambiguous: " + ", ".join(b.id for b in hits[:10]))
    return hits[0]


def restore_backup(paths: Paths, ident: str) -> tuple[Backup, Path | None]:
    """Put a backup's files back; returns it and the backup of what was replaced."""
    backup = find_backup(paths, ident)
    live = claude_home.live_sessions(paths.claude)
    if backup.session_id in live:
        raise SyncError(f"session {backup.session_id} is open in a running Claude Code (pid {live[backup.session_id]}); close it first")
    targets = []
    for rel in backup.files:
        src = backup.path / "files" / rel
        dst = paths.claude / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute() or not src.is_file():
            raise SyncError(f"backup {backup.id} is damaged: {rel!r}")
        targets.append((src, dst))
    # What is there now is saved first; a log the client appends to meanwhile keeps those lines
    # too (restore.write_log carries over what it gained past what was saved).
    current: dict[Path, bytes] = {}
    for _src, dst in targets:
        try:
            current[dst] = dst.read_bytes()
        except FileNotFoundError:
            pass
    changed = [dst for src, dst in targets if dst in current and current[dst] != src.read_bytes()]
    safety = None
    if changed:
        safety = new_backup_dir(paths.backups, backup.session_id)
        saved = []
        for dst in changed:
            rel_path = dst.relative_to(paths.claude)
            (safety / "files" / rel_path).parent.mkdir(parents=True, exist_ok=True)
            (safety / "files" / rel_path).write_bytes(current[dst])
            saved.append(rel_path.as_posix())
        info = {"session_id": backup.session_id, "created": _now(), "reason": f"before restoring backup {backup.id}", "files": saved}
        atomic.write_text(safety / "backup.json", json.dumps(info, indent=1))
    for src, dst in targets:
        if is_log(dst.name):
            write_log(dst, src.read_bytes(), len(current[dst]) if dst in current else None)
        else:
            atomic.write_bytes(dst, src.read_bytes())
    return backup, safety


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
