"""Where the large files of a pulled session wait between fetching and writing: temp files, not memory.

A backend reads a session one file at a time. A file larger than SPILL_BYTES goes to a temp file
of the backend's (a `Spilled`) and passes through rendering and restoring as a file, so a pull's
memory does not grow with what a session holds or inflates to, whichever backend it comes from.

Each fetch spills into a folder of its own. A bulk pull fetches up to prefetch.AHEAD sessions
ahead of the one it writes, so the folders of the last SPILLS_KEPT fetches are kept and older
ones removed. The root is shared by the processes of a device (CLI, hooks, the sidecar): a
backend's first fetch, under the sync lock like every fetch, removes what a killed pull left, and
closing a backend, which may happen outside the lock, removes only the folders it made.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from .format.bundle import Spilled

SPILL_BYTES = 16 * 1024 * 1024  # a file of a pulled session larger than this waits in a temp file
SPILLS_KEPT = 16  # fetches whose spilled files are kept (a bulk pull fetches up to prefetch.AHEAD ahead)
# What one fetch keeps in memory, all its files together: past it every file spills, however small
# (a session of many files of up to SPILL_BYTES each could otherwise fill memory).
MEMORY_BUDGET = 32 * 1024 * 1024
_INSTANCES = itertools.count()


class SpillFolders:
    """The spill folders of one backend under `root` (None: a temp folder of its own, made when needed)."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._own = root is None
        self._name = f"{os.getpid()}-{next(_INSTANCES)}"  # this backend's folder under a shared root
        self._fetches = 0  # fetches so far: each spills into its own folder
        self._made: set[int] = set()  # the fetches that made a folder (few do: a stat for each would be many)
        self._in_memory = 0  # bytes the fetch under way keeps in memory

    def next(self) -> None:
        """A fetch starts (under the sync lock): the folder of the fetch SPILLS_KEPT before goes, and
        on the first fetch what a pull that was killed left."""
        if self._fetches == 0 and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
        self._fetches += 1
        self._in_memory = 0
        old = self._fetches - SPILLS_KEPT
        if old in self._made:
            self._made.discard(old)
            shutil.rmtree(self._path(old), ignore_errors=True)

    def hold(self, n: int) -> bool:
        """Whether the fetch under way may keep n more bytes in memory (they are counted if so)."""
        if self._in_memory + n > MEMORY_BUDGET:
            return False
        self._in_memory += n
        return True

    def release(self, n: int) -> None:
        self._in_memory -= n

    def current(self) -> Path:
        """The folder of the fetch under way, made on first use."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="claude-sync-spill-"))
        d = self._path(self._fetches)
        self._made.add(self._fetches)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def clear(self) -> None:
        """Remove what this backend spilled (the whole root only if it is its own: another process's
        pull may be spilling beside it)."""
        if self._root is not None:
            shutil.rmtree(self._root if self._own else self._root / self._name, ignore_errors=True)
        self._made.clear()

    def _path(self, fetch: int) -> Path:
        assert self._root is not None
        return self._root / self._name / str(fetch)


class SpillSink:
    """One file of a pulled session as it is read: in memory, then past `limit` bytes (or the fetch's
    MEMORY_BUDGET) a temp file in the fetch's spill folder (`result()` is then a Spilled)."""

    def __init__(self, folders: SpillFolders, name: str, limit: int | None = None) -> None:
        self._folders, self._name = folders, name
        self._limit = SPILL_BYTES if limit is None else limit
        self._chunks: list[bytes] = []
        self._file: BinaryIO | None = None
        self._digest: hashlib._Hash | None = None
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._file is None:
            self._chunks.append(chunk)
            if self.size <= self._limit and self._folders.hold(len(chunk)):
                return
            self._folders.release(self.size - len(chunk))  # what it held goes to the file
            self._file = open(self._folders.current() / self._name, "wb")
            self._digest = hashlib.sha256()
            chunks, self._chunks = self._chunks, []
        else:
            chunks = [chunk]
        for c in chunks:
            self._file.write(c)
            self._digest.update(c)  # type: ignore[union-attr]

    def result(self) -> bytes | Spilled:
        if self._file is None:
            return b"".join(self._chunks)
        self._file.close()
        return Spilled(Path(self._file.name), self.size, self._digest.hexdigest())  # type: ignore[union-attr]

    def drop(self) -> None:
        self._chunks = []
        if self._file is not None:
            self._file.close()
