"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", suffix=TEMP_SUFFIX, dir=path.parent)
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
