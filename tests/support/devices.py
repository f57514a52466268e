"""A simulated device: its own home, Claude config dir, projects root and sync config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from claude_sync.claude_home import project_folder_name
from claude_sync.config import Config, Paths, save_config
from claude_sync.engine import Selection, Summary, SyncEngine
from tests.support.claude_fixture import FixtureSession, rich_session

REPO = Path(__file__).resolve().parents[2]


class Device:
    def __init__(self, root: Path, name: str, projects: str, *, git_url: str | None = None, **config: object) -> None:
        self.name = name
        self.home = root / name
        self.projects = self.home / projects
        self.projects.mkdir(parents=True, exist_ok=True)
        self.paths = Paths(data=self.home / ".claude-sync-sessions", claude=self.home / ".claude", home=self.home)
        self.config = Config(device=name, projects_root=str(self.projects), git_url=git_url, **config)  # type: ignore[arg-type]
        save_config(self.config, self.paths)

    def cwd(self, key: str) -> str:
        if key.startswith("~/"):
            return str(self.home / key[2:])
        return str(self.projects / key)

    def project_dir(self, key: str) -> Path:
        return self.paths.claude / "projects" / project_folder_name(self.cwd(key))

    def rich_session(self, key: str = "acme/api", session_id: str | None = None) -> FixtureSession:
        Path(self.cwd(key)).mkdir(parents=True, exist_ok=True)
        return rich_session(self.paths.claude, self.cwd(key), str(self.home), session_id)

    def session(self, key: str = "acme/api", **kw: object) -> FixtureSession:
        Path(self.cwd(key)).mkdir(parents=True, exist_ok=True)
        return FixtureSession(self.paths.claude, self.cwd(key), **kw)  # type: ignore[arg-type]

    def engine(self, backend=None) -> SyncEngine:  # type: ignore[no-untyped-def]
        return SyncEngine(self.config, self.paths, backend)

    def push(self, *ids: str, all: bool = False, project: str | None = None) -> Summary:
        e = self.engine()
        try:
            return e.push(Selection(all=all or not (ids or project), project=project, ids=ids))
        finally:
            e.close()

    def pull(self, *ids: str, all: bool = False, project: str | None = None) -> Summary:
        e = self.engine()
        try:
            return e.pull(Selection(all=all or not (ids or project), project=project, ids=ids))
        finally:
            e.close()

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_", "GIT_DIR", "GIT_WORK_TREE"))}
        env.update(HOME=str(self.home), GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1")
        env.update(extra)
        return env

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "claude_sync", *args],
            env=self.env(**env), cwd=REPO, capture_output=True, text=True, timeout=120,
        )

    def cli_json(self, *args: str) -> object:
        r = self.cli(*args, "--json")
        assert r.returncode in (0, 1), r.stderr
        return json.loads(r.stdout)

    def all_files(self) -> dict[str, bytes]:
        """Every file under the Claude config dir, by relative path."""
        root = self.paths.claude
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
