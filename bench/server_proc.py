"""The real sync server (`claude-sync serve`) for the benchmarks: the launcher the tests use too
(devtools/server_process.py), run from the measured checkout (`--code`) with the benchmark's
isolated environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devtools.server_process import ServerProcess as _ServerProcess

from .env import CODE


class ServerProcess(_ServerProcess):
    def __init__(
        self,
        data: Path,
        env: dict[str, str],
        *,
        max_bundle_bytes: int | None = None,
        command: list[str] | None = None,
        database: str | None = None,
    ) -> None:
        super().__init__(data, env=env, cwd=CODE, max_bundle_bytes=max_bundle_bytes, command=command, database=database)

    def add_user(self, name: str) -> str:
        """A token for a new user, through the same command an administrator runs."""
        r = subprocess.run(
            [sys.executable, "-m", "claude_sync", "server", "add-user", name]
            + (["--database", self.database] if self.database else ["--data", str(self.data)]),
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return r.stdout.strip().splitlines()[-1]
