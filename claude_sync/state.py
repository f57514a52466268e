"""What this device last synced, per session: lets a no-op sync skip reading files."""

from __future__ import annotations

import json
from pathlib import Path

from . import atomic


def file_stats(files: dict[str, Path]) -> dict[str, list[int]]:
    out = {}
    for name, p in files.items():
        try:
            st = p.stat()
        except OSError:
            continue
        out[name] = [st.st_size, st.st_mtime_ns]
    return out


class SyncState:
    """session id -> what the last sync saw.

    {"content": digest of the remote version, "local": digest of the local files
    (differs after a merge that the remote does not have yet),
    "stats": {logical: [size, mtime_ns]} of the local files}.
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self.sessions: dict[str, dict] = {}
        if file.exists():
            try:
                self.sessions = json.loads(file.read_text("utf-8")).get("sessions", {})
            except (OSError, ValueError, AttributeError):
                self.sessions = {}

    def content(self, sid: str) -> str | None:
        return self.sessions.get(sid, {}).get("content")

    def unchanged(self, sid: str, files: dict[str, Path]) -> bool:
        """True when the local files are exactly as they were at the last sync."""
        rec = self.sessions.get(sid)
        return rec is not None and rec.get("stats") == file_stats(files)

    def in_sync(self, sid: str) -> bool:
        """True when, at the last sync, the local copy was the remote version."""
        rec = self.sessions.get(sid)
        return rec is not None and rec.get("local", rec.get("content")) == rec.get("content")

    def record(self, sid: str, content: str, files: dict[str, Path], local: str | None = None) -> None:
        self.sessions[sid] = {"content": content, "local": local or content, "stats": file_stats(files)}

    def save(self) -> None:
        atomic.write_text(self.file, json.dumps({"version": 1, "sessions": self.sessions}))
