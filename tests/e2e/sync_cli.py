"""Machines that share a bare Git remote through the real `claude-sync` command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from claude_client import ClaudeMachine
from test_sync_resume_e2e import claude_sync


def share_git_remote(tmp_path: Path, *machines: ClaudeMachine, roots: dict[str, Path] | None = None) -> Path:
    """A bare Git remote, and each machine configured to sync through it (projects under its root)."""
    remote = tmp_path / "sessions.git"
    if not remote.exists():
        subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True)
    for m in machines:
        root = (roots or {}).get(m.name, m.projects_root)
        claude_sync(m, "configure", "--device", m.name, "--projects-root", str(root), "--backend", "git", "--git-url", str(remote))
    return remote
