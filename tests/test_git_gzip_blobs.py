"""Format 6: the Git backend stores a session's files gzip'd (backends/git.py, format/gzblob.py).

Against a real bare repository: what is stored, what an append adds, sessions stored plain by an
older device, and a host that swaps a stored segment under a session.json that still describes it.
(What a hostile host can do to a gzip'd session on pull is in test_hostile_remote.py.)
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from claude_sync.backends import git as git_backend
from claude_sync.backends.git import SESSION_JSON, session_dir
from claude_sync.format import gzblob
from tests.support.claude_fixture import extend_transcript
from tests.support.devices import Device


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


def _stored(repo: Path, sid: str) -> dict[str, bytes]:
    """Every blob of a session's folder at the remote's main, by path inside the folder."""
    base = session_dir(sid)
    out = {}
    for rec in _git(repo, "ls-tree", "-r", "-z", "main", "--", base).split(b"\0"):
        if rec:
            meta, path = rec.split(b"\t", 1)
            out[path.decode()[len(base) + 1 :]] = _git(repo, "cat-file", "blob", meta.split()[2].decode())
    return out


def _changed(repo: Path) -> list[str]:
    return _git(repo, "diff-tree", "-r", "--name-only", "main~1", "main").decode().split()


def test_a_pushed_session_is_stored_gzipped_and_pulled_byte_identical(devices, bare_remote: Path):
    a, b = devices
    s = a.rich_session("acme/api")
    assert a.push(all=True).count("done") == 1
    stored = _stored(bare_remote, s.session_id)
    header = json.loads(stored.pop(SESSION_JSON))
    assert header["blobs"] == "gzip"
    assert stored and all(blob[:2] == b"\x1f\x8b" for blob in stored.values()), sorted(stored)
    assert any(p.startswith("logs/") for p in stored) and any(p.startswith("files/") for p in stored)
    assert json.loads(_git(bare_remote, "show", "main:claude-sync-format.json")) == {"format": 6}

    assert b.pull(all=True).count("done") == 1
    # Pushed back from B, the session is byte for byte what A pushed: nothing was lost on the way.
    assert b.push(all=True).count("done") == 0
    mine = (a.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()
    theirs = (b.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()
    assert theirs == mine.replace(str(a.projects), str(b.projects)).replace(str(a.home), str(b.home))


def test_an_append_stores_one_gzipped_segment_of_the_new_bytes_only(devices, bare_remote: Path):
    a, b = devices
    s = a.rich_session("acme/api")
    assert a.push(all=True).count("done") == 1
    before = _stored(bare_remote, s.session_id)
    extend_transcript(s.transcript, "u-next", "2026-11-02T10:00:00.000Z", "one more turn " * 20)
    assert a.push(all=True).count("done") == 1

    base = session_dir(s.session_id)
    assert sorted(_changed(bare_remote)) == [f"{base}/logs/transcript.jsonl/000001", f"{base}/{SESSION_JSON}"]
    after = _stored(bare_remote, s.session_id)
    added = gzip.decompress(after["logs/transcript.jsonl/000001"])
    assert added.count(b"\n") == 1 and b"one more turn" in added  # the new record, and nothing before it
    assert gzip.decompress(after["logs/transcript.jsonl/000000"]) == gzip.decompress(before["logs/transcript.jsonl/000000"])

    assert b.pull(all=True).count("done") == 1
    assert "one more turn" in (b.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()


def test_a_file_gzipped_by_another_compressor_is_not_stored_again(devices, bare_remote: Path, monkeypatch: pytest.MonkeyPatch):
    """ISA-L and zlib give different gzip bytes for the same file (the extension's bundled client has no
    ISA-L): a push compares what a stored file inflates to before storing it again."""
    a, _b = devices
    s = a.rich_session("acme/api")
    with monkeypatch.context() as m:  # a client without ISA-L
        m.setattr(gzblob, "_compress", lambda data, level: stdlib_gzip(data, level))
        assert a.push(all=True).count("done") == 1
    extend_transcript(s.transcript, "u-next", "2026-11-02T10:00:00.000Z", "one more turn")
    assert a.push(all=True).count("done") == 1
    base = session_dir(s.session_id)
    assert sorted(_changed(bare_remote)) == [f"{base}/logs/transcript.jsonl/000001", f"{base}/{SESSION_JSON}"]


def stdlib_gzip(data: bytes, level: int) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def test_a_session_stored_plain_by_an_older_device_is_read_and_stored_gzipped_at_its_next_push(
    devices, bare_remote: Path, monkeypatch: pytest.MonkeyPatch
):
    a, b = devices
    s = a.rich_session("acme/api")
    with monkeypatch.context() as m:  # A before format 6: files stored as they are
        m.setattr(git_backend.GitBackend, "_gzipped", staticmethod(lambda bundle: False))
        assert a.push(all=True).count("done") == 1
    plain = _stored(bare_remote, s.session_id)
    assert "blobs" not in json.loads(plain.pop(SESSION_JSON))
    assert not any(blob[:2] == b"\x1f\x8b" for blob in plain.values())

    assert b.pull(all=True).count("done") == 1  # read as it is
    t = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    extend_transcript(t, "u-b", "2026-11-02T10:00:00.000Z", "continued on B")
    assert b.push(all=True).count("done") == 1
    now = _stored(bare_remote, s.session_id)
    assert json.loads(now.pop(SESSION_JSON))["blobs"] == "gzip"
    assert set(now) == set(plain)  # written again whole, under the same names (no segment left behind)
    assert all(blob[:2] == b"\x1f\x8b" for blob in now.values())

    assert a.pull(all=True).count("done") == 1
    assert "continued on B" in s.transcript.read_text()


def test_a_swapped_segment_is_not_taken_for_the_start_of_a_log(devices, bare_remote: Path, tmp_path: Path):
    """The host replaces a stored segment with other content and leaves session.json as it was. A push
    that only appended after it would make a log that is neither: the push compares what the stored
    segments inflate to, sees they are not the start of its log, and writes the log whole."""
    a, b = devices
    s = a.rich_session("acme/api")
    assert a.push(all=True).count("done") == 1
    base = session_dir(s.session_id)
    forged = gzip.compress(b'{"type":"user","message":"not what A wrote"}\n')
    parent = _git(bare_remote, "rev-parse", "main").decode().strip()
    stream = b"commit refs/heads/main\ncommitter m <m@m> 1700000000 +0000\ndata 5\nswap\n" + f"from {parent}\n".encode()
    stream += f"M 100644 inline {base}/logs/transcript.jsonl/000000\ndata {len(forged)}\n".encode() + forged + b"\n"
    subprocess.run(["git", "-C", str(bare_remote), "fast-import", "--quiet"], input=stream, check=True)

    extend_transcript(s.transcript, "u-next", "2026-11-02T10:00:00.000Z", "after the swap")
    summary = a.push(all=True)
    assert summary.count("done") == 1, summary
    assert f"{base}/logs/transcript.jsonl/000000" in _changed(bare_remote)
    assert "000001" not in " ".join(_stored(bare_remote, s.session_id))
    assert b.pull(all=True).count("done") == 1
    pulled = (b.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()
    assert "not what A wrote" not in pulled and "after the swap" in pulled
