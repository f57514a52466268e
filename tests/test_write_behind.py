"""atomic.WriteBehind: new files appear whole, in order, only once on disk; a failed group leaves nothing behind."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

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


def _temp_sizes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file() and atomic.is_temp(p.name)}


def test_with_syncfs_nothing_is_put_in_place_before_a_sync_that_came_after_all_of_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The order that makes a crash leave whole files or none: every byte of a temp file written,
    # then a syncfs of its filesystem, then the rename. Record what each sync saw and check each rename.
    synced: dict[str, int] = {}  # temp file -> its size at the last syncfs that saw it
    calls: list[int] = []

    def fake_syncfs(fd: int) -> None:
        calls.append(fd)
        synced.update(_temp_sizes(tmp_path))

    real_replace = os.replace

    def checked_replace(src: str, dst: str) -> None:
        assert src in synced and synced[src] == os.stat(src).st_size, f"{src} renamed before a sync saw all of it"
        real_replace(src, dst)

    monkeypatch.setattr(atomic, "syncfs_call", lambda: fake_syncfs)
    monkeypatch.setattr(atomic.os, "replace", checked_replace)
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: pytest.fail("fsync of each file where a syncfs covers them"))
    behind = atomic.WriteBehind(threads=4)
    groups = 40
    for i in range(groups):
        group = atomic.Group()
        group.add(tmp_path / f"p{i % 3}" / f"s{i}.json", b"{}" * (i + 1))
        group.write(tmp_path / f"p{i % 3}" / f"s{i}.jsonl", (b"line\n",) * (i + 1))  # streamed by the caller
        behind.submit(group, i)
    done = behind.drain(wait=True)
    behind.close()
    assert done == [(i, None) for i in range(groups)]
    assert 1 <= len(calls) <= groups  # one sync covers every group written by then
    for i in range(groups):
        assert (tmp_path / f"p{i % 3}" / f"s{i}.json").read_bytes() == b"{}" * (i + 1)
        assert (tmp_path / f"p{i % 3}" / f"s{i}.jsonl").read_bytes() == b"line\n" * (i + 1)
    assert _temp_sizes(tmp_path) == {}


def test_a_failed_syncfs_fails_its_groups_and_leaves_nothing_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = [True]

    def fake_syncfs(fd: int) -> None:
        if failing[0]:
            failing[0] = False  # the disk is back for the next sync
            raise OSError(errno.EIO, "cannot sync the files written to disk: Input/output error")

    monkeypatch.setattr(atomic, "syncfs_call", lambda: fake_syncfs)
    behind = atomic.WriteBehind()
    first = atomic.Group()
    first.add(tmp_path / "a" / "t.jsonl", b"x\n")
    behind.submit(first, "first")
    assert behind.drain(wait=True)[0][0] == "first"
    second = atomic.Group()
    second.add(tmp_path / "b" / "t.jsonl", b"y\n")
    behind.submit(second, "second")
    done = behind.drain(wait=True)
    behind.close()
    assert done == [("second", None)]
    assert not (tmp_path / "a" / "t.jsonl").exists() and _temp_sizes(tmp_path) == {}  # refused whole, nothing left
    assert (tmp_path / "b" / "t.jsonl").read_bytes() == b"y\n"


def test_where_syncfs_is_missing_each_file_is_fsynced_before_its_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsynced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic, "syncfs_call", lambda: None)
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd)))
    behind = atomic.WriteBehind()
    group = atomic.Group()
    group.add(tmp_path / "s" / "a.json", b"{}")
    group.write(tmp_path / "s" / "t.jsonl", (b"x\n",))
    behind.submit(group, "s")
    assert behind.drain(wait=True) == [("s", None)]
    behind.close()
    assert len(fsynced) == 2 and (tmp_path / "s" / "t.jsonl").read_bytes() == b"x\n"


def test_syncfs_is_used_only_where_it_reports_failed_writebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    if not sys.platform.startswith("linux"):
        assert atomic.syncfs_call() is None
        return
    monkeypatch.setattr(atomic.os, "uname", lambda: os.uname_result(("Linux", "h", "5.4.0-1", "", "x86_64")))
    assert atomic.syncfs_call() is None
    monkeypatch.setattr(atomic.os, "uname", lambda: os.uname_result(("Linux", "h", "5.8.0", "", "x86_64")))
    call = atomic.syncfs_call()
    assert call is not None
    with pytest.raises(OSError):
        call(-1)  # EBADF, reported


def test_a_later_group_that_fails_to_write_does_not_fail_the_one_being_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The committer syncs every group written by then: one whose folder could not be made is left
    # to its own commit, which reports it, and the group before it still lands.
    monkeypatch.setattr(atomic, "syncfs_call", lambda: lambda fd: None)
    (tmp_path / "blocker").write_bytes(b"a file where a folder should be")
    first_written = threading.Event()
    real_settle = atomic.WriteBehind._settle

    def settle(self: atomic.WriteBehind, group: atomic.Group, f: object) -> None:
        if "ok" in str(getattr(f, "path", "")):
            assert first_written.wait(10)  # the failing group's write fails first
        try:
            real_settle(self, group, f)  # type: ignore[arg-type]
        finally:
            if "blocker" in str(getattr(f, "path", "")):
                first_written.set()

    monkeypatch.setattr(atomic.WriteBehind, "_settle", settle)
    behind = atomic.WriteBehind()
    ok, bad = atomic.Group(), atomic.Group()
    ok.add(tmp_path / "ok" / "t.jsonl", b"x\n")
    bad.add(tmp_path / "blocker" / "sub" / "t.jsonl", b"y\n")
    behind.submit(ok, "ok")
    behind.submit(bad, "bad")
    done = behind.drain(wait=True)
    behind.close()
    assert done[0] == ("ok", None) and done[1][0] == "bad" and isinstance(done[1][1], OSError)
    assert (tmp_path / "ok" / "t.jsonl").read_bytes() == b"x\n"


def test_a_group_whose_write_fails_partway_through_a_folder_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder's files are written one after the other by one thread: when one of them fails, the
    # ones written before it are discarded with the group, and none after it is started.
    real_settle = atomic.WriteBehind._settle
    tried: list[str] = []

    def settle(self: atomic.WriteBehind, group: atomic.Group, f: atomic._Pending) -> None:
        tried.append(f.path.name)
        if f.path.name == "b.json":
            raise OSError(errno.ENOSPC, "no space left on device")
        real_settle(self, group, f)

    monkeypatch.setattr(atomic.WriteBehind, "_settle", settle)
    behind = atomic.WriteBehind()
    group = atomic.Group()
    folder = tmp_path / "s"
    for name in ("a.json", "b.json", "c.json"):
        group.add(folder / name, b"{}")
    group.add(tmp_path / "other" / "t.jsonl", b"x\n")
    behind.submit(group, "s")
    done = behind.drain(wait=True)
    behind.close()
    assert done[0][0] == "s" and isinstance(done[0][1], OSError)
    assert "c.json" not in tried
    assert [p.name for p in folder.iterdir()] == []  # a.json's temp file went with the group
    assert not (tmp_path / "other" / "t.jsonl").exists()
    assert not [p for p in (tmp_path / "other").iterdir() if atomic.is_temp(p.name)]
