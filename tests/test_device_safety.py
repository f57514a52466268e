"""What a sync leaves on the device: no stray temp files, settings it may not replace left alone,
clear errors for unreadable settings, and backups that do not grow without bound."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from claude_sync import atomic
from claude_sync.backups import list_backups, prune
from tests.support.devices import Device


def test_temp_files_of_a_killed_pull_are_swept_by_the_next_one(devices: tuple[Device, Device]):
    a, b = devices
    s = a.session("acme/api").user("hello").write()
    a.push()
    b.pull()
    folder = b.project_dir("acme/api")
    # What a pull killed with -9 between writing its temp file and renaming it leaves behind.
    stale = folder / f".{s.session_id}.jsonl{atomic.TEMP_MARK}k1ll3d{atomic.TEMP_SUFFIX}"
    stale.write_bytes(b"half a transcript")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = folder / f".{s.session_id}.jsonl{atomic.TEMP_MARK}wr1t1ng{atomic.TEMP_SUFFIX}"
    fresh.write_bytes(b"being written right now")
    clients = folder / "settings.json.tmp"  # the client's own temp file: never ours to remove
    clients.write_bytes(b"{}")
    os.utime(clients, (old, old))
    assert b.pull().exit_code == 0
    assert not stale.exists()
    assert fresh.exists() and clients.exists()


def test_temp_files_of_a_killed_pull_in_a_sessions_own_folder_are_swept_when_it_is_written_again(
    devices: tuple[Device, Device],
):
    a, b = devices
    s = a.rich_session("acme/api")  # with file history: a folder of the session's own
    a.push()
    b.pull()
    folder = b.paths.claude / "file-history" / s.session_id
    stale = folder / f".v1{atomic.TEMP_MARK}k1ll3d{atomic.TEMP_SUFFIX}"
    stale.write_bytes(b"half a backup")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    sid = s.session_id
    (a.project_dir("acme/api") / f"{sid}.jsonl").open("a").write(
        json.dumps({"type": "user", "sessionId": sid, "uuid": "u-more", "message": {"role": "user", "content": "more"}}) + "\n"
    )
    assert a.push().count("done") == 1
    assert b.pull().exit_code == 0
    assert not stale.exists()


def test_hooks_install_leaves_a_read_only_settings_json_alone(tmp_path: Path):
    dev = Device(tmp_path, "alpha", "code")
    settings = dev.paths.claude / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"theme": "dark"}\n')
    settings.chmod(0o444)
    r = dev.cli("hooks", "install", CLAUDE_CONFIG_DIR=str(dev.paths.claude))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "read-only" in r.stderr and "Traceback" not in r.stderr
    assert settings.read_text() == '{"theme": "dark"}\n'
    assert settings.stat().st_mode & 0o777 == 0o444


def test_an_immutable_settings_json_is_a_clear_error(tmp_path: Path):
    dev = Device(tmp_path, "alpha", "code")
    settings = dev.paths.claude / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"theme": "dark"}\n')
    if subprocess.run(["chattr", "+i", str(settings)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and a file system that supports it)")
    try:
        r = dev.cli("hooks", "install", CLAUDE_CONFIG_DIR=str(dev.paths.claude))
    finally:
        subprocess.run(["chattr", "-i", str(settings)], check=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert settings.read_text() == '{"theme": "dark"}\n'


def test_a_config_json_that_is_not_utf8_is_a_clear_error(tmp_path: Path):
    dev = Device(tmp_path, "alpha", "code")
    dev.paths.config_file.write_bytes(b'{"device": "caf\xe9"}')
    r = dev.cli("sessions")
    assert r.returncode == 2 and "not UTF-8" in r.stderr and "Traceback" not in r.stderr


def _backup(dev: Device, sid: str, days_ago: float, size: int, n: int) -> str:
    when = datetime.now(timezone.utc) - timedelta(days=days_ago)
    d = dev.paths.backups / f"{when.strftime('%Y%m%dT%H%M%S.%fZ')}-{sid[:8]}-{n}"
    (d / "files").mkdir(parents=True)
    (d / "files" / "x.jsonl").write_bytes(b"x" * size)
    (d / "backup.json").write_text(json.dumps({"session_id": sid, "created": when.isoformat(), "reason": "t", "files": []}))
    return d.name


def test_backups_are_kept_within_their_age_and_size_but_never_the_newest_of_a_session(tmp_path: Path):
    dev = Device(tmp_path, "alpha", "code")
    one, two = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    ancient_only = _backup(dev, two, 400, 10, 0)  # the only backup of its session: kept whatever its age
    old = _backup(dev, one, 200, 10, 1)
    mid = _backup(dev, one, 5, 600, 2)
    recent = _backup(dev, one, 2, 600, 3)
    newest = _backup(dev, one, 1, 600, 4)
    dropped = prune(dev.paths, max_age_days=90, max_bytes=2000)
    assert old in dropped  # too old
    assert mid in dropped and recent not in dropped  # oldest first until the rest fits in 2000 bytes (files and backup.json)
    assert {b.id for b in list_backups(dev.paths)} == {ancient_only, recent, newest}
    assert prune(dev.paths, max_age_days=0.001, max_bytes=0) == [recent]
    assert {b.id for b in list_backups(dev.paths)} == {ancient_only, newest}
