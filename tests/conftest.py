"""Shared fixtures. Every test runs with its own HOME: the real ~/.claude is never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.devices import Device

# Real git remotes over SSH and HTTP, and the real sync server, for every test directory.
pytest_plugins = ["tests.support.fixtures", "tests.support.sync_server", "tests.support.sidecar_client"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home-of-test"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    for var in ("CLAUDE_CONFIG_DIR", "CLAUDE_SYNC_HOME", "GIT_DIR", "GIT_WORK_TREE", "GIT_SSH_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    """A local-path Git remote (the simplest real remote)."""
    import subprocess

    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(path)], check=True)
    return path


@pytest.fixture
def devices(tmp_path: Path, bare_remote: Path):  # type: ignore[no-untyped-def]
    """Two devices, A and B, with projects under different roots, sharing one Git remote."""
    a = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
    b = Device(tmp_path / "machines", "beta", "work/projects", git_url=str(bare_remote))
    return a, b
