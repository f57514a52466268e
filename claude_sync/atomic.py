"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

# Our temp files say whose they are, so that those a killed process left behind can be swept
# without touching anyone else's (the client writes temp files of its own in the same folders).
TEMP_MARK = ".claude-sync-"
TEMP_SUFFIX = ".tmp"


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write through a temp file in the same directory, fsync, then rename into place."""
    write_chunks(path, (data,), mode)


def write_chunks(path: Path, chunks: Iterable[bytes], mode: int | None = None) -> None:
    """write_bytes for content that comes a piece at a time (a large file is never held whole)."""
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new temp file of ours in `path`'s folder (created if missing): its descriptor and name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", suffix=TEMP_SUFFIX, dir=path.parent)


def write_text(path: Path, text: str, mode: int | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), mode)


def is_temp(name: str) -> bool:
    return name.startswith(".") and TEMP_MARK in name and name.endswith(TEMP_SUFFIX)


def sweep(folders: Iterable[Path], older_than: float) -> list[Path]:
    """Remove our temp files in `folders` (not below) untouched for `older_than` seconds: what a
    process killed mid-write left behind. Returns what was removed."""
    removed = []
    limit = time.time() - older_than
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            try:
                if is_temp(e.name) and e.is_file(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mtime < limit:
                    os.unlink(e.path)
                    removed.append(Path(e.path))
            except OSError:
                continue
    return removed


class Group:
    """New files of one session, written to temp files now and put in place together by a WriteBehind."""

    def __init__(self) -> None:
        self.files: list[tuple[str, Path]] = []  # (temp file, final path), in the order they must appear
        # Set once in place (an old mtime on a temp file would make a sweep take it for one left behind).
        self.mtimes: dict[Path, int] = {}  # final path -> mtime in ns

    def write(self, path: Path, chunks: Iterable[bytes], mode: int | None = None) -> str:
        """Write `chunks` to a temp file beside `path` (not yet synced, not yet in place); returns the temp file."""
        fd, tmp = _temp_beside(path)
        try:
            with os.fdopen(fd, "wb") as f:
                f.writelines(chunks)
            if mode is not None:
                os.chmod(tmp, mode)
        except BaseException:
            _unlink(tmp)
            raise
        self.files.append((tmp, path))
        return tmp

    def discard(self) -> None:
        for tmp, _path in self.files:
            _unlink(tmp)
        self.files = []


class WriteBehind:
    """Durable writes of many new files without waiting on each fsync in turn.

    Each fsync of its own costs a journal commit (about 4 ms here, 17 s of a 200-session pull on a
    new device); fsyncs issued together from threads share commits. A group (a session's new files)
    is committed in the background while the caller goes on: its temp files are fsynced in parallel,
    then renamed into place in their order, so a reader still sees a whole file or none, and the
    files of a group appear only once all of them are on disk. Groups commit in the order given.
    """

    def __init__(self, threads: int = 16, ahead: int = 64) -> None:
        self._ahead = ahead  # groups written but not yet in place, at most (temp files stay young)
        self._fsyncs = ThreadPoolExecutor(threads, thread_name_prefix="claude-sync-fsync")
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="claude-sync-commit")
        self._pending: list[tuple[object, Future[None]]] = []

    def submit(self, group: Group, token: object) -> None:
        if len(self._pending) >= self._ahead:
            self._pending[-self._ahead][1].exception()  # wait for the committer to catch up
        self._pending.append((token, self._committer.submit(self._commit, group)))

    def _commit(self, group: Group) -> None:
        try:
            list(self._fsyncs.map(_fsync_path, [tmp for tmp, _path in group.files]))
            for tmp, path in group.files:
                os.replace(tmp, path)
                if path in group.mtimes:
                    os.utime(path, ns=(group.mtimes[path], group.mtimes[path]))
        except BaseException:
            group.discard()  # what was renamed already stays: whole files
            raise

    def drain(self, wait: bool = False) -> list[tuple[object, BaseException | None]]:
        """Groups committed since the last drain (all of them when `wait`), in order, with their error."""
        out: list[tuple[object, BaseException | None]] = []
        while self._pending and (wait or self._pending[0][1].done()):
            token, fut = self._pending.pop(0)
            try:
                fut.result()
                out.append((token, None))
            except Exception as e:  # noqa: BLE001 - reported to the caller per group
                out.append((token, e))
        return out

    def close(self) -> None:
        self.drain(wait=True)
        self._committer.shutdown()
        self._fsyncs.shutdown()


def _fsync_path(tmp: str) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
