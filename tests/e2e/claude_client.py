"""Run the real Claude Code CLI as if on separate machines.

A :class:`ClaudeMachine` is one simulated machine: its own ``HOME``, the config dir
``HOME/.claude`` (``CLAUDE_CONFIG_DIR``) and a projects root under which tests make
project folders. :meth:`ClaudeMachine.run` runs ``claude -p`` there against the mock
Messages API and returns a :class:`ClaudeRun`.

Nothing here touches the real ``~/.claude``: every run gets an explicit ``HOME`` and
``CLAUDE_CONFIG_DIR``, and inherits only ``PATH``/locale variables from the caller.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_ALLOWED_TOOLS",
    "RESUME_SEARCHES_ALL_PROJECTS_SINCE",
    "ClaudeMachine",
    "ClaudeRun",
    "ClaudeRunTimeout",
    "base_env",
    "client_version",
    "encode_project_dir",
    "parse_version",
]

# Tools the scenarios use; names of both 2.0 and 2.1 clients, unknown names are harmless.
DEFAULT_ALLOWED_TOOLS: tuple[str, ...] = (
    "Read", "Write", "Edit", "Bash", "Glob", "Grep",
    "Agent", "Task",
    "TaskCreate", "TaskUpdate", "TaskList", "TaskGet", "TodoWrite",
    "ToolSearch",
)

DEFAULT_TIMEOUT = 120.0

# From this client version on, ``--resume <sid>`` finds the session in ANY folder under
# ``projects/`` (it keeps appending to that file and tells the model the new working
# directory). Up to 2.1.222 it looks only in ``projects/<enc of the real cwd>/`` and
# fails with "No conversation found with session ID: <sid>" (found by bisecting).
RESUME_SEARCHES_ALL_PROJECTS_SINCE: tuple[int, int, int] = (2, 1, 223)

# Variables of the calling environment a run may inherit (nothing else leaks in).
_INHERITED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM")


def encode_project_dir(path: str | os.PathLike[str]) -> str:
    """The client's folder name for a project path (``projects/<enc>``).

    Every UTF-16 code unit outside ``[A-Za-z0-9]`` becomes ``-``; names over 200
    characters are cut to 200 and get ``-<base36 of abs(java hash)>`` appended.
    """
    s = os.fspath(path)
    units = s.encode("utf-16-le")
    codes = [int.from_bytes(units[i:i + 2], "little") for i in range(0, len(units), 2)]
    enc = "".join(
        chr(c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122) else "-" for c in codes
    )
    if len(enc) <= 200:
        return enc
    h = 0
    for c in codes:
        h = (h * 31 + c) & 0xFFFFFFFF
    if h >= 0x80000000:
        h -= 0x100000000
    h = abs(h)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    b36 = ""
    while True:
        h, r = divmod(h, 36)
        b36 = digits[r] + b36
        if h == 0:
            break
    return enc[:200] + "-" + b36


def base_env(home: Path, config_dir: Path, api_url: str | None) -> dict[str, str]:
    """The environment one run of the client gets (see module doc)."""
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        CLAUDE_CONFIG_DIR=str(config_dir),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        ANTHROPIC_API_KEY="test",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING="1",
        IS_SANDBOX="1",
    )
    if api_url:
        env["ANTHROPIC_BASE_URL"] = api_url
    return env


class ClaudeRunTimeout(AssertionError):
    """The client did not finish in time (it was killed)."""


@dataclass
class ClaudeRun:
    """Outcome of one ``claude`` invocation."""

    args: list[str]
    cwd: Path
    returncode: int
    stdout: str
    stderr: str
    duration: float
    result: dict[str, Any] | None = None  # parsed ``--output-format json`` object

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not (self.result or {}).get("is_error", False)

    @property
    def session_id(self) -> str | None:
        return (self.result or {}).get("session_id")

    @property
    def text(self) -> str:
        """The final assistant text (``result`` field), or raw stdout."""
        if self.result is not None:
            return str(self.result.get("result", ""))
        return self.stdout

    def check(self) -> ClaudeRun:
        """Raise AssertionError with the whole output unless the run succeeded."""
        if not self.ok:
            raise AssertionError(f"claude failed:\n{self.describe()}")
        return self

    def describe(self) -> str:
        return (
            f"$ (cd {self.cwd} && {' '.join(self.args)})\n"
            f"exit {self.returncode} after {self.duration:.1f}s\n"
            f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"
        )


def _parse_json_output(stdout: str) -> dict[str, Any] | None:
    s = stdout.strip()
    if not s:
        return None
    try:
        obj = json.loads(s)
    except ValueError:
        # tolerate log lines before the JSON: take the last line that parses
        for line in reversed(s.splitlines()):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            break
        else:
            return None
    if isinstance(obj, list):  # stream-json / verbose arrays: take the result message
        for item in reversed(obj):
            if isinstance(item, dict) and item.get("type") == "result":
                return item
        return None
    return obj if isinstance(obj, dict) else None


@dataclass
class ClaudeMachine:
    """One simulated machine with its own HOME and ``HOME/.claude`` config dir.

    ``root`` is created if needed and holds ``home/`` (HOME; config dir ``home/.claude``)
    and ``work/`` (``projects_root``, where :meth:`project` makes project folders).
    ``api_url`` is the mock API.
    """

    root: Path
    claude_bin: str  # an os.PathLike is accepted too
    api_url: str | None = None
    name: str = "machine"
    extra_env: dict[str, str] = field(default_factory=dict)
    default_timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        # realpath: the client uses the resolved cwd, so should the tests
        self.root = Path(os.path.realpath(self.root))
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.projects_root.mkdir(parents=True, exist_ok=True)
        self.claude_bin = os.fspath(self.claude_bin)

    # layout
    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def config_dir(self) -> Path:
        return self.home / ".claude"

    @property
    def projects_root(self) -> Path:
        """Where this machine's project folders live (not the client's ``projects/``)."""
        return self.root / "work"

    @property
    def claude_json(self) -> Path:
        """The client's global state file. With CLAUDE_CONFIG_DIR set it lives inside it."""
        return self.config_dir / ".claude.json"

    def project(self, name: str) -> Path:
        """Create (if needed) and return the real path of ``projects_root/name``."""
        p = self.projects_root / name
        p.mkdir(parents=True, exist_ok=True)
        return Path(os.path.realpath(p))

    def transcript_dir(self, cwd: str | os.PathLike[str]) -> Path:
        return self.config_dir / "projects" / encode_project_dir(os.path.realpath(cwd))

    def transcript_path(self, cwd: str | os.PathLike[str], session_id: str) -> Path:
        return self.transcript_dir(cwd) / f"{session_id}.jsonl"

    def read_transcript(self, cwd: str | os.PathLike[str], session_id: str) -> list[dict[str, Any]]:
        path = self.transcript_path(cwd, session_id)
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = base_env(self.home, self.config_dir, self.api_url)
        env.update(self.extra_env)
        if extra:
            env.update(extra)
        return env

    # running
    def run(
        self,
        prompt: str,
        cwd: str | os.PathLike[str],
        *,
        resume: str | None = None,
        continue_: bool = False,
        allowed_tools: Sequence[str] | None = DEFAULT_ALLOWED_TOOLS,
        extra_args: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        check: bool = False,
    ) -> ClaudeRun:
        """Run ``claude -p PROMPT [--resume SID] --output-format json --allowedTools ...``.

        The prompt comes right after ``-p`` (``--allowedTools`` is variadic), the tools are
        joined with commas. The process gets no stdin and is killed (with its process
        group) after ``timeout`` seconds, raising :class:`ClaudeRunTimeout`.
        """
        args = [self.claude_bin, "-p", prompt]
        if resume:
            args += ["--resume", resume]
        if continue_:
            args += ["--continue"]
        args += ["--output-format", "json"]
        if allowed_tools:
            args += ["--allowedTools", ",".join(allowed_tools)]
        args += list(extra_args)
        return self.run_raw(args, cwd, env=env, timeout=timeout, check=check)

    def run_raw(
        self,
        args: Sequence[str],
        cwd: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        check: bool = False,
    ) -> ClaudeRun:
        """Run any command line (``args[0]`` is usually ``self.claude_bin``) in this machine's env."""
        timeout = self.default_timeout if timeout is None else timeout
        cwd = Path(cwd)
        start = time.monotonic()
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # own process group, so a timeout kills its children too
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise ClaudeRunTimeout(
                f"claude did not finish within {timeout}s: {' '.join(args)}\n"
                f"--- stdout\n{out[-4000:]}\n--- stderr\n{err[-4000:]}"
            ) from None
        run = ClaudeRun(
            args=list(args), cwd=cwd, returncode=proc.returncode, stdout=out, stderr=err,
            duration=time.monotonic() - start, result=_parse_json_output(out),
        )
        if check:
            run.check()
        return run

    def version(self, timeout: float = 60) -> tuple[int, ...]:
        """The client's version as a tuple, e.g. ``(2, 1, 197)``."""
        return parse_version(
            self.run_raw([self.claude_bin, "--version"], self.home, timeout=timeout).stdout)


def parse_version(text: str) -> tuple[int, ...]:
    """``"2.1.197 (Claude Code)"`` -> ``(2, 1, 197)``."""
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(f"no version in {text!r}")
    return tuple(int(x) for x in m.groups())


def client_version(claude_bin: str | os.PathLike[str], timeout: float = 60) -> tuple[int, ...]:
    """Version of a client binary as a tuple, from ``claude --version`` (isolated HOME)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="claude-version-") as home:
        env = base_env(Path(home), Path(home) / ".claude", None)
        out = subprocess.run([os.fspath(claude_bin), "--version"], env=env, cwd=home,
                             capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, check=False)
    return parse_version(out.stdout)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
