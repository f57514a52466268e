"""Waiting for the background work of the Claude Code hooks (their workers are detached processes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from claude_sync.format.locking import Busy, exclusive
from claude_sync.hooks.runner import HOOK_LOCK, HOOK_LOG, Outbox

DEADLINE = 120.0


def wait_for(cond: Callable[[], object], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {deadline:.0f} s waiting for {what}")


def settled(data: Path) -> bool:
    """No hook worker holds the lock, and every request in the outbox has had its attempt."""
    for entry in Outbox(data).pending():
        if entry.path.suffix == ".inflight" or not entry.data.get("attempts"):
            return False
    try:
        with exclusive(data / HOOK_LOCK, 0):
            return True
    except Busy:
        return False


def wait_settled(data: Path, deadline: float = DEADLINE) -> None:
    time.sleep(0.2)  # let a worker spawned just now reach its lock
    wait_for(lambda: settled(data) and settled(data), f"the hook workers of {data}", deadline)


def hook_log(data: Path) -> str:
    try:
        return (data / HOOK_LOG).read_text("utf-8")
    except FileNotFoundError:
        return ""
