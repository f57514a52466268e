"""Timing, counting and memory helpers shared by the figures."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between closest ranks."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def stat_walk(root: Path) -> tuple[int, int]:
    """The baseline for listing: visit every directory and stat every file. (files, bytes)"""
    files = size = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    files += 1
                    size += e.stat(follow_symlinks=False).st_size
    return files, size


def head_tail_read(projects: Path, edge: int = 16 * 1024) -> tuple[int, int]:
    """The baseline for a cold listing: the first and last `edge` bytes of every session transcript
    (`projects/<folder>/<id>.jsonl`), the least a listing that shows titles and last prompts reads.
    (transcripts, bytes read)"""
    n = read = 0
    with os.scandir(projects) as folders:
        for folder in folders:
            if not folder.is_dir(follow_symlinks=False):
                continue
            with os.scandir(folder.path) as it:
                for e in it:
                    if not e.name.endswith(".jsonl") or not e.is_file(follow_symlinks=False):
                        continue
                    with open(e.path, "rb") as f:
                        size = os.fstat(f.fileno()).st_size
                        read += len(f.read(edge))
                        if size > edge:
                            f.seek(max(edge, size - edge))
                            read += len(f.read(edge))
                    n += 1
    return n, read


def read_all(root: Path) -> int:
    """Read every file once (brings the tree into the page cache for both sides of a comparison)."""
    n = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                while chunk := f.read(1 << 20):
                    n += len(chunk)
    return n


def tree_bytes(root: Path) -> int:
    """Apparent size of every file under `root` (what a repository holds, not disk blocks)."""
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                pass
    return total


class OpenAudit:
    """Counts files under `root` opened by this process (Python's `open` audit event) while active.

    Audit hooks cannot be removed, so one hook is installed for the process and switched on and off.
    Directory scans raise other events (os.scandir, os.listdir) and do not count.
    """

    _active: OpenAudit | None = None
    _installed = False

    def __init__(self, root: Path) -> None:
        self.root = str(root.resolve()) + os.sep
        self.opened: list[str] = []

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        audit = cls._active
        if audit is None or event != "open" or not args:
            return
        path = args[0]
        if isinstance(path, int):
            return
        path = os.fsdecode(path)
        if path.startswith(audit.root) and os.path.isfile(path):
            audit.opened.append(path)

    def __enter__(self) -> OpenAudit:
        if not OpenAudit._installed:
            sys.addaudithook(OpenAudit._hook)
            OpenAudit._installed = True
        OpenAudit._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        OpenAudit._active = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc (VmRSS now, VmHWM its peak), in KB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


class RssSampler:
    """Samples a process's resident memory every few milliseconds; `peak_kb` is the largest seen."""

    def __init__(self, pid: int, every: float = 0.005) -> None:
        self.pid, self.every = pid, every
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_kb = max(self.peak_kb, rss_kb(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# Runs a command and reports its rusage. Linux counts, in a child's peak memory, the memory of the
# process it was spawned from (with vfork, which subprocess uses, that process's own peak): a command
# started from the bench's process, which has held corpora and results, reported the bench's peak as
# its own (733 MB for a pull of 290 MB). This wrapper is a small interpreter, so its child's peak is
# the command's.
_RUSAGE_WRAPPER = """
import os, sys
report, cmd = sys.argv[1], sys.argv[2:]
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_pid, status, ru = os.wait4(pid, 0)
with open(report, "w") as f:
    f.write(f"{ru.ru_utime + ru.ru_stime} {ru.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_rusage(cmd: list[str], **popen: Any) -> tuple[int, float, int]:
    """Run a command to its end; (exit code, CPU seconds user+sys, peak RSS in KB) of it and the
    children it waited for, as the kernel counts them, without the bench's own memory."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "rusage")
        code = subprocess.Popen([sys.executable, "-I", "-S", "-c", _RUSAGE_WRAPPER, report, *cmd], **popen).wait()
        try:
            with open(report) as f:
                cpu, rss = f.read().split()
        except OSError as e:  # the command could not be started: the wrapper said why on stderr
            raise RuntimeError(f"{cmd[0]} did not run (exit {code})") from e
    return code, float(cpu), int(rss)
