"""What this device last synced, per session: lets a no-op sync skip reading files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from . import atomic
from .discovery import fingerprint
from .jsonload import loads

STATE_VERSION = 2


def files_fingerprint(files: Mapping[str, Path]) -> str:
    """The fingerprint of a session's files: the one discovery saw, else from a stat of each."""
    known = getattr(files, "fingerprint", None)
    if isinstance(known, str):
        return known
    stats = []
    for name, p in files.items():
        try:
            st = p.stat()
        except OSError:
            continue
        stats.append((name, st.st_size, st.st_mtime_ns))
    return fingerprint(stats)


class SyncState:
    """session id -> what the last sync saw.

    {"content": digest of the remote version, "local": digest of the local files
    (differs after a merge that the remote does not have yet),
    "files": fingerprint of the local files (discovery.fingerprint)}.
    Discovery's fingerprint is taken before the files are read, so a file that changes
    while a sync reads it makes the next sync look again.
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self.sessions: dict[str, dict] = {}
        self.dirty = False
        if file.exists():
            try:
                raw = loads(file.read_bytes())
                if raw.get("version") == STATE_VERSION:
                    self.sessions = raw.get("sessions", {})
            except (OSError, ValueError, AttributeError):
                self.sessions = {}

    def content(self, sid: str) -> str | None:
        return self.sessions.get(sid, {}).get("content")

    def unchanged(self, sid: str, files: Mapping[str, Path]) -> bool:
        """True when the local files are exactly as they were at the last sync."""
        rec = self.sessions.get(sid)
        return rec is not None and rec.get("files") == files_fingerprint(files)

    def in_sync(self, sid: str) -> bool:
        """True when, at the last sync, the local copy was the remote version."""
        rec = self.sessions.get(sid)
        return rec is not None and rec.get("local", rec.get("content")) == rec.get("content")

    def record(self, sid: str, content: str, files: Mapping[str, Path], local: str | None = None) -> None:
        rec: dict[str, object] = {"content": content, "local": local or content, "files": files_fingerprint(files)}
        if self.kept(sid) and self.tombstone(sid) == content:
            rec.update(tombstone=content, kept=True)  # still deleted on the remote, kept here
        if self.sessions.get(sid) != rec:
            self.sessions[sid] = rec
            self.dirty = True

    def known(self, sid: str) -> bool:
        """This device synced the session at some point (it was here)."""
        return sid in self.sessions

    def mark_deleted(self, sid: str, tombstone: str, *, kept: bool = False) -> None:
        """The remote holds the tombstone `tombstone` (a digest) for the session; `kept`: the user
        deleted it on the remote only, and the copy here stays out of sync on purpose."""
        rec = {"content": tombstone, "local": tombstone, "files": "", "tombstone": tombstone, "kept": kept}
        if self.sessions.get(sid) != rec:
            self.sessions[sid] = rec
            self.dirty = True

    def tombstone(self, sid: str) -> str | None:
        """The digest of the tombstone this device last saw for the session, if any."""
        return self.sessions.get(sid, {}).get("tombstone")

    def kept(self, sid: str) -> bool:
        return bool(self.sessions.get(sid, {}).get("kept"))

    def save(self) -> None:
        if self.dirty or not self.file.exists():
            atomic.write_text(self.file, json.dumps({"version": STATE_VERSION, "sessions": self.sessions}))
            self.dirty = False
