"""The real sync server (`claude-sync serve`) in a subprocess on 127.0.0.1, stopped by its pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .env import CODE


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`claude-sync serve` (or another command taking --port) with its output in a log file."""

    def __init__(
        self, data: Path, env: dict[str, str], *, max_bundle_bytes: int | None = None, command: list[str] | None = None
    ) -> None:
        self.data, self.env, self.max_bundle_bytes = data, env, max_bundle_bytes
        self.command = command
        self.log = data.parent / f"{data.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def add_user(self, name: str) -> str:
        """A token for a new user, through the same command an administrator runs."""
        r = subprocess.run(
            [sys.executable, "-m", "claude_sync", "server", "add-user", name, "--data", str(self.data)],
            env=self.env,
            cwd=CODE,
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return r.stdout.strip().splitlines()[-1]

    def start(self) -> ServerProcess:
        self.data.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            self.port = free_port()
            if self.command:
                cmd = [*self.command, "--port", str(self.port)]
            else:
                cmd = [
                    sys.executable,
                    "-m",
                    "claude_sync",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data",
                    str(self.data),
                ]
                if self.max_bundle_bytes:
                    cmd += ["--max-bundle-bytes", str(self.max_bundle_bytes)]
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd, cwd=CODE, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"the server did not start; see {self.log}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
