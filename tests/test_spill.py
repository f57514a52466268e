"""Where a pull's large files wait (claude_sync/spill.py): what stays, what goes, and whose it is."""

from __future__ import annotations

import hashlib
from pathlib import Path

from claude_sync import spill
from claude_sync.format.bundle import Spilled
from claude_sync.spill import SpillFolders, SpillSink


def _spill(folders: SpillFolders, name: str, size: int = 100) -> Spilled:
    sink = SpillSink(folders, name, limit=10)
    for _ in range(size // 10):
        sink.add(b"x" * 10)
    got = sink.result()
    assert isinstance(got, Spilled)
    return got


def test_a_small_file_stays_in_memory_and_a_large_one_waits_in_a_file(tmp_path: Path) -> None:
    folders = SpillFolders(tmp_path / "spill")
    folders.next()
    small = SpillSink(folders, "0", limit=10)
    small.add(b"0123456789")
    assert small.result() == b"0123456789"
    big = _spill(folders, "1", 30)
    assert big.path.read_bytes() == b"x" * 30 and big.size == 30
    assert big.sha256 == hashlib.sha256(b"x" * 30).hexdigest()


def test_closing_a_backend_removes_only_what_it_spilled(tmp_path: Path) -> None:
    """The root is shared by the device's processes: the sidecar closing its engine outside the sync
    lock must not take the files of a pull running in another process."""
    root = tmp_path / "spill"
    pulling, other = SpillFolders(root), SpillFolders(root)
    pulling.next()
    theirs = _spill(pulling, "0")
    other.clear()  # closed without fetching
    assert theirs.path.exists()
    mine = _spill(other, "0")  # a fetch of its own, made before the pull's (its first fetch cleared the root)
    other.clear()
    assert not mine.path.exists() and theirs.path.exists()
    pulling.clear()
    assert not theirs.path.exists()


def test_the_last_fetches_are_kept_and_older_ones_go(tmp_path: Path) -> None:
    folders = SpillFolders(tmp_path / "spill")
    kept = []
    for _ in range(spill.SPILLS_KEPT + 3):
        folders.next()
        kept.append(_spill(folders, "0"))
    assert [f.path.exists() for f in kept] == [False] * 3 + [True] * spill.SPILLS_KEPT


def test_the_first_fetch_removes_what_a_killed_pull_left(tmp_path: Path) -> None:
    root = tmp_path / "spill"
    left = root / "12345-0" / "3" / "0"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"from a pull that was killed")
    folders = SpillFolders(root)
    folders.next()
    assert not left.exists()


def test_a_backend_without_a_root_spills_into_a_temp_folder_it_removes(tmp_path: Path) -> None:
    folders = SpillFolders(None)
    folders.next()
    got = _spill(folders, "0")
    assert got.path.exists()
    folders.clear()
    assert not got.path.parent.parent.exists()


def test_past_the_fetchs_memory_budget_every_file_spills_however_small(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A session of many files under SPILL_BYTES each must not fill memory either."""
    monkeypatch.setattr(spill, "MEMORY_BUDGET", 100)
    folders = SpillFolders(tmp_path / "spill")
    folders.next()

    def keep(name: str, data: bytes) -> bytes | Spilled:
        sink = SpillSink(folders, name)
        for i in range(0, len(data), 7):
            sink.add(data[i : i + 7])
        return sink.result()

    assert keep("0", b"a" * 60) == b"a" * 60
    second = keep("1", b"b" * 60)  # 120 bytes would be past the budget
    assert isinstance(second, Spilled) and second.path.read_bytes() == b"b" * 60
    assert keep("2", b"c" * 40) == b"c" * 40  # what the second held went to its file
    assert isinstance(keep("3", b"d"), Spilled)  # the budget is spent
    folders.next()  # the next fetch has a budget of its own
    assert keep("0", b"e" * 100) == b"e" * 100
