"""An isolated device for one benchmark: its own HOME, CLAUDE_CONFIG_DIR and CLAUDE_SYNC_HOME.

Nothing a benchmark runs may see the real ~/.claude or ~/.claude-sync-sessions: in-process calls
get explicit `Paths`, subprocesses get an environment naming only the benchmark's folders, and
remotes are local bare Git repositories or a sync server on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from claude_sync.config import Config, Paths, save_config
from claude_sync.engine import SyncEngine

REPO = Path(__file__).resolve().parents[1]
# The folder whose claude_sync is measured: this checkout, or an older one for a before/after (--code).
CODE = Path(os.environ.get("CLAUDE_SYNC_BENCH_CODE") or REPO)


class BenchEnv:
    def __init__(
        self, home: Path, data: Path, *, claude: Path | None = None, projects_root: Path | None = None
    ) -> None:
        self.home = home
        self.data = data
        self.claude = claude or home / ".claude"
        self.projects_root = projects_root or home / "code"
        self.paths = Paths(data=data, claude=self.claude, home=home)
        self.config: Config | None = None
        for d in (home, data, self.claude, self.projects_root):
            d.mkdir(parents=True, exist_ok=True)

    def configure(self, device: str = "bench", **settings: object) -> Config:
        self.config = Config(device=device, projects_root=str(self.projects_root), **settings)  # type: ignore[arg-type]
        save_config(self.config, self.paths)
        return self.config

    def engine(self, backend=None) -> SyncEngine:  # type: ignore[no-untyped-def]
        assert self.config is not None, "configure() first"
        return SyncEngine(self.config, self.paths, backend)

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_", "GIT_"))}
        env.update(
            HOME=str(self.home),
            CLAUDE_CONFIG_DIR=str(self.claude),
            CLAUDE_SYNC_HOME=str(self.data),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            # Tokens go to the credential store's file, never to a desktop keyring.
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
            PYTHONPATH=os.pathsep.join(
                dict.fromkeys(p for p in (str(CODE), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
            ),
        )
        env.update(extra)
        return env

    def cli_command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "claude_sync", *args]

    def cli(self, *args: str, timeout: float = 3600, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            self.cli_command(*args),
            env=self.environ(),
            cwd=CODE,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode not in (0, 1):
            raise RuntimeError(f"claude-sync {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
        return r


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def bare_remote(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(path)], check=True)
    return path
