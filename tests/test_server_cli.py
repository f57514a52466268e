"""`claude-sync serve`, `server add-user|revoke|users` and `token set|clear` as a user runs them."""

from __future__ import annotations

import hashlib
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


def test_tokens_are_named_per_device_listed_and_revoked_one_by_one(private_sync_server: SyncServer):
    data = str(private_sync_server.data)
    laptop = run("server", "add-user", "dave", "--token-name", "laptop", "--data", data).stdout.strip()
    desk = run("server", "add-user", "dave", "--token-name", "desk", "--data", data).stdout.strip()
    listing = run("server", "tokens", "dave", "--data", data).stdout
    assert "laptop" in listing and "desk" in listing and laptop not in listing
    assert [t["name"] for t in json.loads(run("server", "tokens", "dave", "--json", "--data", data).stdout)] == [
        "laptop",
        "desk",
    ]
    r = run("server", "revoke", "dave", "--token", "laptop", "--data", data)
    assert r.returncode == 0 and "revoked 1 token" in r.stdout
    with private_sync_server.client(laptop) as c:
        assert c.get("/api/sessions").status_code == 401
    with private_sync_server.client(desk) as c:
        assert c.get("/api/sessions").status_code == 200


def test_limits_and_the_encrypted_flag_are_set_shown_and_lifted(tmp_path: Path):
    data = str(tmp_path / "d")
    run("server", "add-user", "erin", "--data", data)
    r = run("server", "set", "erin", "--quota", "1.5G", "--retention-days", "90", "--encrypted", "--data", data)
    assert r.returncode == 0 and "retention 90 d" in r.stdout and "encrypted" in r.stdout, r.stderr
    [erin] = json.loads(run("server", "users", "--json", "--data", data).stdout)
    assert (erin["quota_bytes"], erin["retention_days"], erin["encrypted"]) == (int(1.5 * 1024**3), 90, True)
    run("server", "set", "erin", "--quota", "none", "--not-encrypted", "--data", data)
    [erin] = json.loads(run("server", "users", "--json", "--data", data).stdout)
    assert (erin["quota_bytes"], erin["retention_days"], erin["encrypted"]) == (None, 90, False)
    r = run("server", "set", "erin", "--quota", "lots", "--data", data)
    assert r.returncode == 2 and "not a size" in r.stderr
    r = run("server", "delete-user", "erin", "--data", data)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert run("server", "delete-user", "erin", "--yes", "--data", data).returncode == 0
    assert json.loads(run("server", "users", "--json", "--data", data).stdout) == []
    r = run("server", "users", "--data", data, "--database", "postgresql://nowhere/x")
    assert r.returncode == 2 and "two different stores" in r.stderr


def test_a_running_sqlite_server_is_backed_up_and_restored_byte_for_byte(start_sync_server, tmp_path: Path):  # type: ignore[no-untyped-def]
    server = start_sync_server()
    dev = server.device(tmp_path / "m", "alpha", "code")
    for i in range(3):
        dev.rich_session(f"acme/p{i}")
    dev.push()
    backup = tmp_path / "backup"
    r = run("server", "backup", str(backup), "--data", str(server.data))  # while it serves
    assert r.returncode == 0, r.stderr
    assert run("server", "backup", str(backup), "--data", str(server.data)).returncode == 2  # never over a folder
    with server.client() as c:
        before = {e["session_id"]: e["sha256"] for e in c.get("/api/sessions").json()["sessions"]}
    server.stop()
    from tests.support.sync_server import SyncServer

    restored = SyncServer(backup)  # the backup is a data dir: serve it as it is
    restored.token = server.token
    with restored:
        with restored.client() as c:
            after = {e["session_id"]: e["sha256"] for e in c.get("/api/sessions").json()["sessions"]}
            assert after == before and len(after) == 3
            for sid, sha in after.items():
                body = c.get(f"/api/sessions/{sid}").content
                assert hashlib.sha256(body).hexdigest() == sha
