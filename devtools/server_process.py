"""`claude-sync serve` in a subprocess on 127.0.0.1: started on a free port, stopped by its pid.

Shared by the tests (tests/support/sync_server.py adds users, clients and fixtures) and the
benchmarks (bench/server_proc.py), so both run the server exactly as a user does; it lives in
neither, so that tests/ and bench/ do not import each other. No pytest here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """The server (or another command that takes `--port`), its output in `log_file` beside `data`.

    With `database`, the server keeps everything in that PostgreSQL database; several such
    processes on one database are replicas of one server.
    """

    start_timeout = 60.0

    def __init__(
        self,
        data: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
        max_bundle_bytes: int | None = None,
        command: list[str] | None = None,
        database: str | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.data, self.env, self.cwd = data, env, cwd
        self.max_bundle_bytes = max_bundle_bytes
        self.command = command
        self.database = database  # a postgresql:// URL: the store; `data` then only holds the log
        self.args = args or []
        self.log_file = data.parent / f"{data.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _command(self) -> list[str]:
        if self.command:
            return [*self.command, "--port", str(self.port)]
        cmd = [sys.executable, "-m", "claude_sync", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--database", self.database] if self.database else ["--data", str(self.data)]
        if self.max_bundle_bytes is not None:
            cmd += ["--max-bundle-bytes", str(self.max_bundle_bytes)]
        return cmd + self.args

    def start(self) -> ServerProcess:
        self.data.mkdir(parents=True, exist_ok=True)
        previous = self.port  # a restart keeps its address: devices are configured with it
        for attempt in range(5):  # another process may take the free port first
            self.port = previous if previous and attempt == 0 else free_port()
            with open(self.log_file, "ab") as log:
                self.proc = subprocess.Popen(
                    self._command(), cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
            if self._wait_healthy():
                return self
        raise RuntimeError(f"the sync server did not start; its log:\n{self.log()}")

    def _wait_healthy(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down cleanly), SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def kill(self) -> None:
        """Crash the server: SIGKILL, no chance to clean up."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def log(self) -> str:
        return self.log_file.read_text("utf-8", "replace") if self.log_file.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
