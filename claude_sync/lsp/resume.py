"""What resuming a session in a terminal needs: where, the command, and what to warn about first.

The client resumes in the session's own project folder. Two things make a resume surprising: a
checkout on another branch than the one the session ran on, and uncommitted changes the session
did not make; both are said before the client starts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

TAIL_BYTES = 256 * 1024
_FILE_PATH = re.compile(rb'"file_path"\s*:\s*"((?:[^"\\]|\\.)*)"')


def session_branch(transcript: Path) -> str | None:
    """The git branch the session last ran on (the client records it on each message)."""
    try:
        with transcript.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            tail = f.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        if b'"gitBranch"' not in line:
            continue
        try:
            branch = json.loads(line).get("gitBranch")
        except ValueError:
            continue
        if isinstance(branch, str) and branch:
            return branch
    return None


def touched_files(transcript: Path, cwd: str) -> set[str]:
    """Files the session wrote or edited (tool calls with a file_path), relative to `cwd`; read line by line."""
    found: set[str] = set()
    try:
        with transcript.open("rb") as f:
            for line in f:
                if b'"tool_use"' not in line:
                    continue
                for m in _FILE_PATH.finditer(line):
                    try:
                        p = json.loads(b'"' + m.group(1) + b'"')
                    except ValueError:
                        continue
                    found.add(os.path.relpath(p, cwd) if os.path.isabs(p) else p)
    except OSError:
        pass
    return found


def _git(cwd: str, *args: str) -> str | None:
    try:
        r = subprocess.run(
            ["git", "-C", cwd, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def warnings_for(transcript: Path, cwd: str) -> list[str]:
    if not os.path.isdir(cwd):
        return [f"the project folder {cwd} does not exist on this device; the client starts there empty-handed"]
    out: list[str] = []
    head = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if head is None:
        return out  # not a Git checkout: nothing to compare
    here, then = head.strip(), session_branch(transcript)
    if then and here and here != "HEAD" and here != then:
        out.append(f"the checkout is on branch {here}, but the session ran on {then}")
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no") or ""
    dirty = {line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if len(line) > 3}
    foreign = sorted(dirty - touched_files(transcript, cwd))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        out.append(f"the checkout has uncommitted changes the session did not make: {shown}")
    return out


def plan(session_id: str, transcript: Path, cwd: str) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "local": True,
        "cwd": cwd,
        "command": f"claude --resume {session_id}",
        "warnings": warnings_for(transcript, cwd),
    }
