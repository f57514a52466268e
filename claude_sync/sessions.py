"""Discover Claude Code sessions and every artifact that belongs to each.

A session's files are named in a device-independent *logical* layout, which
is also the layout inside a bundle:

    transcript.jsonl          projects/<enc>/<sid>.jsonl
    session/<rest>            projects/<enc>/<sid>/<rest>   (subagents/...)
    legacy-agents/<name>      projects/<enc>/agent-*.jsonl of older clients
    file-history/<name>       file-history/<sid>/<name>
    tasks/<name>              tasks/<sid>/<name>            (lock files skipped)
    todos/<name>              todos/<sid>-agent-*.json      (older clients)

Metadata is read from the records (never from the folder name) and cached by
(size, mtime) so that listing thousands of sessions stays fast.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import atomic

TRANSCRIPT = "transcript.jsonl"
TITLE_MAX = 80
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SKIP_SUFFIXES = (".lock", ".tmp")
CACHE_VERSION = 2


@dataclass
class SessionMeta:
    """What listing shows, read from the transcript."""

    cwd: str | None = None
    title: str = ""
    first_prompt: str = ""
    message_count: int = 0
    first_timestamp: str | None = None
    last_timestamp: str | None = None


@dataclass
class LocalSession:
    session_id: str
    project_dir: Path  # projects/<enc>
    files: dict[str, Path] = field(default_factory=dict)  # logical name -> disk path
    meta: SessionMeta = field(default_factory=SessionMeta)

    @property
    def transcript(self) -> Path:
        return self.files[TRANSCRIPT]

    @property
    def cwd(self) -> str | None:
        return self.meta.cwd

    @property
    def size(self) -> int:
        total = 0
        for p in self.files.values():
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total


def is_log(logical: str) -> bool:
    """Append-only JSONL logs: merged and sent as deltas; everything else is a plain file."""
    return logical.endswith(".jsonl")


def disk_path(logical: str, claude_dir: Path, project_dir: Path, session_id: str) -> Path:
    """Where a logical file of a session lives on this device."""
    if logical == TRANSCRIPT:
        return project_dir / f"{session_id}.jsonl"
    head, _, rest = logical.partition("/")
    if not rest:
        raise ValueError(f"unknown session file {logical!r}")
    if head == "session":
        return project_dir / session_id / rest
    if head == "legacy-agents":
        return project_dir / rest
    if head == "file-history":
        return claude_dir / "file-history" / session_id / rest
    if head == "tasks":
        return claude_dir / "tasks" / session_id / rest
    if head == "todos":
        return claude_dir / "todos" / rest
    raise ValueError(f"unknown session file {logical!r}")


def _walk_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            if not n.endswith(_SKIP_SUFFIXES):
                yield Path(dirpath) / n


def _legacy_agent_owner(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("sessionId"):
                    return str(rec["sessionId"])
    except OSError:
        pass
    return None


def discover(claude_dir: Path, cache: MetaCache | None = None) -> list[LocalSession]:
    """Every session under the config dir, with all its artifacts."""
    projects = claude_dir / "projects"
    found: dict[str, LocalSession] = {}
    legacy: list[tuple[Path, Path]] = []
    if projects.is_dir():
        for pdir in sorted(p for p in projects.iterdir() if p.is_dir()):
            for entry in sorted(pdir.iterdir()):
                if not entry.name.endswith(".jsonl") or not entry.is_file():
                    continue
                stem = entry.name[: -len(".jsonl")]
                if stem.startswith("agent-"):
                    legacy.append((pdir, entry))
                    continue
                if not _UUID_RE.match(stem):
                    continue
                if stem in found and found[stem].transcript.stat().st_mtime >= entry.stat().st_mtime:
                    continue  # the same id in two folders: the newer copy is the session
                s = LocalSession(stem, pdir, {TRANSCRIPT: entry})
                for f in _walk_files(pdir / stem):
                    s.files["session/" + f.relative_to(pdir / stem).as_posix()] = f
                found[stem] = s
    for pdir, entry in legacy:
        owner = _legacy_agent_owner(entry)
        if owner in found and found[owner].project_dir == pdir:
            found[owner].files["legacy-agents/" + entry.name] = entry
    for sid, s in found.items():
        for f in _walk_files(claude_dir / "file-history" / sid):
            s.files["file-history/" + f.relative_to(claude_dir / "file-history" / sid).as_posix()] = f
        for f in _walk_files(claude_dir / "tasks" / sid):
            s.files["tasks/" + f.relative_to(claude_dir / "tasks" / sid).as_posix()] = f
    todos = claude_dir / "todos"
    if todos.is_dir():
        for f in todos.glob("*.json"):
            sid = f.name.split("-agent-")[0]
            if sid in found:
                found[sid].files["todos/" + f.name] = f
    sessions = sorted(found.values(), key=lambda s: s.session_id)
    cache = cache if cache is not None else MetaCache(None)
    for s in sessions:
        s.meta = cache.meta_for(s.transcript)
    cache.save()
    return sessions


# -- metadata ---------------------------------------------------------------

_TITLE_TYPES = {b'"custom-title"': ("customTitle", 3), b'"ai-title"': ("aiTitle", 2), b'"summary"': ("summary", 1)}


def _prompt_text(rec: dict) -> str | None:
    """The user's own words in a user record, or None for tool results and meta records."""
    if rec.get("isMeta") or rec.get("isSidechain"):
        return None
    msg = rec.get("message")
    content = msg.get("content") if isinstance(msg, dict) else None
    if isinstance(content, list):
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        content = " ".join(t for t in texts if t) if texts else None
    if not isinstance(content, str):
        return None
    text = content.strip()
    if not text or text.startswith("<"):  # command wrappers, caveats, hook output
        return None
    return text


def shorten(text: str, limit: int = TITLE_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def read_meta(path: Path) -> SessionMeta:
    """Read listing metadata; complete lines only, unknown record types ignored."""
    meta = SessionMeta()
    title_rank = 0
    last_ts_line: bytes | None = None
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # a line the client is still writing
            is_msg = b'"type":"user"' in line or b'"type":"assistant"' in line
            if is_msg:
                meta.message_count += 1
            if b'"timestamp"' in line:
                last_ts_line = line
            need_head = meta.cwd is None or meta.first_timestamp is None or (not meta.first_prompt and is_msg)
            titled = next(((k, r) for t, (k, r) in _TITLE_TYPES.items() if t in line), None)
            if not (need_head or titled):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            if meta.cwd is None and isinstance(rec.get("cwd"), str):
                meta.cwd = rec["cwd"]
            if meta.first_timestamp is None and isinstance(rec.get("timestamp"), str):
                meta.first_timestamp = rec["timestamp"]
            if not meta.first_prompt and rec.get("type") == "user":
                text = _prompt_text(rec)
                if text:
                    meta.first_prompt = shorten(text)
            if titled:
                key, rank = titled
                value = rec.get(key) or rec.get("title")
                if isinstance(value, str) and value.strip() and rank >= title_rank:
                    meta.title, title_rank = shorten(value), rank
    if last_ts_line is not None:
        try:
            ts = json.loads(last_ts_line).get("timestamp")
            meta.last_timestamp = ts if isinstance(ts, str) else meta.first_timestamp
        except ValueError:
            meta.last_timestamp = meta.first_timestamp
    if not meta.title:
        meta.title = meta.first_prompt or "(untitled)"
    return meta


class MetaCache:
    """Metadata per transcript, valid while its size and mtime are unchanged."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self.entries: dict[str, dict] = {}
        self.dirty = False
        if file and file.exists():
            try:
                raw = json.loads(file.read_text("utf-8"))
                if raw.get("version") == CACHE_VERSION:
                    self.entries = raw.get("entries", {})
            except (OSError, ValueError, AttributeError):
                self.entries = {}

    def meta_for(self, transcript: Path) -> SessionMeta:
        st = transcript.stat()
        key = str(transcript)
        hit = self.entries.get(key)
        if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
            return SessionMeta(**hit["meta"])
        meta = read_meta(transcript)
        self.entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "meta": asdict(meta)}
        self.dirty = True
        return meta

    def save(self) -> None:
        if self.file and self.dirty:
            atomic.write_text(self.file, json.dumps({"version": CACHE_VERSION, "entries": self.entries}))
            self.dirty = False
