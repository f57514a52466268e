"""The server's embedded storage (SQLite index + blob folder), driven directly: crashes and bookkeeping.

What every store must do is in test_storage_contract.py, run against SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from claude_sync.format.bundle import Bundle, Manifest, content_digest
from claude_sync.format.errors import BundleError
from claude_sync.format.wire import StoreStatus
from claude_sync.server.sqlite_storage import SqliteStorage
from claude_sync.server.storage import StaleBase, StorageError, WouldShrink


def make_bundle(sid: str | None = None, transcript: bytes = b'{"n":1}\n', **files: bytes) -> Bundle:
    manifest = Manifest(session_id=sid or str(uuid.uuid4()), project_key="acme/api", device="alpha")
    return Bundle.build(manifest, {"transcript.jsonl": transcript, **files})


def push(store: SqliteStorage, user: str, b: Bundle, base: str | None = None, force: bool = False):  # type: ignore[no-untyped-def]
    data = b.to_bytes()
    up = store.new_upload()
    up.write(data)
    return store.commit_push(user, up, hashlib.sha256(data).hexdigest(), base=base, force=force)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> SqliteStorage:
    s = SqliteStorage(tmp_path / "data")
    s.add_user("alice")
    return s


def test_a_crash_after_the_blob_is_placed_but_before_the_row_commits_lists_nothing(store: SqliteStorage, monkeypatch):
    b = make_bundle()
    placed = store._place_blob

    def place_then_die(upload, sha):  # type: ignore[no-untyped-def]
        placed(upload, sha)
        raise KeyboardInterrupt  # the process dies between the rename and the commit

    monkeypatch.setattr(store, "_place_blob", place_then_die)
    with pytest.raises(KeyboardInterrupt):
        push(store, "alice", b)
    assert list(store.sessions("alice")) == []
    assert files_under(store.blobs)  # an unreferenced blob is all that is left ...
    store.recover()
    assert files_under(store.blobs) == [] and files_under(store.tmp) == []  # ... and start-up removes it
    monkeypatch.undo()
    assert push(store, "alice", b).result is StoreStatus.STORED


def test_a_failing_blob_write_leaves_no_row_and_no_temp_file(store: SqliteStorage, monkeypatch):
    def disk_full(upload, sha):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_place_blob", disk_full)
    with pytest.raises(OSError):
        push(store, "alice", make_bundle())
    assert list(store.sessions("alice")) == []
    assert files_under(store.tmp) == [] and files_under(store.blobs) == []


def test_recovery_keeps_every_blob_a_row_refers_to(store: SqliteStorage):
    kept = push(store, "alice", make_bundle()).entry
    (store.tmp / "upload-left-over.tar.gz").write_bytes(b"partial")
    orphan = store.blob_path("ab" * 32)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"orphan")
    store.recover()
    assert files_under(store.blobs) == [f"{kept.sha256[:2]}/{kept.sha256}"]
    assert files_under(store.tmp) == []


def test_a_replaced_version_gives_its_blob_back(store: SqliteStorage):
    sid = str(uuid.uuid4())
    v1 = push(store, "alice", make_bundle(sid)).entry
    v2 = push(store, "alice", make_bundle(sid, b'{"n":1}\n{"n":2}\n'), base=v1.content_sha256).entry
    assert files_under(store.blobs) == [f"{v2.sha256[:2]}/{v2.sha256}"]


def test_an_unsorted_or_foreign_bundle_is_refused(store: SqliteStorage):
    b = make_bundle(**{"tasks/t/1.json": b"{}"})
    b.manifest.files.reverse()
    with pytest.raises(BundleError, match="canonical order"):
        push(store, "alice", b)
    assert files_under(store.tmp) == []


def test_a_data_dir_from_a_newer_server_is_refused(tmp_path: Path):
    import sqlite3

    SqliteStorage(tmp_path / "d")
    con = sqlite3.connect(tmp_path / "d" / "index.sqlite3")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="newer"):
        SqliteStorage(tmp_path / "d")


def test_a_schema_1_data_dir_is_migrated_and_its_tokens_keep_working(tmp_path: Path):
    import sqlite3

    from claude_sync.server import sqlite_storage
    from claude_sync.server.auth import token_hash

    (tmp_path / "d").mkdir()
    con = sqlite3.connect(tmp_path / "d" / "index.sqlite3")
    con.executescript(sqlite_storage._SCHEMA)  # what a server before named tokens wrote
    con.execute("INSERT INTO meta VALUES ('schema', '1')")
    con.execute("INSERT INTO users VALUES ('alice', 0)")
    con.execute("INSERT INTO tokens VALUES (?, 'alice', 0)", (token_hash("old-token"),))
    con.commit()
    con.close()
    store = SqliteStorage(tmp_path / "d")
    assert store.user_for_token("old-token") == "alice"
    assert [t.name for t in store.tokens("alice")] == ["token-1"]
    [alice] = store.users()
    assert (alice.quota_bytes, alice.retention_days, alice.encrypted) == (None, None, False)
    SqliteStorage(tmp_path / "d")  # opening it again changes nothing
    assert store.revoke("alice", "token-1") == 1 and store.user_for_token("old-token") is None
