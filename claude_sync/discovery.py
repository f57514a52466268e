"""Discover Claude Code sessions and every artifact that belongs to each.

A session's files are named in the device-independent logical layout of
claude_sync/format/layout.py, which is also the layout inside a bundle.

Discovery is built for thousands of sessions and gigabytes of transcripts:

* Listing metadata comes from transcript.py (head and tail of each transcript only),
  through meta_cache.py (kept by size and mtime, brought up to date from appended bytes).
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
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .format.layout import TRANSCRIPT, is_log, is_session_id
from .meta_cache import MetaCache
from .transcript import SessionMeta

_SKIP_SUFFIXES = (".lock", ".tmp")
RACY_NS = 3 * 10**9  # a folder modified this recently may change again without its mtime moving


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
