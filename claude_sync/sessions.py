"""Discover Claude Code sessions and every artifact that belongs to each.

A session's files are named in the device-independent logical layout of
claude_sync/format/layout.py, which is also the layout inside a bundle.

Discovery is built for thousands of sessions and gigabytes of transcripts:

* Listing metadata is read from the records (never from the folder name), from the
  head and the tail of each transcript only: the working directory, first prompt and
  first timestamp sit at the head; the last timestamp, the last prompt and the titles
  the client re-appends sit at the tail. A transcript that fits in the two windows is
  read whole. The result is cached by (size, mtime); a transcript that only grew is
  brought up to date from its appended bytes alone.
* Message counts are exact when the whole transcript was counted once, and kept exact
  from the appended bytes after that. A cold listing does not read whole transcripts:
  for one larger than the two windows the count is estimated from them
  (`message_count_exact` False) until the transcript next changes.
* Directories are read with os.scandir. A session's folder (file history, tasks,
  sub-agents) whose mtime and transcript did not change since the last discovery is not
  listed again: its logs, which grow in place, are stat'ed, and its other files, which
  the client writes whole alongside a transcript append, come from the cache. Folders
  changed within the last seconds are never cached (their mtime may not move again).
* Each session gets a fingerprint of the (name, size, mtime) of all its files, so a
  sync can tell that nothing changed without reading anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from pydantic_core import from_json as _from_json
from pydantic_core import to_json as _to_json

from . import atomic
from .format.layout import TRANSCRIPT, is_log, is_session_id

TITLE_MAX = 80
_SKIP_SUFFIXES = (".lock", ".tmp")
CACHE_VERSION = 3
WINDOW = 16 * 1024  # bytes read at the head and at the tail of a transcript
HEAD_LIMIT = 1024 * 1024  # how far the head is followed to find the first prompt and working directory
TITLE_HEAD = 64 * 1024  # how far the head is searched for a title (as far as the client's resume picker reads)
RACY_NS = 3 * 10**9  # a folder modified this recently may change again without its mtime moving


@dataclass
class SessionMeta:
    """What listing shows, read from the transcript."""

    cwd: str | None = None
    title: str = ""
    first_prompt: str = ""
    message_count: int = 0
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    message_count_exact: bool = True
    title_rank: int = 0  # 0: the first prompt stands in; 1 summary, 2 AI title, 3 custom title


_META_FIELDS = {f.name for f in fields(SessionMeta)}


def _digest(obj: object) -> str:
    return hashlib.blake2b(repr(obj).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def _group_digest(entries: list[tuple[str, int, int]]) -> str:
    """Hash of the plain files of one folder: (name in the folder, size, mtime_ns) of each."""
    entries.sort()
    return _digest(entries)


def _combine(logs: list[tuple[str, int, int]], groups: Mapping[str, str]) -> str:
    return _digest((sorted(logs), sorted(groups.items())))


def fingerprint(stats: Iterable[tuple[str, int, int]]) -> str:
    """Identity of a session's files on this disk: (logical name, size, mtime_ns) of each.

    Logs are hashed one by one; the other files folder by folder, which lets discovery
    reuse a folder's hash from its cache. Any added, removed, grown or rewritten file
    changes it.
    """
    logs: list[tuple[str, int, int]] = []
    groups: dict[str, list[tuple[str, int, int]]] = {}
    for name, size, mtime in stats:
        if is_log(name):
            logs.append((name, size, mtime))
        else:
            folder, _, base = name.rpartition("/")
            groups.setdefault(folder, []).append((base, size, mtime))
    return _combine(logs, {d: _group_digest(e) for d, e in groups.items()})


class SessionFiles(Mapping[str, Path]):
    """A session's files by logical name.

    Discovery knows the names of every log, but takes the other files of an unchanged
    folder from its cache as a count and a hash; their names are listed from disk the first
    time they are needed (to pack the session). `fingerprint` is what discovery saw.
    """

    def __init__(
        self,
        known: dict[str, str],
        folders: list[tuple[str, str]],
        count: int,
        logs: list[tuple[str, int, int]],
        groups: dict[str, str],
    ) -> None:
        self._known = known  # logical name -> path
        self._folders = folders  # (folder, logical prefix) whose files are not all in `known`
        self._count = count
        self._paths: dict[str, Path] | None = None
        self._logs, self._groups = logs, groups

    @functools.cached_property
    def fingerprint(self) -> str:
        """The fingerprint of what discovery saw, worked out when first asked for (a listing never does)."""
        return _combine(self._logs, self._groups)

    def _load(self) -> dict[str, Path]:
        if self._paths is None:
            raw = dict(self._known)
            for folder, prefix in self._folders:
                raw.update(_list_files(folder, prefix))
            self._paths = {name: Path(p) for name, p in raw.items()}
        return self._paths

    def __getitem__(self, name: str) -> Path:
        if self._paths is None and name in self._known:
            return Path(self._known[name])
        return self._load()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._known or name in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return self._count if self._paths is None else len(self._paths)

    def __repr__(self) -> str:
        return f"SessionFiles({sorted(self._load())!r})"


class LocalSession:
    """One session on this device: its id, its project folder, its files and listing metadata."""

    def __init__(
        self,
        session_id: str,
        project_dir: Path,
        files: Mapping[str, Path] | None = None,
        meta: SessionMeta | None = None,
        size: int | None = None,
    ) -> None:
        self.session_id = session_id
        self.project_dir = project_dir
        self.files: Mapping[str, Path] = files if files is not None else {}
        self.meta = meta or SessionMeta()
        self._size = size

    def __repr__(self) -> str:
        return f"LocalSession({self.session_id!r}, {str(self.project_dir)!r})"

    @property
    def transcript(self) -> Path:
        return self.files[TRANSCRIPT]

    @property
    def cwd(self) -> str | None:
        return self.meta.cwd

    @property
    def size(self) -> int:
        if self._size is not None:
            return self._size
        total = 0
        for p in self.files.values():
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total


def _loads(data: bytes) -> object:
    """json.loads, 2-3x faster: the Rust parser pydantic brings, json.loads for what it refuses.

    The two agree on every document both accept; the Rust one refuses a few that json.loads takes
    (lone surrogate escapes, a byte order mark, UTF-16), which then go to json.loads.
    """
    try:
        return _from_json(data)
    except ValueError:
        return json.loads(data)


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


_DIR_FD = os.scandir in os.supports_fd and hasattr(os, "O_DIRECTORY")


def _list_files(folder: str, prefix: str) -> Iterator[tuple[str, str]]:
    """(logical name, path) of the files right in `folder` (its subfolders are listed on their own)."""
    for e in _scandir(folder):
        if not e.is_dir() and not e.name.endswith(_SKIP_SUFFIXES):
            yield prefix + e.name, e.path


def legacy_agent_owner(path: str) -> str | None:
    """The session a legacy agent-*.jsonl belongs to: the first sessionId its records name."""
    try:
        with open(path, "rb") as f:
            for line in f:
                owner = legacy_agent_owner_of(line)
                if owner is not None:
                    return owner
    except OSError:
        pass
    return None


def legacy_agent_owner_of(line: bytes) -> str | None:
    """The sessionId one record of a legacy agent log names, if any."""
    try:
        rec = _loads(line)
    except ValueError:
        return None
    if isinstance(rec, dict) and rec.get("sessionId"):
        return str(rec["sessionId"])
    return None


class _Found:
    """What discovery gathers for one session before it becomes a LocalSession."""

    __slots__ = ("sid", "project_dir", "transcript", "stat", "known", "logs", "groups", "size", "count", "folders")

    def __init__(self, sid: str, project_dir: Path, transcript: str, st: os.stat_result) -> None:
        self.sid, self.project_dir, self.transcript, self.stat = sid, project_dir, transcript, st
        self.known: dict[str, str] = {}  # logs by logical name (other files are listed when needed)
        self.logs: list[tuple[str, int, int]] = []
        self.groups: dict[str, str] = {}  # logical folder -> hash of its plain files
        self.size = 0
        self.count = 0
        self.folders: list[tuple[str, str]] = []  # (folder, logical prefix) holding plain files
        self.log(TRANSCRIPT, transcript, st.st_size, st.st_mtime_ns)

    @property
    def gate(self) -> str:
        return f"{self.stat.st_size}:{self.stat.st_mtime_ns}"

    def log(self, logical: str, path: str, size: int, mtime: int) -> None:
        self.known[logical] = path
        self.logs.append((logical, size, mtime))
        self.size += size
        self.count += 1

    def _plain(self, path: str, prefix: str, digest: str, size: int, count: int) -> None:
        if count:
            self.groups[prefix[:-1]] = digest
            self.size += size
            self.count += count
            self.folders.append((path, prefix))

    def visit(self, cache: MetaCache, path: str, prefix: str, now: int) -> None:
        """Add the files under a folder of this session, from the cache when the folder did not change."""
        cache.seen_dirs.add(path)
        rec = cache.dirs.get(path)
        if rec is not None:
            try:
                st = os.stat(path)
            except OSError:
                return
        if rec is not None and rec[0] == st.st_mtime_ns and rec[1] == self.gate:
            _mtime, _gate, digest, size, count, logs, subdirs = rec
            self._plain(path, prefix, digest, size, count)
            for name in logs:
                log = os.path.join(path, name)
                try:
                    lst = os.stat(log)
                except OSError:
                    continue
                self.log(prefix + name, log, lst.st_size, lst.st_mtime_ns)
            for sub in subdirs:
                self.visit(cache, os.path.join(path, sub), prefix + sub + "/", now)
            return
        plain: list[tuple[str, int, int]] = []
        logs, subdirs = [], []
        size = 0
        # The folder is opened once: its entries stat relative to it (no path walk per file).
        fd = -1
        try:
            if _DIR_FD:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
                st = os.fstat(fd)
                with os.scandir(fd) as it:
                    entries = list(it)
            else:
                st = os.stat(path)
                entries = _scandir(path)
        except OSError:
            if fd >= 0:
                os.close(fd)
            return
        try:
            for e in entries:
                name = e.name
                if e.is_dir():
                    if not e.is_symlink():
                        subdirs.append(name)
                    continue
                if name.endswith(_SKIP_SUFFIXES):
                    continue
                try:
                    fst = e.stat()
                except OSError:
                    continue
                if name.endswith(".jsonl"):
                    logs.append(name)
                    self.log(prefix + name, os.path.join(path, name), fst.st_size, fst.st_mtime_ns)
                else:
                    fsize = fst.st_size
                    size += fsize
                    plain.append((name, fsize, fst.st_mtime_ns))
        finally:
            if fd >= 0:
                os.close(fd)
        digest = _group_digest(plain) if plain else ""
        self._plain(path, prefix, digest, size, len(plain))
        if now - st.st_mtime_ns > RACY_NS:
            cache.dirs[path] = [st.st_mtime_ns, self.gate, digest, size, len(plain), logs, subdirs]
        else:
            cache.dirs.pop(path, None)
        cache.dirty = True
        for sub in subdirs:
            self.visit(cache, os.path.join(path, sub), prefix + sub + "/", now)

    def session(self, meta: SessionMeta, todos: list[tuple[str, str, os.stat_result]]) -> LocalSession:
        if todos:
            plain = []
            for name, path, st in todos:
                self.known["todos/" + name] = path
                plain.append((name, st.st_size, st.st_mtime_ns))
                self.size += st.st_size
                self.count += 1
            self.groups["todos"] = _group_digest(plain)
        files = SessionFiles(self.known, self.folders, self.count, self.logs, self.groups)
        return LocalSession(self.sid, self.project_dir, files, meta, self.size)


def discover(claude_dir: Path, cache: MetaCache | None = None) -> list[LocalSession]:
    """Every session under the config dir, with all its artifacts."""
    cache = cache if cache is not None else MetaCache(None)
    root = str(claude_dir)
    now = time.time_ns()
    found: dict[str, _Found] = {}
    legacy: list[tuple[Path, os.DirEntry[str]]] = []
    for pentry in sorted(_scandir(os.path.join(root, "projects")), key=lambda e: e.name):
        if not pentry.is_dir():
            continue
        pdir = Path(pentry.path)
        entries = sorted(_scandir(pentry.path), key=lambda e: e.name)
        subdirs = {e.name for e in entries if e.is_dir()}
        for entry in entries:
            name = entry.name
            if not name.endswith(".jsonl") or not entry.is_file():
                continue
            stem = name[: -len(".jsonl")]
            if stem.startswith("agent-"):
                legacy.append((pdir, entry))
                continue
            if not is_session_id(stem):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            if stem in found and found[stem].stat.st_mtime_ns >= st.st_mtime_ns:
                continue  # the same id in two folders: the newer copy is the session
            f = found[stem] = _Found(stem, pdir, entry.path, st)
            if stem in subdirs:
                f.visit(cache, os.path.join(pentry.path, stem), "session/", now)
    _walk_rest(cache, root, found, legacy, now)
    todos: dict[str, list[tuple[str, str, os.stat_result]]] = {}
    for e in _scandir(os.path.join(root, "todos")):
        name = e.name
        if name.endswith(".json") and not name.startswith("."):
            sid = name.split("-agent-")[0]
            if sid in found:
                try:
                    todos.setdefault(sid, []).append((name, e.path, e.stat()))
                except OSError:
                    pass
    sessions = []
    for sid in sorted(found):
        f = found[sid]
        sessions.append(f.session(cache.meta_for(f.transcript, f.stat), todos.get(sid, [])))
    cache.prune()
    cache.save()
    return sessions


def _walk_rest(
    cache: MetaCache, root: str, found: dict[str, _Found], legacy: list[tuple[Path, os.DirEntry[str]]], now: int
) -> None:
    """Legacy agent files, file history and tasks of the sessions found."""
    for pdir, entry in legacy:
        owner = cache.legacy_owner(entry)
        if owner in found and found[owner].project_dir == pdir:
            try:
                st = entry.stat()
            except OSError:
                continue
            found[owner].log("legacy-agents/" + entry.name, entry.path, st.st_size, st.st_mtime_ns)
    for kind in ("file-history", "tasks"):
        for e in _scandir(os.path.join(root, kind)):
            if e.name in found and e.is_dir():
                found[e.name].visit(cache, e.path, kind + "/", now)


# -- metadata ---------------------------------------------------------------


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
    if len(text) > 4 * limit:  # a long prompt: its whitespace is collapsed only as far as the title goes
        head = " ".join(text[: 4 * limit].split())
        if len(head) > limit:  # the collapsed head is a prefix of the collapsed whole, and long enough
            return head[: limit - 1].rstrip() + "…"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_MESSAGE_RE = re.compile(rb'"type":"(?:user|assistant)"')


def _count_messages(buf: bytes, end: int) -> int:
    """Lines of buf[:end] holding a user or assistant record (what listing calls messages)."""
    n, line_end = 0, -1
    for m in _MESSAGE_RE.finditer(buf, 0, end):
        if m.start() > line_end:
            n += 1
            line_end = buf.find(b"\n", m.start())
            if line_end < 0:
                line_end = len(buf)
    return n


def _rough_count(buf: bytes, start: int, end: int) -> int:
    """Messages in buf[start:end], counted by marker (for an estimate, a line is assumed to hold one)."""
    return buf.count(b'"type":"user"', start, end) + buf.count(b'"type":"assistant"', start, end)


def count_messages(data: bytes) -> int:
    """Messages in the complete lines of a transcript."""
    return _count_messages(data, data.rfind(b"\n") + 1)


def _record_at(buf: bytes, pos: int, memo: dict[int, dict | None] | None = None) -> tuple[dict | None, int, int]:
    """The record on the line holding buf[pos], and where that line starts and ends."""
    start = buf.rfind(b"\n", 0, pos) + 1
    end = buf.find(b"\n", pos)
    if end < 0:
        end = len(buf)
    if memo is not None and start in memo:
        return memo[start], start, end
    try:
        rec = _loads(buf[start:end])
    except ValueError:
        rec = None
    rec = rec if isinstance(rec, dict) else None
    if memo is not None:
        memo[start] = rec
    return rec, start, end


def _first(buf: bytes, end: int, marker: bytes, want, memo: dict | None = None) -> object:  # type: ignore[no-untyped-def]
    """The first value `want(record)` gives (not None) among the lines of buf[:end] that hold `marker`."""
    pos = buf.find(marker, 0, end)
    while pos >= 0:
        rec, _start, line_end = _record_at(buf, pos, memo)
        value = want(rec) if rec is not None else None
        if value is not None:
            return value
        pos = buf.find(marker, line_end, end)
    return None


def _str_field(key: str):  # type: ignore[no-untyped-def]
    return lambda rec: rec[key] if isinstance(rec.get(key), str) else None


def _user_prompt(rec: dict) -> str | None:
    return _prompt_text(rec) if rec.get("type") == "user" else None


def _fold_head(meta: SessionMeta, buf: bytes, end: int) -> None:
    """The fields that come from the first records: working directory, first timestamp, first prompt."""
    memo: dict[int, dict | None] = {}
    if meta.cwd is None:
        meta.cwd = _first(buf, end, b'"cwd"', _str_field("cwd"), memo)  # type: ignore[assignment]
    if meta.first_timestamp is None:
        meta.first_timestamp = _first(buf, end, b'"timestamp"', _str_field("timestamp"), memo)  # type: ignore[assignment]
    if not meta.first_prompt:
        text = _first(buf, end, b'"type":"user"', _user_prompt, memo)
        if text:
            meta.first_prompt = shorten(text)  # type: ignore[arg-type]


def _head_needed(meta: SessionMeta) -> bool:
    return meta.cwd is None or meta.first_timestamp is None or not meta.first_prompt


def _fold_titles(meta: SessionMeta, buf: bytes, end: int, start: int = 0, summaries: bool = True) -> None:
    """Titles in buf[start:end]: a custom title beats an AI title beats a summary; a later one of a rank wins.

    Summaries (older clients) head a transcript: a head-and-tail read looks for them in its first window only.
    """
    hits = []
    pos = buf.find(b'-title"', start, end)  # one scan finds both "custom-title" and "ai-title"
    while pos >= 0:
        if buf.endswith(b'"custom', 0, pos):
            hits.append((pos, "customTitle", 3))
        elif buf.endswith(b'"ai', 0, pos):
            hits.append((pos, "aiTitle", 2))
        pos = buf.find(b'-title"', pos + 7, end)
    pos = buf.find(b'"summary"', start, end) if summaries else -1
    while pos >= 0:
        hits.append((pos, "summary", 1))
        pos = buf.find(b'"summary"', pos + 9, end)
    for pos, key, rank in sorted(hits):
        rec, _s, _e = _record_at(buf, pos)
        value = (rec.get(key) or rec.get("title")) if rec is not None else None
        if isinstance(value, str) and value.strip() and rank >= meta.title_rank:
            meta.title, meta.title_rank = shorten(value), rank


def _fold_last(meta: SessionMeta, buf: bytes, end: int) -> None:
    """The timestamp of the last record in buf[:end] that has one of its own, and a working directory if unknown."""
    if meta.cwd is None:
        meta.cwd = _first(buf, end, b'"cwd"', _str_field("cwd"))  # type: ignore[assignment]
    pos = buf.rfind(b'"timestamp"', 0, end)
    while pos >= 0:
        rec, start, _e = _record_at(buf, pos)
        if rec is not None and isinstance(rec.get("timestamp"), str):
            meta.last_timestamp = rec["timestamp"]
            return
        pos = buf.rfind(b'"timestamp"', 0, start)


def _finish(meta: SessionMeta) -> SessionMeta:
    if meta.last_timestamp is None:
        meta.last_timestamp = meta.first_timestamp
    if meta.title_rank == 0:
        meta.title = meta.first_prompt or "(untitled)"
    return meta


@dataclass
class _Scan:
    meta: SessionMeta
    end: int | None  # where the exact count stops (after the last complete line), None when estimated
    sig: str  # hash of the bytes just before `end`: tells an append from a rewrite


def _sig(fd: int, end: int) -> str:
    start = max(0, end - 256)
    return hashlib.blake2b(os.pread(fd, end - start, start), digest_size=8).hexdigest()


def _scan_fd(fd: int, size: int, whole: bool = False) -> _Scan:
    """Metadata of a transcript from its head and tail; from all of it when it is small or `whole`."""
    meta = SessionMeta()
    if whole or size <= 2 * WINDOW:
        buf = os.pread(fd, size, 0)
        end = buf.rfind(b"\n") + 1  # complete lines only: the client may be writing the last one
        _fold_head(meta, buf, end)
        _fold_titles(meta, buf, end)
        _fold_last(meta, buf, end)
        meta.message_count = _count_messages(buf, end)
        return _Scan(_finish(meta), end, _sig(fd, end))
    # The head: from the start, further only while a head field is missing.
    head = os.pread(fd, WINDOW, 0)
    while True:
        head_end = head.rfind(b"\n") + 1
        _fold_head(meta, head, head_end)
        if len(head) >= size or not _head_needed(meta) or len(head) >= HEAD_LIMIT:
            break
        head += os.pread(fd, min(len(head), size - len(head)), len(head))
    _fold_titles(meta, head, head_end)
    if meta.title_rank < 2 and len(head) < min(size, TITLE_HEAD):
        # The client titles a session right after its first prompt: look as far as its own picker does.
        head += os.pread(fd, min(size, TITLE_HEAD) - len(head), len(head))
        searched, head_end = head_end, head.rfind(b"\n") + 1
        _fold_titles(meta, head, head_end, searched, summaries=False)
    # The tail: the complete lines after size - WINDOW, further back until one carries a timestamp.
    start = max(head_end, size - WINDOW)
    while True:
        tail = os.pread(fd, size - start, start)
        skip = 0
        if start > head_end:  # the first line is cut off
            skip = tail.find(b"\n") + 1 or len(tail)
        tail_end = tail.rfind(b"\n") + 1
        if start == head_end or tail.find(b'"timestamp"', skip, tail_end) >= 0:
            break
        start = max(head_end, size - 4 * (size - start))
    tail_lines = tail[skip:]
    _fold_titles(meta, tail_lines, max(0, tail_end - skip), summaries=start + skip == head_end)
    _fold_last(meta, tail_lines, max(0, tail_end - skip))
    if meta.last_timestamp is None:  # the head reached (nearly) the end
        _fold_last(meta, head, head_end)
    if start + skip == head_end:  # head and tail met: every line was seen once
        meta.message_count = _count_messages(head, head_end) + _count_messages(tail, tail_end)
        stop = start + tail_end
        return _Scan(_finish(meta), stop, _sig(fd, stop))
    # Records per byte in what was read, raw (a marker sits at the start of its record): an estimate.
    count = _rough_count(head, 0, len(head)) + _rough_count(tail, 0, len(tail))
    meta.message_count = round(count * size / (len(head) + len(tail)))
    meta.message_count_exact = False
    return _Scan(_finish(meta), None, "")


def read_meta(path: Path | str) -> SessionMeta:
    """Listing metadata of a transcript; complete lines only, unknown record types ignored."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _scan_fd(fd, os.fstat(fd).st_size).meta
    finally:
        os.close(fd)


def _grown(fd: int, size: int, old: dict) -> _Scan | None:
    """Bring cached metadata up to date from the bytes appended since; None when it was not an append."""
    end = old.get("end")
    if end is None or end > size or not old.get("sig") or _sig(fd, end) != old["sig"]:
        return None
    meta = SessionMeta(**{k: v for k, v in old["meta"].items() if k in _META_FIELDS})
    new = os.pread(fd, size - end, end)
    new_end = new.rfind(b"\n") + 1
    if _head_needed(meta):
        _fold_head(meta, new, new_end)
    _fold_titles(meta, new, new_end)
    _fold_last(meta, new, new_end)
    meta.message_count += _count_messages(new, new_end)
    stop = end + new_end
    return _Scan(_finish(meta), stop, _sig(fd, stop))


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
                raw = json.loads(file.read_text("utf-8"))
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
            return SessionMeta(**{k: v for k, v in hit["meta"].items() if k in _META_FIELDS})
        fd = os.open(key, os.O_RDONLY)
        try:
            # A transcript seen before that changed is read whole once (its count becomes exact), then
            # kept up to date from what is appended; one never seen is read at its head and tail.
            scan = (_grown(fd, st.st_size, hit) if hit else None) or _scan_fd(fd, st.st_size, whole=hit is not None)
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
