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
    """session id -> {"content": digest last synced, "stats": {logical: [size, mtime_ns]}}."""

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

    def record(self, sid: str, content: str, files: dict[str, Path]) -> None:
        self.sessions[sid] = {"content": content, "stats": file_stats(files)}

    def save(self) -> None:
        atomic.write_text(self.file, json.dumps({"version": 1, "sessions": self.sessions}))
