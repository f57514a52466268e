"""The launcher the Claude Code hooks run: a tiny script under ~/.claude-sync-sessions/bin/.

Hooks outlive the shell that installed them, so the launcher records, at install time, the
Python interpreter and the folders its packages come from (a pip/venv install, or the libraries
bundled with the VS Code extension). `claude-sync hooks install` rewrites it every time, so a
reinstall after an extension update points it at the new folders while settings.json stays put.
It runs `python -m claude_sync.hook_runner` (hooks/runner.py, under the name every launcher ever
written uses) rather than the CLI: the CLI imports the whole engine, which would eat the 1.5 s the
client gives every SessionEnd hook together.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from .runner import HOOK_LOG, package_root

# The marker policy.py recognises our settings.json entries by: keep it in the file name.
LAUNCHER_NAME = "claude-sync-hook"


def is_windows() -> bool:
    return os.name == "nt"


def launcher_path(data: Path) -> Path:
    return data / "bin" / (LAUNCHER_NAME + (".cmd" if is_windows() else ""))


@dataclass(frozen=True)
class LauncherSpec:
    """What a launcher runs: this interpreter, with these folders on PYTHONPATH."""

    python: str
    python_path: tuple[str, ...]
    data: Path

    @classmethod
    def current(cls, data: Path, libs: Sequence[str] = (), python: str | None = None) -> LauncherSpec:
        folders = [os.path.abspath(os.path.expanduser(p)) for p in libs if p]
        folders.append(str(package_root()))
        return cls(python or sys.executable, tuple(dict.fromkeys(folders)), data)

    @property
    def path(self) -> Path:
        return launcher_path(self.data)

    def command(self, event: str) -> str:
        """The command line settings.json runs for `event` (session-start / session-end)."""
        if is_windows():
            return f'"{self.path}" {event}'
        return f"{shlex.quote(str(self.path))} {event}"

    def render(self) -> str:
        return _render_cmd(self) if is_windows() else _render_sh(self)


def _render_sh(spec: LauncherSpec) -> str:
    q = shlex.quote
    log = spec.data / HOOK_LOG
    return f"""#!/bin/sh
# Runs the Claude Code hooks of claude-sync. Written by `claude-sync hooks install`;
# run that again to refresh it (after an update of the VS Code extension, for example).
PYTHONPATH={q(os.pathsep.join(spec.python_path))}
export PYTHONPATH
py={q(spec.python)}
if [ ! -x "$py" ]; then
  # Never fail the client: note it in the hook log and let the session go on.
  printf '%s [launcher] %s is gone: run `claude-sync hooks install` again\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$py" >> {q(str(log))} 2>/dev/null
  exit 0
fi
# SessionEnd has 1.5 s for every hook together: skip site-packages (-S), it needs only the
# standard library and claude_sync, which PYTHONPATH names. Its worker gets the full interpreter.
fast=
[ "$1" = session-end ] && fast=-S
exec "$py" $fast -m claude_sync.hook_runner --data {q(str(spec.data))} "$@"
"""


def _render_cmd(spec: LauncherSpec) -> str:
    return f"""@echo off
rem Runs the Claude Code hooks of claude-sync. Written by `claude-sync hooks install`;
rem run that again to refresh it (after an update of the VS Code extension, for example).
set "PYTHONPATH={os.pathsep.join(spec.python_path)}"
if not exist "{spec.python}" (
  echo %DATE% %TIME% [launcher] {spec.python} is gone: run claude-sync hooks install again>>"{spec.data / HOOK_LOG}"
  exit /b 0
)
"{spec.python}" -m claude_sync.hook_runner --data "{spec.data}" %*
exit /b 0
"""


def write_launcher(spec: LauncherSpec) -> bool:
    """Write (or refresh) the launcher; True when its content changed."""
    text = spec.render()
    try:
        if spec.path.read_text("utf-8") == text:
            return False
    except OSError:
        pass
    atomic.write_text(spec.path, text, mode=0o755)
    return True


def read_python(path: Path) -> str | None:
    """The interpreter an existing launcher runs (for `hooks status`)."""
    try:
        text = path.read_text("utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("py="):
            parts = shlex.split(line[3:])
            return parts[0] if parts else None
        if line.startswith('if not exist "'):
            return line[len('if not exist "') :].split('"', 1)[0]
    return None


def check_launcher(path: Path, env: dict[str, str] | None = None, timeout: float = 60) -> str | None:
    """Run the launcher's self-check; None when it works, else what went wrong."""
    try:
        r = subprocess.run(
            [str(path), "check"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {path}: {e}"
    if r.returncode != 0 or r.stdout.strip() != "ok":
        return f"{path} does not work: " + (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
    return None
