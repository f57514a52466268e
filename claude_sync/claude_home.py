"""What the real Claude Code client keeps where (see ../shared/claude-code-format.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_FOLDER_NAME = 200


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def _java_hash(text: str) -> int:
    h = 0
    for unit in _utf16_units(text):
        h = (h * 31 + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def project_folder_name(cwd: str) -> str:
    """The client's folder name under projects/ for a working directory.

    Every UTF-16 code unit outside [A-Za-z0-9] becomes '-'; names longer than
    200 get the first 200 characters, '-', and base36 of |JavaHash(cwd)|.
    """
    enc = "".join(
        chr(u) if (48 <= u <= 57 or 65 <= u <= 90 or 97 <= u <= 122) else "-" for u in _utf16_units(cwd)
    )
    if len(enc) <= MAX_FOLDER_NAME:
        return enc
    return enc[:MAX_FOLDER_NAME] + "-" + _base36(abs(_java_hash(cwd)))


def find_project_folder(projects_dir: Path, cwd: str) -> Path:
    """The folder the client uses for `cwd`: an existing long-name variant wins."""
    name = project_folder_name(cwd)
    exact = projects_dir / name
    if len(name) > MAX_FOLDER_NAME and not exact.exists() and projects_dir.is_dir():
        prefix = name[:MAX_FOLDER_NAME] + "-"
        for p in sorted(projects_dir.iterdir()):
            if p.name.startswith(prefix) and p.is_dir():
                return p
    return exact


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_sessions(claude_dir: Path) -> dict[str, int]:
    """Session ids held by a running client on this device -> its pid."""
    out: dict[str, int] = {}
    reg = claude_dir / "sessions"
    if not reg.is_dir():
        return out
    for f in reg.glob("*.json"):
        try:
            rec = json.loads(f.read_text("utf-8"))
            pid = int(rec.get("pid") or f.stem)
            sid = rec.get("sessionId")
        except (OSError, ValueError, AttributeError):
            continue
        if sid and pid_alive(pid):
            out[str(sid)] = pid
    return out
