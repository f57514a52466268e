"""The remote's format version (claude_sync/format/version.py) on both backends.

A remote records its format version; a device that finds a newer one refuses to push
("upgrade claude-sync") but still pulls, and no device ever lowers the recorded version.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from claude_sync.backends.git import FORMAT_FILE
from claude_sync.format import version, wire
from claude_sync.format.errors import SyncError
from claude_sync.format.version import FORMAT_VERSION, Migration
from claude_sync.server.sqlite_storage import SqliteStorage
from devtools.server_process import ServerProcess
from tests.support.sync_server import SyncServer


def outcomes(summary):  # type: ignore[no-untyped-def]
    return {o.session_id: (o.status, o.reason) for o in summary.outcomes}


def git(remote: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(remote), *args], check=True, capture_output=True, text=True).stdout


def recorded_in_git(remote: Path) -> dict | None:
    try:
        return json.loads(git(remote, "show", f"main:{FORMAT_FILE}"))
    except subprocess.CalledProcessError:
        return None


def commit_to_remote(tmp_path: Path, remote: Path, files: dict[str, str], remove: tuple[str, ...] = ()) -> None:
    """What another claude-sync wrote: a commit on the remote's main branch, made with plain git."""
    work = tmp_path / "elsewhere"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True, capture_output=True)
    for name, text in files.items():
        (work / name).write_text(text)
        git(work, "add", name)
    for name in remove:
        git(work, "rm", "-q", name)
    git(work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "-m", "another claude-sync")
    git(work, "push", "-q", "origin", "HEAD:main")


# -- the rules -----------------------------------------------------------------------


def test_unversioned_remote_is_version_1_and_writable():
    assert [m.to for m in version.migrations_from(None)] == list(range(2, FORMAT_VERSION + 1))
    assert version.upgrade(None, "remote", lambda step: None) == FORMAT_VERSION
    assert version.migrations_from(FORMAT_VERSION) == []


def test_newer_remote_refuses_writes_with_upgrade_advice():
    with pytest.raises(version.RemoteTooNew, match="upgrade claude-sync"):
        version.check_writable(FORMAT_VERSION + 1, "the remote")


def test_migrations_run_in_order_up_to_this_version_and_never_down(monkeypatch: pytest.MonkeyPatch):
    steps = (Migration(2, "repository identity"), Migration(3, "encryption"), Migration(4, "deletion"))
    monkeypatch.setattr(version, "MIGRATIONS", steps)
    monkeypatch.setattr(version, "FORMAT_VERSION", 3)
    done: list[int] = []
    assert version.upgrade(1, "remote", lambda step: done.append(step.to)) == 3
    assert done == [2, 3]
    assert version.upgrade(3, "remote", lambda step: done.append(step.to)) == 3 and done == [2, 3]
    with pytest.raises(version.RemoteTooNew):
        version.upgrade(4, "remote", lambda step: done.append(step.to))


@pytest.mark.parametrize("value", ["x", -1, 0, True, None, "99999999999", [2]])
def test_unreadable_recorded_version_is_a_clear_error(value: object):
    with pytest.raises(SyncError, match="unreadable format version"):
        version.parse(value, "the remote")


# -- Git -------------------------------------------------------------------------------


def test_git_push_records_the_format_once(devices, bare_remote: Path):
    a, _b = devices
    a.rich_session("acme/api")
    assert a.push().exit_code == 0
    assert recorded_in_git(bare_remote) == {"format": FORMAT_VERSION}
    first = git(bare_remote, "rev-parse", f"main:{FORMAT_FILE}")
    a.session("acme/web").user("another").write()
    assert a.push().exit_code == 0
    assert git(bare_remote, "rev-parse", f"main:{FORMAT_FILE}") == first
    assert len(git(bare_remote, "log", "--format=%H", "--", FORMAT_FILE).split()) == 1


def test_git_remote_written_before_versions_gets_the_record_on_the_next_push(
    devices, bare_remote: Path, tmp_path: Path
):
    a, b = devices
    s = a.rich_session("acme/api")
    assert a.push().exit_code == 0
    commit_to_remote(tmp_path, bare_remote, {}, remove=(FORMAT_FILE,))  # as written before versions existed
    assert recorded_in_git(bare_remote) is None
    assert outcomes(b.pull())[s.session_id][0] == "done"
    b.session("acme/web").user("another").write()
    assert b.push().exit_code == 0
    assert recorded_in_git(bare_remote) == {"format": FORMAT_VERSION}


def test_git_remote_of_a_newer_format_is_pulled_from_but_never_pushed_to(devices, bare_remote: Path, tmp_path: Path):
    a, b = devices
    s = a.rich_session("acme/api")
    assert a.push().exit_code == 0
    newer = {"format": FORMAT_VERSION + 1}
    commit_to_remote(tmp_path, bare_remote, {FORMAT_FILE: json.dumps(newer)})
    head = git(bare_remote, "rev-parse", "main")

    assert outcomes(b.pull())[s.session_id][0] == "done"  # reads what it can
    new = b.session("acme/web").user("another").write()
    summary = b.push()
    assert summary.exit_code == 1
    status, why = outcomes(summary)[new.session_id]
    assert status == "failed" and "upgrade claude-sync" in why, why
    assert git(bare_remote, "rev-parse", "main") == head  # nothing written, the record not lowered
    assert recorded_in_git(bare_remote) == newer


def test_git_remote_with_an_unreadable_record_is_not_written(devices, bare_remote: Path, tmp_path: Path):
    a, _b = devices
    a.rich_session("acme/api")
    commit_to_remote(tmp_path, bare_remote, {FORMAT_FILE: "{not json"})
    head = git(bare_remote, "rev-parse", "main")
    summary = a.push()
    assert summary.exit_code == 1
    assert all("unreadable" in why for _st, why in outcomes(summary).values())
    assert git(bare_remote, "rev-parse", "main") == head


# -- the server --------------------------------------------------------------------------


def set_server_format(server: SyncServer, value: int) -> None:
    server.stop()
    with sqlite3.connect(server.data / "index.sqlite3") as con:
        con.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(value),))
    server.start()


def server_format_in(data: Path) -> str:
    with sqlite3.connect(data / "index.sqlite3") as con:
        return con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()[0]


def server_format(server: SyncServer) -> str:
    return server_format_in(server.data)


def test_server_records_and_announces_its_format(private_sync_server: SyncServer):
    assert server_format(private_sync_server) == str(FORMAT_VERSION)
    with private_sync_server.client() as c:
        assert c.get(wire.HEALTH).json()["format"] == FORMAT_VERSION
        assert c.get(wire.SESSIONS).json()["format"] == FORMAT_VERSION


def test_server_of_a_newer_format_is_pulled_from_but_never_pushed_to(private_sync_server: SyncServer, tmp_path: Path):
    server = private_sync_server
    a = server.device(tmp_path / "machines", "alpha", "code")
    s = a.rich_session("acme/api")
    assert a.push().exit_code == 0
    set_server_format(server, FORMAT_VERSION + 1)  # restarts the server
    b = server.device(tmp_path / "machines", "beta", "work")

    assert outcomes(b.pull())[s.session_id][0] == "done"
    new = b.session("acme/web").user("another").write()
    summary = b.push()
    assert summary.exit_code == 1
    status, why = outcomes(summary)[new.session_id]
    assert status == "failed" and "upgrade claude-sync" in why, why
    assert server_format(server) == str(FORMAT_VERSION + 1)


def test_server_older_than_its_data_refuses_writes_and_keeps_the_record(private_sync_server: SyncServer):
    server = private_sync_server
    set_server_format(server, FORMAT_VERSION + 1)
    with server.client() as c:
        r = c.post(wire.PUSH, content=b"x", headers={wire.BUNDLE_SHA256: "0" * 64})
    assert r.status_code == 409 and r.json()["error"] == "upgrade_required", r.text
    assert r.json()["format"] == FORMAT_VERSION + 1 and "upgrade the server" in r.json()["detail"]
    storage = server.storage()
    assert storage.format_version == FORMAT_VERSION + 1
    storage.close()
    assert server_format(server) == str(FORMAT_VERSION + 1)


# A real server of the next format version: today's code, told it writes FORMAT_VERSION + 1.
NEWER_SERVER = (
    "import sys; from claude_sync.format import version; version.FORMAT_VERSION += 1; "
    "from claude_sync.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_server_refuses_a_push_from_a_device_of_an_older_format(tmp_path: Path):
    """A device that writes an older format, or predates versions and says nothing, cannot write."""
    data = tmp_path / "data"
    command = [sys.executable, "-c", NEWER_SERVER, "serve", "--host", "127.0.0.1", "--data", str(data)]
    server = ServerProcess(data, command=command).start()
    try:
        assert server_format_in(data) == str(FORMAT_VERSION + 1)
        token = SqliteStorage(data).add_user("alice")  # this (older) code leaves the record alone
        assert server_format_in(data) == str(FORMAT_VERSION + 1)
        auth = {"Authorization": f"Bearer {token}", wire.BUNDLE_SHA256: "0" * 64}
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for declared in ({}, {wire.FORMAT: str(FORMAT_VERSION)}):
                r = c.post(wire.PUSH, content=b"x", headers={**auth, **declared})
                assert r.status_code == 409 and r.json()["error"] == "upgrade_required", r.text
                assert "upgrade claude-sync" in r.json()["detail"]
            r = c.post(wire.PUSH, content=b"x", headers={**auth, wire.FORMAT: "soon"})
            assert r.status_code == 422 and r.json()["error"] == "invalid_request"
            r = c.post(wire.PUSH, content=b"x", headers={**auth, wire.FORMAT: str(FORMAT_VERSION + 1)})
            assert r.json()["error"] == "checksum_mismatch"  # a device of its format gets as far as the bundle
    finally:
        server.stop()
