"""`claude-sync serve`, `server add-user|revoke|users` and `token set|clear` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.support.devices import REPO

if TYPE_CHECKING:
    from tests.support.sync_server import SyncServer

pytest_plugins = ["tests.support.sync_server"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_sync", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_add_user_prints_a_working_token_once_and_revoke_removes_it(private_sync_server: SyncServer):
    data = str(private_sync_server.data)
    r = run("server", "add-user", "dave", "--data", data)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert len(token) >= 40 and "\n" not in token and "shown once" in r.stderr
    with private_sync_server.client(token) as c:
        assert c.get("/api/sessions").status_code == 200
    users = json.loads(run("server", "users", "--data", data, "--json").stdout)
    assert {u["name"]: u["tokens"] for u in users} == {"alice": 1, "dave": 1}
    assert token not in run("server", "users", "--data", data).stdout
    r = run("server", "revoke", "dave", "--data", data)
    assert r.returncode == 0 and "revoked 1 token" in r.stdout
    with private_sync_server.client(token) as c:
        assert c.get("/api/sessions").status_code == 401


def test_user_admin_errors_are_reported_plainly(tmp_path: Path):
    r = run("server", "revoke", "nobody", "--data", str(tmp_path / "d"))
    assert r.returncode == 1 and "no such user: nobody" in r.stderr
    r = run("server", "add-user", "bad/name", "--data", str(tmp_path / "d"))
    assert r.returncode == 1 and "invalid user name" in r.stderr


def test_serve_defaults_to_the_platform_data_dir_and_loopback(tmp_path: Path):
    r = run("serve", "--help")
    assert r.returncode == 0 and "127.0.0.1" in r.stdout and "--max-bundle-bytes" in r.stdout
    from claude_sync.server.serve import default_data_dir

    assert "claude-sync-server" in str(default_data_dir())


def test_token_set_needs_a_server_url(tmp_path: Path, no_os_keyring: None):
    r = run("token", "set", stdin="abc\n")
    assert r.returncode == 2 and "configure" in r.stderr
    r = run("token", "set", "--server-url", "https://sync.example.test", stdin="tok-123\n")
    assert r.returncode == 0, r.stderr
    assert "tok-123" not in r.stdout + r.stderr
    r = run("token", "clear", "--server-url", "https://sync.example.test")
    assert r.returncode == 0 and "removed" in r.stdout
    r = run("token", "clear", "--server-url", "https://sync.example.test")
    assert r.returncode == 0 and "no token" in r.stdout
