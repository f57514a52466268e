"""atomic.WriteBehind: new files appear whole, in order, only once on disk; a failed group leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from claude_sync import atomic


def test_a_group_appears_only_when_committed_and_whole(tmp_path: Path) -> None:
    behind = atomic.WriteBehind()
    group = atomic.Group()
    first, last = tmp_path / "s" / "a.json", tmp_path / "s" / "t.jsonl"
    group.write(first, (b"{}",))
    group.write(last, (b"line 1\n", b"line 2\n"))
    assert not first.exists() and not last.exists()  # nothing in place before the commit
    behind.submit(group, "s")
    assert behind.drain(wait=True) == [("s", None)]
    behind.close()
    assert first.read_bytes() == b"{}" and last.read_bytes() == b"line 1\nline 2\n"
    assert not [p for p in (tmp_path / "s").iterdir() if atomic.is_temp(p.name)]


def test_a_group_that_cannot_be_put_in_place_fails_alone_and_leaves_no_temp_files(tmp_path: Path) -> None:
    behind = atomic.WriteBehind()
    bad, good = atomic.Group(), atomic.Group()
    blocked = tmp_path / "bad" / "t.jsonl"
    bad.write(blocked, (b"x\n",))
    blocked.mkdir()  # a folder where the file should go: the rename fails
    good.write(tmp_path / "good" / "t.jsonl", (b"y\n",))
    behind.submit(bad, "bad")
    behind.submit(good, "good")
    done = behind.drain(wait=True)
    behind.close()
    assert [t for t, _e in done] == ["bad", "good"]
    assert isinstance(done[0][1], OSError) and done[1][1] is None
    assert not [p for p in (tmp_path / "bad").iterdir() if atomic.is_temp(p.name)]
    assert (tmp_path / "good" / "t.jsonl").read_bytes() == b"y\n"


def test_a_session_new_here_keeps_its_last_activity_as_mtime_and_its_temp_files_survive_sweeps(tmp_path: Path) -> None:
    behind = atomic.WriteBehind()
    group = atomic.Group()
    target = tmp_path / "p" / "t.jsonl"
    group.write(target, (b"x\n",))
    group.mtimes[target] = 1_700_000_000_123_456_789
    assert atomic.sweep([tmp_path / "p"], older_than=60) == []  # young until in place
    behind.submit(group, "s")
    assert behind.drain(wait=True) == [("s", None)]
    behind.close()
    assert target.stat().st_mtime_ns == 1_700_000_000_123_456_789
