"""The storage contract, the same tests against both stores: SQLite (embedded) and PostgreSQL (team scale).

Driven directly, without HTTP: what a push, an append, a listing and the administrator's
commands must do whatever holds the data. PostgreSQL runs for real (devtools/postgres.py).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from claude_sync.format import delta
from claude_sync.format.bundle import Bundle, Manifest, content_digest
from claude_sync.format.errors import BundleError
from claude_sync.format.wire import StoreStatus
from claude_sync.server.storage import QuotaExceeded, StaleBase, Storage, StorageError, WouldShrink
from claude_sync.server.stores import open_storage

pytest_plugins = ["tests.support.pg_fixtures"]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "sqlite":
        s = open_storage(tmp_path / "data")
    else:
        s = open_storage(database=request.getfixturevalue("database_url"))
    s.add_user("alice")
    try:
        yield s
    finally:
        s.close()


def make_bundle(
    sid: str | None = None, transcript: bytes = b'{"n":1}\n', project: str = "acme/api", **files: bytes
) -> Bundle:
    manifest = Manifest(session_id=sid or str(uuid.uuid4()), project_key=project, device="alpha")
    return Bundle.build(manifest, {"transcript.jsonl": transcript, **files})


def push(store: Storage, user: str, b: Bundle, base: str | None = None, force: bool = False):  # type: ignore[no-untyped-def]
    data = b.to_bytes()
    up = store.new_upload()
    up.write(data)
    return store.commit_push(user, up, hashlib.sha256(data).hexdigest(), base=base, force=force)


def append(store: Storage, user: str, v1: Bundle, v2: Bundle, base: str | None = None, force: bool = False):  # type: ignore[no-untyped-def]
    planned = delta.diff(v1.manifest.files, v2, logs_must_extend=False)
    assert planned is not None
    up = store.new_upload()
    up.write(delta.encode(*planned))
    return store.commit_append(
        user, v1.session_id, up, base=base or content_digest(v1), force=force, max_bundle_bytes=1024**3
    )


def fetch(store: Storage, user: str, sid: str) -> Bundle:
    [entry] = store.find(user, sid)
    with store.open_blob(entry) as f:
        return Bundle.from_bytes(f.read(), entry.sha256)


def test_a_push_is_listed_found_and_read_back_byte_for_byte(store: Storage):
    b = make_bundle(**{"tasks/t/1.json": b"{}"})
    out = push(store, "alice", b)
    assert out.result is StoreStatus.STORED and out.entry.content_sha256 == content_digest(b)
    assert [e.session_id for e in store.sessions("alice")] == [b.session_id]
    [entry] = store.find("alice", b.session_id[:8].upper())
    with store.open_blob(entry) as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == entry.sha256 and data == b.to_bytes()
    assert store.manifest("alice", b.session_id)[1].files == b.manifest.files  # type: ignore[index]


def test_an_identical_repush_is_a_no_op_whatever_the_base(store: Storage):
    b = make_bundle()
    first = push(store, "alice", b).entry
    again = push(store, "alice", b, base="0" * 64)
    assert again.result is StoreStatus.UNCHANGED and again.entry.updated_at == first.updated_at


def test_compare_and_swap_and_the_shrink_guard(store: Storage):
    sid = str(uuid.uuid4())
    long = make_bundle(sid, b'{"n":1}\n{"n":2}\n', **{"session/subagents/agent-x.jsonl": b'{"a":1}\n{"a":2}\n'})
    push(store, "alice", long)
    with pytest.raises(StaleBase) as stale:
        push(store, "alice", make_bundle(sid, b"{}\n"))
    assert stale.value.current is not None and stale.value.current.content_sha256 == content_digest(long)
    shorter = make_bundle(sid, b'{"n":1}\n', **{"session/subagents/agent-x.jsonl": b'{"a":1}\n{"a":2}\n'})
    with pytest.raises(WouldShrink):
        push(store, "alice", shorter, base=content_digest(long))
    with pytest.raises(WouldShrink):
        push(store, "alice", make_bundle(sid, b'{"n":1}\n{"n":2}\n'), base=content_digest(long))
    assert push(store, "alice", shorter, base=content_digest(long), force=True).result is StoreStatus.STORED
    assert fetch(store, "alice", sid).files == shorter.files


def test_an_append_is_rebuilt_and_checked_against_the_stored_copy(store: Storage):
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, b'{"n":1}\n', **{"tasks/t/1.json": b"{}"})
    v2 = make_bundle(sid, b'{"n":1}\n{"n":2}\n', **{"tasks/t/1.json": b"{}", "tasks/t/2.json": b"[]"})
    push(store, "alice", v1)
    out = append(store, "alice", v1, v2)
    assert out.result is StoreStatus.STORED and out.entry.content_sha256 == content_digest(v2)
    assert fetch(store, "alice", sid).files == v2.files
    assert append(store, "alice", v1, v2, base=content_digest(v1)).result is StoreStatus.UNCHANGED
    v3 = make_bundle(sid, b'{"n":1}\n{"n":2}\n{"n":3}\n', **{"tasks/t/1.json": b"{}", "tasks/t/2.json": b"[]"})
    with pytest.raises(StaleBase):  # built on v1, but v2 is there now
        append(store, "alice", v1, v3)
    have = [e for e in v1.manifest.files]
    entry, chunks = store.download_delta("alice", sid, have)  # type: ignore[misc]
    assert entry.content_sha256 == content_digest(v2) and b"".join(chunks)


def test_a_bad_bundle_or_checksum_stores_nothing(store: Storage):
    b = make_bundle(**{"tasks/t/1.json": b"{}"})
    b.manifest.files.reverse()
    with pytest.raises(BundleError, match="canonical order"):
        push(store, "alice", b)
    up = store.new_upload()
    up.write(make_bundle().to_bytes())
    with pytest.raises(BundleError, match="checksum"):
        store.commit_push("alice", up, "0" * 64, base=None, force=False)
    assert list(store.sessions("alice")) == []


def test_users_see_only_their_own_sessions_and_a_shared_blob_outlives_either(store: Storage):
    store.add_user("bob")
    b = make_bundle()
    a1 = push(store, "alice", b).entry
    push(store, "bob", b)
    assert store.find("carol", b.session_id) == [] and store.manifest("carol", b.session_id) is None
    push(store, "alice", make_bundle(b.session_id, b'{"n":1}\n{"n":2}\n'), base=a1.content_sha256)
    assert fetch(store, "bob", b.session_id).files == b.files
    with pytest.raises(StorageError, match="no such user"):
        push(store, "carol", make_bundle())


def test_listing_pages_filters_by_project_and_since(store: Storage):
    ids = sorted(str(uuid.uuid4()) for _ in range(5))
    for i, sid in enumerate(ids):
        push(store, "alice", make_bundle(sid, project="acme/api" if i % 2 else "acme/web_x"))
    page = store.list_sessions("alice", limit=2)
    assert [e.session_id for e in page.sessions] == ids[:2] and page.next_cursor == ids[1]
    assert [e.session_id for e in store.sessions("alice")] == ids
    assert {e.project_key for e in store.list_sessions("alice", project="acme/api").sessions} == {"acme/api"}
    assert store.list_sessions("alice", project="acme/web%").sessions == []  # LIKE characters match themselves
    last = max(store.sessions("alice"), key=lambda e: e.updated_at)
    since = datetime.strptime(last.updated_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert store.list_sessions("alice", since=since).sessions == []


def test_tokens_are_named_listed_and_revoked_one_by_one_at_once(store: Storage):
    laptop = store.add_user("alice", token_name="laptop")
    desk = store.add_user("alice", token_name="desk")
    assert [t.name for t in store.tokens("alice")] == ["token-1", "laptop", "desk"]
    with pytest.raises(StorageError, match="already has a token named"):
        store.add_user("alice", token_name="laptop")
    assert store.revoke("alice", "laptop") == 1
    assert store.user_for_token(laptop) is None and store.user_for_token(desk) == "alice"
    with pytest.raises(StorageError, match="no token named"):
        store.revoke("alice", "laptop")
    assert store.revoke("alice") == 2 and store.user_for_token(desk) is None
    with pytest.raises(StorageError):
        store.add_user("../evil")
    with pytest.raises(StorageError, match="no such user"):
        store.revoke("nobody")


def test_deleting_a_user_removes_their_tokens_sessions_and_unshared_bundles(store: Storage):
    token = store.add_user("bob")
    shared, own = make_bundle(), make_bundle(transcript=b'{"bob":1}\n')
    push(store, "alice", shared)
    push(store, "bob", shared)
    push(store, "bob", own)
    assert store.delete_user("bob") == 2
    assert store.user_for_token(token) is None and [u.name for u in store.users()] == ["alice"]
    assert fetch(store, "alice", shared.session_id).files == shared.files
    assert store.stats().sessions == 1
    assert store_blob_count(store) == 1  # bob's own bundle is gone, the shared one stays
    with pytest.raises(StorageError, match="no such user"):
        store.delete_user("bob")


def store_blob_count(store: Storage) -> int:
    if hasattr(store, "pool"):
        from psycopg.rows import tuple_row

        with store.pool.connection() as con:  # type: ignore[attr-defined]
            return int(con.cursor(row_factory=tuple_row).execute("SELECT COUNT(*) FROM blobs").fetchone()[0])
    return sum(1 for p in store.blobs.rglob("*") if p.is_file())  # type: ignore[attr-defined]


def test_a_quota_refuses_what_would_pass_it_and_counts_a_replaced_version_once(store: Storage):
    first = make_bundle(transcript=b'{"n":1}\n' * 50)
    size = push(store, "alice", first).entry.size
    info = store.set_account("alice", quota_bytes=2 * size + size // 2)
    assert (info.quota_bytes, info.bytes) == (2 * size + size // 2, size)
    push(store, "alice", make_bundle(transcript=b'{"n":2}\n' * 50))
    with pytest.raises(QuotaExceeded, match="quota"):
        push(store, "alice", make_bundle(transcript=b'{"n":3}\n' * 50))
    grown = make_bundle(first.session_id, b'{"n":1}\n' * 50 + b'{"n":9}\n')
    assert push(store, "alice", grown, base=content_digest(first)).result is StoreStatus.STORED
    store.set_account("alice", quota_bytes=None)
    push(store, "alice", make_bundle(transcript=b'{"n":3}\n' * 50))
    assert store.stats().sessions == 3


def test_retention_deletes_only_sessions_older_than_the_users_limit(store: Storage):
    store.add_user("bob")
    old = push(store, "alice", make_bundle()).entry
    push(store, "bob", make_bundle())
    store.set_account("alice", retention_days=30)
    assert store.apply_retention() == 0
    later = datetime.now(timezone.utc) + timedelta(days=31)
    assert store.apply_retention(later) == 1
    assert store.find("alice", old.session_id) == [] and len(list(store.sessions("bob"))) == 1
    assert store_blob_count(store) == 1


def test_remove_takes_only_the_version_named_and_its_unused_blob(store: Storage):
    entry = push(store, "alice", make_bundle()).entry
    assert store.remove("alice", entry.session_id, "0" * 64) is False
    assert store.remove("bob", entry.session_id, entry.content_sha256) is False
    assert store.remove("alice", entry.session_id, entry.content_sha256) is True
    assert store.find("alice", entry.session_id) == [] and store_blob_count(store) == 0
    assert store.remove("alice", entry.session_id, entry.content_sha256) is False


def test_the_encrypted_account_flag_is_kept(store: Storage):
    assert store.user("alice").encrypted is False  # type: ignore[union-attr]
    assert store.set_account("alice", encrypted=True).encrypted is True
    assert store.set_account("alice", retention_days=7).encrypted is True
    assert store.is_encrypted("alice") is True and store.is_encrypted("nobody") is None
    with pytest.raises(StorageError, match="no such user"):
        store.set_account("nobody", encrypted=True)


def test_concurrent_pushes_of_one_session_store_exactly_one_per_base(store: Storage):
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid)
    push(store, "alice", v1)
    outcomes: list[object] = []

    def contender(n: int) -> None:
        b = make_bundle(sid, b'{"n":1}\n' + b'{"k":%d}\n' % n)
        try:
            outcomes.append(push(store, "alice", b, base=content_digest(v1)).result)
        except StaleBase as e:
            outcomes.append(e)

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(StoreStatus.STORED) == 1 and sum(isinstance(o, StaleBase) for o in outcomes) == 7
    assert store_blob_count(store) == 1  # the replaced version's bundle is gone


@pytest.mark.parametrize(
    "mine",
    [b'{"n":1}\n', b'{"n":1}\n{"n":2}\n{"n":3}\n', b'{"n":1}\n{"x":2}\n'],
    ids=["prefix", "longer", "diverged"],
)
# (A log the device holds more of, and that differs, is cut to the stored length: the client
# finds the result wrong and downloads the whole bundle. By design, in both stores.)
def test_a_download_delta_rebuilds_the_stored_copy_from_what_the_device_has(store: Storage, mine: bytes):
    sid = str(uuid.uuid4())
    stored = make_bundle(sid, b'{"n":1}\n{"n":2}\n', **{"tasks/t/1.json": b"{}"})
    push(store, "alice", stored)
    have = make_bundle(sid, mine, **{"tasks/t/1.json": b"[]"})
    entry, chunks = store.download_delta("alice", sid, list(have.manifest.files))  # type: ignore[misc]
    got = delta.apply(b"".join(chunks), have, session_id=sid, max_bytes=1024**3)
    assert got.files == stored.files and content_digest(got) == entry.content_sha256


def test_postgresql_without_psycopg_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch):
    import sys

    from claude_sync.format.errors import ConfigError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the `server` extra were not installed
    monkeypatch.delitem(sys.modules, "claude_sync.server.pg_storage", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'claude-sync-sessions\[server\]'"):
        open_storage(database="postgresql://someone@127.0.0.1/nowhere")
    with pytest.raises(StorageError, match="postgresql://"):
        open_storage(database="mysql://someone@127.0.0.1/nowhere")
