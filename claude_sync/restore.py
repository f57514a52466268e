"""Write a pulled session where the real client finds it, losing nothing.

Every existing file that would change (other than a log that only grows) is
copied to a timestamped backup folder first. Files are written atomically, the
transcript last, so the client never sees a session without its artifacts.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import atomic
from .format.layout import TRANSCRIPT, disk_path, is_log


@dataclass
class RestorePlan:
    session_id: str
    claude_dir: Path
    project_dir: Path
    files: dict[str, bytes]  # logical -> content for this device
    mtime: float | None = None  # the session's last activity, for the transcript's mtime
    superseded: list[Path] = field(default_factory=list)  # an older copy elsewhere, moved to backup

    def targets(self) -> dict[str, Path]:
        return {n: disk_path(n, self.claude_dir, self.project_dir, self.session_id) for n in self.files}


def new_backup_dir(backups: Path, session_id: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    d = backups / f"{stamp}-{session_id[:8]}"
    n = 1
    while d.exists():
        d = backups / f"{stamp}-{session_id[:8]}-{n}"
        n += 1
    return d


def back_up(files: list[Path], backups: Path, claude_dir: Path, owner: str, reason: str) -> Path | None:
    """Copy `files` into a new backup folder (with its backup.json) before they are replaced; None when none."""
    if not files:
        return None
    backup_dir = new_backup_dir(backups, owner)
    saved = []
    for src in files:
        rel = src.relative_to(claude_dir) if src.is_relative_to(claude_dir) else Path(src.name)
        dst = backup_dir / "files" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        saved.append(rel.as_posix())
    info = {
        "session_id": owner,
        "created": datetime.now(timezone.utc).isoformat(),
        "reason": reason,
        "claude_dir": str(claude_dir),
        "files": saved,
    }
    atomic.write_text(backup_dir / "backup.json", json.dumps(info, indent=1))
    return backup_dir


def write_restore(plan: RestorePlan, backups: Path, reason: str) -> Path | None:
    """Write the plan; returns the backup folder when anything was backed up."""
    targets = plan.targets()
    to_backup: list[Path] = list(plan.superseded)
    for name, path in targets.items():
        new = plan.files[name]
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            continue
        if old == new or (is_log(name) and new.startswith(old)):
            continue  # nothing of the old content is lost
        to_backup.append(path)
    backup_dir = back_up(to_backup, backups, plan.claude_dir, plan.session_id, reason)
    order = sorted(targets, key=lambda n: n == TRANSCRIPT)  # transcript last
    for name in order:
        path = targets[name]
        try:
            if path.read_bytes() == plan.files[name]:
                continue
        except FileNotFoundError:
            pass
        atomic.write_bytes(path, plan.files[name])
    if plan.mtime:
        os.utime(targets[TRANSCRIPT], (plan.mtime, plan.mtime))
    for stale in plan.superseded:
        if stale.exists() and stale not in targets.values():
            stale.unlink()
    return backup_dir
