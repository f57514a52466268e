"""A client that keeps appending while pulls, merges and restores run: no line it wrote is lost or doubled.

The writer is a separate process that appends one JSON record at a time with open-append-close, as
the real client does, to a session with no running-session registry (so the sync does not skip it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from claude_sync.backups import list_backups, restore_backup
from tests.support.devices import Device

WRITER = textwrap.dedent(
    """
    import json, sys, time
    path, count = sys.argv[1], int(sys.argv[2])
    for i in range(count):
        rec = {"type": "user", "uuid": f"writer-{i}", "timestamp": f"2026-11-09T10:00:{i % 60:02d}.{i:03d}Z",
               "message": {"role": "user", "content": f"line {i}"}}
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\\n")
        time.sleep(0.003)
    """
)


def _writer(transcript: Path, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(transcript), str(count)])


def _writer_lines(transcript: Path) -> list[str]:
    out = []
    for line in transcript.read_bytes().splitlines():
        uid = json.loads(line).get("uuid", "")
        if uid.startswith("writer-"):
            out.append(uid)
    return out


def _extend(transcript: Path, n: int) -> None:
    rec = {"type": "assistant", "uuid": f"remote-{n}", "timestamp": f"2026-11-09T11:00:00.{n:03d}Z",
           "message": {"role": "assistant", "content": [{"type": "text", "text": f"remote {n}"}]}}
    with transcript.open("a") as f:
        f.write(json.dumps(rec) + "\n")


def test_pulls_and_merges_while_the_client_appends_lose_no_line(devices: tuple[Device, Device]):
    a, b = devices
    s = a.session("acme/api").user("start").write()
    assert a.push().exit_code == 0
    assert b.pull().exit_code == 0
    mine = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    count = 300
    writer = _writer(mine, count)
    try:
        n = 0
        while writer.poll() is None:
            n += 1
            _extend(s.transcript, n)  # the session goes on on the other device too: every pull merges
            assert a.push().exit_code == 0
            summary = b.pull()
            assert summary.exit_code == 0, summary.to_dict()
            if n % 3 == 0:
                assert b.push().exit_code == 0
                assert a.pull().exit_code == 0
    finally:
        writer.wait()
    assert n >= 3
    lines = _writer_lines(mine)
    assert sorted(lines) == sorted(f"writer-{i}" for i in range(count))  # each exactly once
    # and the next sync carries them to the other device
    assert b.push().exit_code == 0 and a.pull().exit_code == 0
    assert sorted(_writer_lines(s.transcript)) == sorted(lines)


def test_restores_while_the_client_appends_keep_every_line_in_the_session_or_its_backups(devices: tuple[Device, Device]):
    a, b = devices
    s = a.session("acme/api").user("start").write()
    assert a.push().exit_code == 0
    assert b.pull().exit_code == 0
    _extend(s.transcript, 1)
    a.push()
    mine = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    mine.write_bytes(mine.read_bytes() + b'{"type":"user","uuid":"local-1","timestamp":"2026-11-09T12:00:00.000Z"}\n')
    assert b.pull().exit_code == 0  # a merge: the local copy is backed up
    count = 200
    writer = _writer(mine, count)
    try:
        while writer.poll() is None:
            newest = list_backups(b.paths, s.session_id)[0]
            restore_backup(b.paths, newest.id)  # each restore backs up what it replaces: the next one undoes it
    finally:
        writer.wait()
    lines = _writer_lines(mine)
    assert len(lines) == len(set(lines))  # never doubled
    kept = set(lines)
    for backup in list_backups(b.paths, s.session_id):
        for f in (backup.path / "files").rglob("*.jsonl"):
            kept |= set(_writer_lines(f))
    assert kept == {f"writer-{i}" for i in range(count)}  # none lost: in the session or in a backup
