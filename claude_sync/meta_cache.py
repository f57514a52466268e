"""What discovery read before, kept under ~/.claude-sync-sessions/cache/: valid while the files are unchanged.

Per transcript its listing metadata (by size and mtime, brought up to date from appended bytes),
per session folder its listing (by mtime), per legacy agent file its owner. Safe to delete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic_core import to_json as _to_json

from . import atomic
from .jsonload import loads
from .transcript import SessionMeta, legacy_agent_owner, meta_from, scan_appended, scan_transcript

CACHE_VERSION = 3


class MetaCache:
    """Listing metadata per transcript, folder listings and legacy agent owners, valid while unchanged."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self.entries: dict[str, dict] = {}
        self.dirs: dict[str, list] = {}
        self.owners: dict[str, list] = {}
        self.dirty = False
        self._used: set[str] = set()
        self.seen_dirs: set[str] = set()
        if file and file.exists():
            try:
                raw = loads(file.read_bytes())
                if raw.get("version") == CACHE_VERSION:
                    self.entries = raw.get("entries", {})
                    self.dirs = raw.get("dirs", {})
                    self.owners = raw.get("owners", {})
            except (OSError, ValueError, AttributeError):
                self.entries, self.dirs, self.owners = {}, {}, {}

    def meta_for(self, transcript: Path | str, st: os.stat_result | None = None) -> SessionMeta:
        key = str(transcript)
        self._used.add(key)
        st = st or os.stat(key)
        hit = self.entries.get(key)
        if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
            return meta_from(hit["meta"])
        fd = os.open(key, os.O_RDONLY)
        try:
            # A transcript seen before that changed is read whole once (its count becomes exact), then
            # kept up to date from what is appended; one never seen is read at its head and tail.
            scan = (scan_appended(fd, st.st_size, hit) if hit else None) or scan_transcript(fd, st.st_size, whole=hit is not None)
        finally:
            os.close(fd)
        self.entries[key] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "meta": dict(vars(scan.meta)),
            "end": scan.end,
            "sig": scan.sig,
        }
        self.dirty = True
        return scan.meta

    def legacy_owner(self, entry: os.DirEntry[str]) -> str | None:
        """The session a legacy agent-*.jsonl belongs to (read once per version of the file)."""
        try:
            st = entry.stat()
        except OSError:
            return None
        self._used.add(entry.path)
        hit = self.owners.get(entry.path)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]  # type: ignore[no-any-return]
        owner = legacy_agent_owner(entry.path)
        self.owners[entry.path] = [st.st_size, st.st_mtime_ns, owner]
        self.dirty = True
        return owner

    def prune(self) -> None:
        """Forget what the discovery that just ran did not see: deleted sessions and folders."""
        for table, seen in ((self.entries, self._used), (self.owners, self._used), (self.dirs, self.seen_dirs)):
            gone = [k for k in table if k not in seen]
            for k in gone:
                del table[k]
            self.dirty = self.dirty or bool(gone)

    def save(self) -> None:
        if self.file and self.dirty:
            data = {"version": CACHE_VERSION, "entries": self.entries, "dirs": self.dirs, "owners": self.owners}
            try:  # the Rust encoder, several times faster; json.dumps for what it refuses (lone surrogates)
                raw = _to_json(data)
            except ValueError:
                raw = json.dumps(data, separators=(",", ":")).encode("utf-8")
            atomic.write_bytes(self.file, raw)
            self.dirty = False
