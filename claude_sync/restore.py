"""Write a pulled session where the real client finds it, losing nothing.

Every existing file that would change (other than a log that only grows) is
copied to a timestamped backup folder first. Files are written atomically, the
transcript last, so the client never sees a session without its artifacts.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import atomic
from .discovery import fingerprint
from .format.bundle import Spilled
from .format.layout import TRANSCRIPT, disk_path, is_log


@dataclass
class RestorePlan:
    session_id: str
    claude_dir: Path
    project_dir: Path
    files: dict[str, bytes]  # logical -> content for this device
    mtime: float | None = None  # the session's last activity, for the transcript's mtime
    superseded: list[Path] = field(default_factory=list)  # an older copy elsewhere, moved to backup
    # Bytes of each local file that `files` accounts for (read when the local copy was packed):
    # what a log gained since is the client's, and is kept.
    read_sizes: dict[str, int] = field(default_factory=dict)

    def targets(self) -> dict[str, Path]:
        return {n: self.target(n) for n in self.files}

    def target(self, name: str) -> Path:
        return disk_path(name, self.claude_dir, self.project_dir, self.session_id)


def new_backup_dir(backups: Path, session_id: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    d = backups / f"{stamp}-{session_id[:8]}"
    n = 1
    while d.exists():
        d = backups / f"{stamp}-{session_id[:8]}-{n}"
        n += 1
    return d


class WrittenFiles(dict):  # type: ignore[type-arg]
    """The files a pull wrote (logical name -> path), with the fingerprint of what it wrote.

    Sizes are those written, not read back: a line the client appended meanwhile makes the
    next sync look at the session again (and push that line) instead of taking it as synced.
    """

    fingerprint: str


def write_log(path: Path, data: bytes, known: int | None) -> int:
    """Write a log that the client may be appending to (open, append, close per record), losing none
    of its lines; `known` is how much of the file the caller read (backed up, or kept in `data`),
    None when there was no file. Returns how many bytes appended meanwhile were carried over.

    When the file is a prefix of `data` the rest is appended in place (O_APPEND: after anything
    the client added meanwhile). Otherwise `data` is renamed over it and whatever the replaced
    file gained past `known` (read through a handle opened before the rename) is appended to
    the new file, until it stops growing.
    """
    try:
        old = open(path, "rb")
    except FileNotFoundError:
        if known is None:
            atomic.write_bytes(path, data)
            return 0
        raise
    with old:
        known = known or 0
        head = old.read(known)
        if len(head) == known and data.startswith(head):
            with open(path, "ab") as out:
                gained = os.fstat(out.fileno()).st_size - known
                out.write(data[known:])
                out.flush()
                os.fsync(out.fileno())
            return max(gained, 0)
        del head
        atomic.write_bytes(path, data)
        carried, quiet = 0, 0
        old.seek(known)
        while quiet < _QUIET_READS:
            gained_bytes = old.read()
            if gained_bytes:
                with open(path, "ab") as out:
                    out.write(gained_bytes)
                carried += len(gained_bytes)
                quiet = 0
            else:
                quiet += 1
                time.sleep(_QUIET_WAIT)  # a client that opened the old file just before the rename
        return carried


def _write_new(plan: RestorePlan, targets: dict[str, Path], group: atomic.Group) -> WrittenFiles:
    """A session new here, handed to `group` (the transcript last, as write_restore orders them).

    Its fingerprint is known once the group is committed (the mtimes are those of the files written)."""
    try:
        for name in sorted(targets, key=lambda n: n == TRANSCRIPT):
            data = plan.files[name]
            if name == TRANSCRIPT and plan.mtime:
                group.mtimes[targets[name]] = int(plan.mtime * 1_000_000_000)
            if isinstance(data, Spilled):  # a large file: streamed now from a temp file that may not outlive the pull
                group.write(targets[name], data.chunks())
            else:
                group.add(targets[name], data)
    except BaseException:
        group.discard()
        raise
    written = WrittenFiles(targets)

    def settled() -> None:
        written.fingerprint = fingerprint((n, *group.stats[p]) for n, p in targets.items())

    group.on_commit = settled
    return written


STALE_TEMP_SECONDS = 60.0
_QUIET_READS = 2
_QUIET_WAIT = 0.02


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


def write_restore(
    plan: RestorePlan, backups: Path, reason: str, group: atomic.Group | None = None, swept: set[Path] | None = None
) -> tuple[Path | None, WrittenFiles]:
    """Write the plan; returns the backup folder when anything was backed up, and what was written.

    With a `group`, a session none of whose files exist here is written to temp files in it, for the
    caller to commit (atomic.WriteBehind): nothing is in place until then. `swept`: folders already
    swept of stale temp files during this sync (a bulk pull would list its project folders once a session)."""
    targets = plan.targets()
    # One stat per folder, not one per file: on a new device most folders of a session (its own
    # folder, file history, tasks) do not exist yet, and nothing can be in them to sweep or replace.
    present = {folder for folder in {p.parent for p in targets.values()} if folder.is_dir()}
    unswept = present - (swept or set())
    atomic.sweep(unswept, STALE_TEMP_SECONDS)  # left by a sync killed mid-write
    if swept is not None:
        swept |= unswept
    if group is not None and not plan.superseded and not any(p.exists() for p in targets.values() if p.parent in present):
        return None, _write_new(plan, targets, group)
    to_backup: list[Path] = list(plan.superseded)
    known: dict[str, int | None] = {}  # bytes of each file read here (backed up or kept), None: no file
    same: set[str] = set()
    for name, path in targets.items():
        new = plan.files[name]
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            known[name] = None
            continue
        if isinstance(new, Spilled):  # a large file replacing one here: compared in memory
            new = plan.files[name] = new.read()
        known[name] = min(plan.read_sizes.get(name, len(old)), len(old))
        if old == new:
            same.add(name)
            continue
        if is_log(name) and new.startswith(old):
            continue  # nothing of the old content is lost
        to_backup.append(path)
    backup_dir = back_up(to_backup, backups, plan.claude_dir, plan.session_id, reason)
    order = sorted(targets, key=lambda n: n == TRANSCRIPT)  # transcript last
    carried = 0
    for name in order:
        path = targets[name]
        if name in same:
            continue
        data = plan.files[name]
        if isinstance(data, Spilled):  # new here (else read above): streamed from its temp file
            if path.exists():
                data = data.read()
            else:
                atomic.write_chunks(path, data.chunks())
                continue
        if is_log(name):
            carried += write_log(path, data, known[name])
        else:
            atomic.write_bytes(path, data)
    if plan.mtime and not carried:
        os.utime(targets[TRANSCRIPT], (plan.mtime, plan.mtime))
    for stale in plan.superseded:
        if stale.exists() and stale not in targets.values():
            stale.unlink()
    written = WrittenFiles(targets)
    stats = []
    for name, path in targets.items():
        try:
            stats.append((name, len(plan.files[name]), path.stat().st_mtime_ns))
        except OSError:
            continue
    written.fingerprint = fingerprint(stats)
    return backup_dir, written
