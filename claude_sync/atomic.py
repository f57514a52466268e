"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
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


def _temp_beside(path: Path, folders: set[Path] | None = None) -> tuple[int, str]:
    """A new temp file of ours in `path`'s folder (created if missing, unless in `folders`, the
    folders known to exist): its descriptor and name."""
    if folders is None or path.parent not in folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        if folders is not None:
            folders.add(path.parent)
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
    """New files of one session, put in place together by a WriteBehind.

    A file given as bytes (`add`) is written to its temp file by the WriteBehind's threads, in
    parallel with the others and with the caller's next session; a file given as chunks (`write`)
    is written to its temp file at once (a large one streamed from a file that may not outlive the
    call). Either way nothing is in place before the commit.
    """

    def __init__(self) -> None:
        self.files: list[_Pending] = []  # in the order they must appear
        # Set once in place (an old mtime on a temp file would make a sweep take it for one left behind).
        self.mtimes: dict[Path, int] = {}  # final path -> mtime in ns
        self.stats: dict[Path, tuple[int, int]] = {}  # final path -> (size, mtime in ns) it will have in place
        self.on_commit: Callable[[], None] | None = None  # called once every file is in place
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held in memory until committed."""
        return sum(len(f.data) for f in self.files if f.data is not None)

    def write(self, path: Path, chunks: Iterable[bytes], mode: int | None = None) -> str:
        """Write `chunks` to a temp file beside `path` now (not yet synced, not yet in place); returns the temp file."""
        fd, tmp = _temp_beside(path)
        try:
            with os.fdopen(fd, "wb") as f:
                f.writelines(chunks)
                st = os.fstat(f.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
        except BaseException:
            _unlink(tmp)
            raise
        self.files.append(_Pending(path, tmp=tmp))
        self._stat(path, st.st_size, st.st_mtime_ns)
        return tmp

    def add(self, path: Path, data: bytes, mode: int | None = None) -> None:
        """`data` for `path`, written to its temp file by the WriteBehind that commits the group."""
        self.files.append(_Pending(path, data=data, mode=mode))

    def _stat(self, path: Path, size: int, mtime_ns: int) -> None:
        with self._lock:
            self.stats[path] = (size, self.mtimes.get(path, mtime_ns))

    def discard(self) -> None:
        for f in self.files:
            if f.tmp is not None:
                _unlink(f.tmp)
        self.files = []


class _Pending:
    __slots__ = ("path", "tmp", "data", "mode")

    def __init__(self, path: Path, *, tmp: str | None = None, data: bytes | None = None, mode: int | None = None) -> None:
        self.path, self.tmp, self.data, self.mode = path, tmp, data, mode


class WriteBehind:
    """Durable writes of many new files without waiting on each one in turn.

    Each fsync of its own costs a journal commit and a writeback of one file (about 4 ms here,
    17 s of a 200-session pull on a new device when done one after the other). Creating and
    writing the temp files is kernel work too (about half a millisecond a file here), which
    threads do on every core while the caller prepares the next session. A group (a session's new
    files) is committed in the background while the caller goes on: its temp files are written
    folder by folder, the folders in parallel (threads creating files in one folder only spin on
    its lock), made durable, then renamed into place in their order, so a reader still sees a
    whole file or none, and the files of a group appear only once all of them are on disk. Groups
    commit in the order given.

    Durable how: on Linux (5.8 and later, where it reports writeback errors) one `syncfs` covers
    every group whose temp files are written by then, however many (a batch: the kernel writes
    them out together, one journal commit, one cache flush); elsewhere each temp file is fsynced
    by the thread that wrote it.
    """

    def __init__(self, threads: int = 16, ahead: int = 64, ahead_bytes: int = 64 * 1024 * 1024) -> None:
        self._ahead = ahead  # groups written but not yet in place, at most (temp files stay young)
        self._ahead_bytes = ahead_bytes  # bytes handed over but not yet written, at most
        self._fsyncs = ThreadPoolExecutor(threads, thread_name_prefix="claude-sync-fsync")
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="claude-sync-commit")
        self._pending: list[tuple[object, Future[None], int]] = []
        self._folders: set[Path] = set()  # folders known to exist (one mkdir each, not one a file)
        self._syncfs = syncfs_call()  # None: an fsync of each file instead
        # Groups submitted and not yet committed, oldest first, numbered: (number, group, its writes).
        self._queue: collections.deque[tuple[int, Group, list[Future[None]]]] = collections.deque()
        self._queue_lock = threading.Lock()
        self._submitted = 0
        self._durable_through = 0  # groups up to this number are on disk (a syncfs ran after their writes)

    def submit(self, group: Group, token: object) -> None:
        size = group.size
        # Wait for the committer to catch up, oldest first: at most `ahead` groups, `ahead_bytes` unwritten.
        held = sum(n for _t, _f, n in self._pending)
        for k, (_token, fut, n) in enumerate(self._pending):
            if len(self._pending) - k < self._ahead and held + size <= self._ahead_bytes:
                break
            fut.exception()
            held -= n
        # The files start at once, one job a folder: creating files in one folder is serialized by the
        # kernel (threads creating them side by side spin on its lock), while several groups' folders
        # are written in parallel. The committer puts them in place in order.
        folders: dict[Path, list[_Pending]] = {}
        for f in group.files:
            folders.setdefault(f.path.parent, []).append(f)
        jobs = [self._fsyncs.submit(self._settle_all, group, files) for files in folders.values()]
        with self._queue_lock:
            self._submitted += 1
            number = self._submitted
            self._queue.append((number, group, jobs))
        self._pending.append((token, self._committer.submit(self._commit, number, group, jobs), size))

    def _commit(self, number: int, group: Group, jobs: list[Future[None]]) -> None:
        try:
            wait(jobs)  # all of them, failed or not: none may create a temp file after the discard below
            for job in jobs:
                job.result()
            if self._syncfs is not None and number > self._durable_through:
                self._sync_written(number)
            for f in group.files:
                assert f.tmp is not None
                os.replace(f.tmp, f.path)
                if f.path in group.mtimes:
                    os.utime(f.path, ns=(group.mtimes[f.path], group.mtimes[f.path]))
        except BaseException:
            group.discard()  # what was renamed already stays: whole files
            raise
        finally:
            with self._queue_lock:
                while self._queue and self._queue[0][0] <= number:
                    self._queue.popleft()
        if group.on_commit is not None:
            group.on_commit()

    def _sync_written(self, number: int) -> None:
        """One syncfs for group `number` and every later one whose temp files are all written by now."""
        assert self._syncfs is not None
        with self._queue_lock:
            queued = [(n, g, jobs) for n, g, jobs in self._queue if n >= number]
        assert queued[0][0] == number  # still queued: removed only once committed
        through, others = number, set[Path]()
        for n, g, jobs in queued[1:]:
            if not all(j.done() and not j.cancelled() and j.exception() is None for j in jobs):
                break  # not written yet (or failing: its own commit reports it): the next syncfs takes it
            through = n
            others.update(f.path.parent for f in g.files)
        # One folder on each filesystem the batch wrote to; this group's own first (they must be there).
        devices: dict[int, tuple[Path, bool]] = {}
        for folder in {f.path.parent for f in queued[0][1].files}:
            devices.setdefault(os.stat(folder).st_dev, (folder, True))
        for folder in others:
            try:
                devices.setdefault(os.stat(folder).st_dev, (folder, False))
            except OSError:  # gone meanwhile: that group's own commit finds out
                through = number
        for folder, own in devices.values():
            try:
                fd = os.open(folder, os.O_RDONLY)
            except OSError:
                if own:
                    raise
                through = number
                continue
            try:
                self._syncfs(fd)
            finally:
                os.close(fd)
        self._durable_through = through

    def _settle_all(self, group: Group, files: list[_Pending]) -> None:
        for f in files:
            self._settle(group, f)

    def _settle(self, group: Group, f: _Pending) -> None:
        """Write a file's temp file (when given as bytes), and make it durable unless a syncfs will."""
        if f.data is None:
            assert f.tmp is not None
            if self._syncfs is None:
                _fsync_path(f.tmp)
            return
        fd, f.tmp = _temp_beside(f.path, self._folders)
        try:
            view = memoryview(f.data)
            while view:
                view = view[os.write(fd, view) :]
            if f.mode is not None:
                os.fchmod(fd, f.mode)
            st = os.fstat(fd)
            if self._syncfs is None:
                os.fsync(fd)
        finally:
            os.close(fd)
        group._stat(f.path, st.st_size, st.st_mtime_ns)
        f.data = None  # written: the memory goes

    def drain(self, wait: bool = False) -> list[tuple[object, BaseException | None]]:
        """Groups committed since the last drain (all of them when `wait`), in order, with their error."""
        out: list[tuple[object, BaseException | None]] = []
        while self._pending and (wait or self._pending[0][1].done()):
            token, fut, _size = self._pending.pop(0)
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


def syncfs_call() -> Callable[[int], None] | None:
    """syncfs(2) of the filesystem holding an open descriptor, raising OSError; None where it is
    missing or may not report a failed writeback (Linux before 5.8): fsync each file there."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (5, 8):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return None
    call.argtypes, call.restype = [ctypes.c_int], ctypes.c_int

    def syncfs(fd: int) -> None:
        if call(fd) != 0:  # ctypes lets other threads run meanwhile
            err = ctypes.get_errno()
            raise OSError(err, f"cannot sync the files written to disk: {os.strerror(err)}")

    return syncfs


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
