"""Only what is new travels to and from the sync server (claude_sync/format/delta.py), over real HTTP.

Bytes on the wire are counted by `Wire`, an httpx transport in front of the real one.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import threading
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from claude_sync.backends import PushItem, PushResult
from claude_sync.backends import http as http_backend
from claude_sync.backends.http import HttpBackend
from claude_sync.engine import Selection
from claude_sync.format import delta
from claude_sync.format.bundle import Bundle, Manifest, content_digest
from claude_sync.format.wire import StoreStatus
from claude_sync.portable import pack
from claude_sync.server.sqlite_storage import SqliteStorage
from claude_sync.server.storage import WouldShrink
from tests.support.devices import Device

if TYPE_CHECKING:
    from tests.support.sync_server import SyncServer

pytest_plugins = ["tests.support.sync_server"]

DELTA_ROUTES = ("/manifest", "/append", "/delta")
WORDS = (
    "the a to of and in is it that for on with as this be are was not you at by from have or an can will "
    "function test file error value return import class def self path config server client session bundle "
    "delta append push pull merge write read line record uuid parent timestamp assistant user tool result"
).split()


class Wire(httpx.BaseTransport):
    """The real transport, counting the body bytes of every request and answer.

    `old_server` answers the delta routes as a server from before them does (404, or
    405 when asked); `tamper` may rewrite the body of an answer to a delta download;
    `damage_appends` flips a bit of every append on its way.
    """

    def __init__(
        self,
        *,
        old_server: int | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
        damage_appends: bool = False,
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.old_server, self.tamper, self.damage_appends = old_server, tamper, damage_appends
        self.calls: list[tuple[str, str, int, int, int]] = []  # method, path, status, sent, received

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = len(request.read())
        path = request.url.path
        if self.old_server and path.endswith(DELTA_ROUTES):
            answer = {"error": "not_found" if self.old_server == 404 else "method_not_allowed"}
            answer["detail"] = "Not Found" if self.old_server == 404 else "Method Not Allowed"
            self.calls.append((request.method, path, self.old_server, sent, 0))
            return httpx.Response(self.old_server, json=answer)
        if self.damage_appends and path.endswith("/append"):
            damaged = bytearray(request.content)
            damaged[len(damaged) // 2] ^= 0x01
            request = httpx.Request(request.method, request.url, headers=request.headers, content=bytes(damaged))
        resp = self.inner.handle_request(request)
        body = b"".join(resp.iter_raw())  # as it travelled (still gzip'd, if it was)
        resp.close()
        if self.tamper and path.endswith("/delta") and resp.status_code == 200:
            body = self.tamper(body)
        self.calls.append((request.method, path, resp.status_code, sent, len(body)))
        headers = [
            (k, v) for k, v in resp.headers.multi_items() if k.lower() not in ("content-length", "transfer-encoding")
        ]
        return httpx.Response(resp.status_code, headers=headers, content=body)

    def close(self) -> None:
        self.inner.close()

    def routes(self) -> list[tuple[str, str, int]]:
        """(method, route, status) of every call, the session id replaced by {id}."""
        out = []
        for method, path, status, _s, _r in self.calls:
            parts = path.split("/")
            if len(parts) > 3 and parts[3] not in ("push", ""):
                parts[3] = "{id}"
            out.append((method, "/".join(parts), status))
        return out

    def bytes_of(self, method: str, suffix: str) -> tuple[int, int]:
        """Bytes sent and received by the calls to routes ending in `suffix`."""
        hits = [c for c in self.calls if c[0] == method and c[1].endswith(suffix)]
        return sum(c[3] for c in hits), sum(c[4] for c in hits)

    def reset(self) -> None:
        self.calls.clear()


def backend(server: SyncServer, wire: Wire | None = None) -> HttpBackend:
    return server.backend(transport=wire) if wire else server.backend()


def words(rnd: random.Random, n_bytes: int) -> str:
    text = " ".join(rnd.choices(WORDS, k=n_bytes // 5))
    return text[:n_bytes]


def make_bundle(sid: str, transcript: bytes, files: dict[str, bytes] | None = None, device: str = "alpha") -> Bundle:
    manifest = Manifest(
        session_id=sid, project_key="acme/api", device=device, last_modified="2026-11-01T10:00:00.000Z", title="t"
    )
    content = {"transcript.jsonl": transcript, **(files or {})}
    return Bundle.build(manifest, content, binary={n for n in content if n.startswith("file-history/")})


def lines(rnd: random.Random, n: int, size: int = 200) -> bytes:
    return b"".join(
        json.dumps({"uuid": str(uuid.UUID(int=rnd.getrandbits(128))), "text": words(rnd, size)}).encode() + b"\n"
        for _ in range(n)
    )


def large_session(dev: Device, megabytes: float, history_files: int = 100):  # type: ignore[no-untyped-def]
    """A session of about `megabytes` of transcript, and `history_files` file-history backups."""
    rnd = random.Random(42)
    s = dev.rich_session()
    while len(s.records) * 1350 < megabytes * 1024**2:
        s.user(words(rnd, 1000)).assistant(words(rnd, 1000))
    for i in range(history_files):
        s.file_history[f"{hashlib.sha256(str(i).encode()).hexdigest()[:16]}@v1"] = f"print({i})\n" + words(rnd, 300)
    return s.write()


def tokenized(dev: Device, sid: str) -> Bundle:
    engine = dev.engine()
    [s] = [s for s in engine.local_sessions() if s.session_id == sid]
    return pack(s, engine.layout, "any")


def outcome(summary, sid: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return next((o.status, o.reason) for o in summary.outcomes if o.session_id == sid)


# -- uploads ---------------------------------------------------------------------------


def test_appending_10_kb_to_a_large_session_sends_about_the_compressed_new_bytes(
    sync_server: SyncServer, tmp_path: Path
):
    a = sync_server.device(tmp_path / "machines", "alpha", "code")
    s = large_session(a, 8)
    assert outcome(a.push(), s.session_id)[0] == "done"
    before = s.transcript.read_bytes()
    s.user(words(random.Random(1), 10_000)).write()
    appended = s.transcript.read_bytes()[len(before) :]
    wire = Wire()
    engine = a.engine(backend(sync_server, wire))
    try:
        summary = engine.push(Selection(all=True))
    finally:
        engine.close()
    assert outcome(summary, s.session_id) == ("done", "updated")
    assert ("POST", "/api/sessions/push", 200) not in wire.routes()
    assert ("POST", "/api/sessions/{id}/append", 200) in wire.routes()
    sent, _ = wire.bytes_of("POST", "/append")
    compressed = len(gzip.compress(appended))
    size = sum(e.size for e in tokenized(a, s.session_id).manifest.files)
    print(f"\nappend to a {size} byte session: appended {len(appended)} B, gzip {compressed} B, request body {sent} B")
    assert 10_000 <= len(appended) < 11_000 and size > 8 * 1024**2
    assert sent <= 3 * compressed
    # the server's copy is what this device has, byte for byte
    assert backend(sync_server).fetch(s.session_id).files == tokenized(a, s.session_id).files


def test_a_change_that_is_not_an_append_is_pushed_whole(sync_server: SyncServer):
    rnd = random.Random(3)
    sid = str(uuid.uuid4())
    first = lines(rnd, 50)
    v1 = make_bundle(sid, first)
    rewritten = make_bundle(sid, first.replace(b'"text": "', b'"text": "edited ', 1) + lines(rnd, 2))
    be = backend(sync_server)
    be.refresh()
    assert be.push([PushItem(v1, None)])[sid] is PushResult.PUSHED
    wire = Wire()
    other = backend(sync_server, wire)  # it never saw v1: it asks the server for the manifest
    assert other.push([PushItem(rewritten, content_digest(v1))])[sid] is PushResult.PUSHED
    assert wire.routes() == [
        ("GET", "/api/sessions/{id}/manifest", 200),
        ("POST", "/api/sessions/push", 200),
    ]
    assert backend(sync_server).fetch(sid).files == rewritten.files


def test_an_append_with_new_changed_and_removed_files_stores_exactly_the_pushed_version(sync_server: SyncServer):
    rnd = random.Random(4)
    sid = str(uuid.uuid4())
    agent_a = "session/subagents/agent-a.jsonl"
    v1 = make_bundle(
        sid,
        lines(rnd, 30),
        {
            agent_a: lines(rnd, 3),
            "tasks/1.json": b'{"status":"pending"}',
            "tasks/2.json": b'{"status":"pending"}',
            "file-history/abc@v1": bytes(range(256)),
        },
    )
    v2 = make_bundle(
        sid,
        v1.files["transcript.jsonl"] + lines(rnd, 2),
        {
            agent_a: v1.files[agent_a] + lines(rnd, 1),
            "session/subagents/agent-b.jsonl": lines(rnd, 2),
            "tasks/1.json": b'{"status":"completed"}',
            "file-history/abc@v1": bytes(range(256)),
        },
    )
    v2.manifest.title = "renamed"
    wire = Wire()
    be = backend(sync_server, wire)
    be.refresh()
    be.push([PushItem(v1, None)])
    wire.reset()
    assert be.push([PushItem(v2, content_digest(v1))])[sid] is PushResult.PUSHED
    assert wire.routes() == [("POST", "/api/sessions/{id}/append", 200)]  # the manifest was known from the push
    got = backend(sync_server).fetch(sid)
    assert got.files == v2.files and got.manifest == v2.manifest


def test_an_append_on_a_stale_base_is_a_conflict_and_keeps_the_other_devices_copy(sync_server: SyncServer):
    rnd = random.Random(5)
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, lines(rnd, 20))
    alpha = backend(sync_server)
    alpha.refresh()
    alpha.push([PushItem(v1, None)])
    wire = Wire()
    beta = backend(sync_server, wire)
    beta.refresh()
    beta.fetch(sid)  # beta knows v1's manifest now
    from_alpha = make_bundle(sid, v1.files["transcript.jsonl"] + lines(rnd, 1))
    alpha.push([PushItem(from_alpha, content_digest(v1))])
    from_beta = make_bundle(sid, v1.files["transcript.jsonl"] + lines(rnd, 1), device="beta")
    wire.reset()
    assert beta.push([PushItem(from_beta, content_digest(v1))])[sid] is PushResult.CONFLICT
    assert wire.routes() == [("POST", "/api/sessions/{id}/append", 409)]
    # beta's view now shows what the server holds, so its engine decides again
    assert [e.content_sha256 for e in beta.entries()] == [content_digest(from_alpha)]
    assert backend(sync_server).fetch(sid).files == from_alpha.files


def test_an_append_damaged_on_the_way_is_refused_and_the_bundle_is_pushed_whole(sync_server: SyncServer):
    rnd = random.Random(12)
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, lines(rnd, 20))
    v2 = make_bundle(sid, v1.files["transcript.jsonl"] + lines(rnd, 2))
    wire = Wire(damage_appends=True)
    be = backend(sync_server, wire)
    be.refresh()
    be.push([PushItem(v1, None)])
    wire.reset()
    assert be.push([PushItem(v2, content_digest(v1))])[sid] is PushResult.PUSHED
    assert wire.routes() == [("POST", "/api/sessions/{id}/append", 422), ("POST", "/api/sessions/push", 200)]
    assert backend(sync_server).fetch(sid).files == v2.files


def append_request(v1: Bundle, v2: Bundle) -> tuple[delta.DeltaHeader, list[memoryview]]:
    planned = delta.diff(v1.manifest.files, v2, logs_must_extend=True)
    assert planned is not None
    return planned


def post_append(c: httpx.Client, sid: str, base: str, body: bytes) -> httpx.Response:
    headers = {"X-Delta-SHA256": hashlib.sha256(body).hexdigest(), "Content-Type": "application/gzip"}
    return c.post(f"/api/sessions/{sid}/append", content=body, params={"base": base}, headers=headers)


def test_a_corrupted_append_is_refused_and_changes_nothing_on_the_server(private_sync_server: SyncServer):
    server = private_sync_server
    rnd = random.Random(6)
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, lines(rnd, 40), {"tasks/1.json": b'{"n":1}'})
    v2 = make_bundle(sid, v1.files["transcript.jsonl"] + lines(rnd, 3), {"tasks/1.json": b'{"n":2}'})
    be = backend(server)
    be.refresh()
    be.push([PushItem(v1, None)])
    with server.client() as c:
        listed = c.get("/api/sessions").json()["sessions"]
        header, payloads = append_request(v1, v2)

        def wrong_sha(h: delta.DeltaHeader) -> None:
            h.changes[0].sha256 = hashlib.sha256(b"something else").hexdigest()

        def wrong_digest(h: delta.DeltaHeader) -> None:
            h.content_sha256 = "0" * 64

        def wrong_length(h: delta.DeltaHeader) -> None:
            h.changes[-1].length += 1
            h.changes[-1].size += 1

        def unsafe_name(h: delta.DeltaHeader) -> None:
            h.changes[0].path = "../../outside.jsonl"

        def deletes_what_is_not_there(h: delta.DeltaHeader) -> None:
            h.deleted = ["tasks/9.json"]

        for tamper in (wrong_sha, wrong_digest, wrong_length, unsafe_name, deletes_what_is_not_there):
            h = header.model_copy(deep=True)
            tamper(h)
            r = post_append(c, sid, content_digest(v1), delta.encode(h, payloads))
            assert r.status_code == 422 and r.json()["error"] == "invalid_delta", (tamper.__name__, r.text)
        good = delta.encode(header, payloads)
        flipped = bytearray(zlib.decompress(good, 31))
        flipped[-3] ^= 0x01  # a payload byte: every declared SHA-256 stays as it was
        for body in (gzip.compress(bytes(flipped)), good[: len(good) // 2], b"not a delta at all"):
            r = post_append(c, sid, content_digest(v1), body)
            assert r.status_code == 422 and r.json()["error"] == "invalid_delta", r.text
        assert c.get("/api/sessions").json()["sessions"] == listed
    assert server.stray_files() == []
    assert backend(server).fetch(sid).files == v1.files
    # the intact delta goes through
    with server.client() as c:
        assert post_append(c, sid, content_digest(v1), good).json()["result"] == "stored"
    assert backend(server).fetch(sid).files == v2.files


def test_an_append_whose_result_is_too_large_gets_413_and_changes_nothing(start_sync_server):  # type: ignore[no-untyped-def]
    sid = str(uuid.uuid4())
    noise = os.urandom(15_000).hex().encode()  # compresses to about half
    v1 = make_bundle(sid, b'"' + noise[:24_000] + b'"\n')
    v2 = make_bundle(sid, v1.files["transcript.jsonl"] + b'"' + noise[24_000:] + b'"\n')
    body = delta.encode(*append_request(v1, v2))
    limit = (len(v1.to_bytes()) + len(v2.to_bytes())) // 2
    assert len(body) < len(v1.to_bytes()) < limit < len(v2.to_bytes())
    server = start_sync_server(max_bundle_bytes=limit)
    be = backend(server)
    be.refresh()
    assert be.push([PushItem(v1, None)])[sid] is PushResult.PUSHED
    with server.client() as c:
        r = post_append(c, sid, content_digest(v1), body)
    assert r.status_code == 413 and r.json()["error"] == "too_large", r.text
    assert server.stray_files() == []
    assert backend(server).fetch(sid).files == v1.files


def test_a_stale_or_missing_base_refuses_an_append_with_the_current_entry(sync_server: SyncServer):
    rnd = random.Random(7)
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, lines(rnd, 5))
    v2 = make_bundle(sid, v1.files["transcript.jsonl"] + lines(rnd, 1))
    body = delta.encode(*append_request(v1, v2))
    with sync_server.client() as c:
        r = post_append(c, sid, content_digest(v1), body)
        assert r.status_code == 409 and r.json()["error"] == "stale_base" and r.json()["current"] is None
        be = backend(sync_server)
        be.refresh()
        other = make_bundle(sid, lines(rnd, 5))
        be.push([PushItem(other, None)])
        r = post_append(c, sid, content_digest(v1), body)
        assert r.status_code == 409 and r.json()["error"] == "stale_base"
        assert r.json()["current"]["content_sha256"] == content_digest(other)
    assert backend(sync_server).fetch(sid).files == other.files


# -- downloads -------------------------------------------------------------------------


def test_a_device_with_an_older_copy_downloads_only_what_it_lacks(sync_server: SyncServer, tmp_path: Path):
    a = sync_server.device(tmp_path / "machines", "alpha", "code")
    b = sync_server.device(tmp_path / "machines", "beta", "code")
    s = large_session(a, 2)
    a.push()
    assert outcome(b.pull(), s.session_id) == ("done", "new on this device")
    before = s.transcript.read_bytes()
    s.user(words(random.Random(2), 10_000)).write()
    appended = s.transcript.read_bytes()[len(before) :]
    a.push()
    wire = Wire()
    engine = b.engine(backend(sync_server, wire))
    try:
        summary = engine.pull(Selection(all=True))
    finally:
        engine.close()
    assert outcome(summary, s.session_id) == ("done", "updated")
    assert ("GET", "/api/sessions/{id}", 200) not in wire.routes()
    _, received = wire.bytes_of("POST", "/delta")
    compressed = len(gzip.compress(appended))
    print(f"\ndownload: appended {len(appended)} B, gzip {compressed} B, answer {received} B")
    assert received <= 3 * compressed
    pulled = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    assert pulled.read_bytes() == s.transcript.read_bytes().replace(str(a.home).encode(), str(b.home).encode())
    assert tokenized(b, s.session_id).files == tokenized(a, s.session_id).files


def _stored_append(sync_server: SyncServer, rnd: random.Random, appended: int) -> tuple[str, Bundle, Bundle]:
    """A session stored as v1, then as v2 = v1 with `appended` lines more: (id, v1, v2)."""
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, lines(rnd, 30))
    v2 = make_bundle(sid, v1.files["transcript.jsonl"] + lines(rnd, appended))
    be = backend(sync_server)
    be.refresh()
    be.push([PushItem(v1, None)])
    be.push([PushItem(v2, content_digest(v1))])
    return sid, v1, v2


def test_a_download_delta_that_does_not_verify_falls_back_to_the_whole_bundle(sync_server: SyncServer):
    sid, v1, v2 = _stored_append(sync_server, random.Random(8), 3)

    def flip_a_payload_byte(body: bytes) -> bytes:
        plain = bytearray(zlib.decompress(body, 31))
        plain[-3] ^= 0x01
        return gzip.compress(bytes(plain))

    wire = Wire(tamper=flip_a_payload_byte)
    got = backend(sync_server, wire).fetch(sid, have=v1)
    assert got.files == v2.files
    assert wire.routes() == [("POST", "/api/sessions/{id}/delta", 200), ("GET", "/api/sessions/{id}", 200)]


def test_a_download_delta_larger_than_memory_allows_falls_back_to_the_whole_bundle(
    sync_server: SyncServer, monkeypatch: pytest.MonkeyPatch
):
    """A delta is applied in memory: past DOWNLOAD_IN_MEMORY (a large append, or a server that sends
    on and on, up to max_bundle_bytes) the device takes the whole bundle, which streams to disk."""
    sid, v1, v2 = _stored_append(sync_server, random.Random(9), 30)
    monkeypatch.setattr(http_backend, "DOWNLOAD_IN_MEMORY", 64)
    wire = Wire()
    got = backend(sync_server, wire).fetch(sid, have=v1)
    assert got.in_memory().files == v2.files
    assert wire.routes() == [("POST", "/api/sessions/{id}/delta", 200), ("GET", "/api/sessions/{id}", 200)]


def test_a_download_delta_sends_whole_files_where_the_device_copy_is_no_prefix(sync_server: SyncServer):
    rnd = random.Random(9)
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, lines(rnd, 30), {"tasks/1.json": b"1", "tasks/2.json": b"2"})
    mine = make_bundle(sid, b'{"other":1}\n', {"tasks/1.json": b"1", "tasks/3.json": b"3"})
    be = backend(sync_server)
    be.refresh()
    be.push([PushItem(v1, None)])
    got = backend(sync_server).fetch(sid, have=mine)
    assert got.files == v1.files and content_digest(got) == content_digest(v1)


def test_a_pull_of_a_session_continued_here_downloads_almost_nothing(sync_server: SyncServer, tmp_path: Path):
    a = sync_server.device(tmp_path / "machines", "alpha", "code")
    s = large_session(a, 1)
    a.push()
    s.user("continued here").assistant("and not pushed yet").write()
    wire = Wire()
    engine = a.engine(backend(sync_server, wire))
    try:
        summary = engine.pull(Selection(all=True))
    finally:
        engine.close()
    assert outcome(summary, s.session_id) == ("skipped", "the local copy is longer (continued here); push it")
    assert [r for r in wire.routes() if r[1] != "/api/sessions"] == [("POST", "/api/sessions/{id}/delta", 200)]
    assert wire.bytes_of("POST", "/delta")[1] < 2000


def test_a_longer_copy_that_diverged_gets_the_servers_version_all_the_same(sync_server: SyncServer):
    rnd = random.Random(11)
    sid = str(uuid.uuid4())
    common = lines(rnd, 20)
    server_copy = make_bundle(sid, common + lines(rnd, 1))
    mine = make_bundle(sid, common + lines(rnd, 5))  # longer, but not an extension of the server's
    be = backend(sync_server)
    be.refresh()
    be.push([PushItem(server_copy, None)])
    wire = Wire()
    got = backend(sync_server, wire).fetch(sid, have=mine)
    assert got.files == server_copy.files
    assert wire.routes() == [("POST", "/api/sessions/{id}/delta", 200), ("GET", "/api/sessions/{id}", 200)]


def test_the_file_list_of_a_download_may_be_plain_or_gzipped_json(sync_server: SyncServer):
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, b'{"n":1}\n')
    v2 = make_bundle(sid, b'{"n":1}\n{"n":2}\n')
    be = backend(sync_server)
    be.refresh()
    be.push([PushItem(v1, None)])
    be.push([PushItem(v2, content_digest(v1))])
    have = json.dumps({"have": [e.model_dump() for e in v1.manifest.files]}).encode()
    url = f"/api/sessions/{sid}/delta"
    with sync_server.client() as c:
        for body, encoding in ((have, None), (gzip.compress(have), "gzip")):
            headers = {"Content-Type": "application/json", **({"Content-Encoding": encoding} if encoding else {})}
            r = c.post(url, content=body, headers=headers)
            assert r.status_code == 200, r.text
            assert delta.apply(r.content, v1, session_id=sid, max_bytes=10**6).files == v2.files
        r = c.post(url, content=have, headers={"Content-Encoding": "br"})
        assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
        r = c.post(url, content=gzip.compress(have)[:20], headers={"Content-Encoding": "gzip"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request"


# -- older servers and crashes -----------------------------------------------------------


@pytest.mark.parametrize("status", [404, 405])
def test_a_server_without_the_delta_routes_gets_whole_bundles(sync_server: SyncServer, tmp_path: Path, status: int):
    a = sync_server.device(tmp_path / "machines", "alpha", "code")
    b = sync_server.device(tmp_path / "machines", "beta", "work")
    s = a.rich_session()
    a.push()
    b.pull()
    s.user("one more thing").assistant("sure").write()
    for dev, action, whole in (
        (a, "push", ("POST", "/api/sessions/push", 200)),
        (b, "pull", ("GET", "/api/sessions/{id}", 200)),
    ):
        wire = Wire(old_server=status)
        engine = dev.engine(backend(sync_server, wire))
        try:
            summary = getattr(engine, action)(Selection(all=True))
        finally:
            engine.close()
        assert outcome(summary, s.session_id) == ("done", "updated"), action
        tried = [r for r in wire.routes() if r[1].endswith(DELTA_ROUTES)]
        assert len(tried) == 1 and tried[0][2] == status  # asked once, then whole bundles
        assert whole in wire.routes()
    assert "one more thing" in (b.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()


def test_a_server_killed_mid_append_lists_the_old_version_and_leaves_no_stray_files(private_sync_server: SyncServer):
    server = private_sync_server
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, lines(random.Random(10), 100))
    v2 = make_bundle(sid, v1.files["transcript.jsonl"] + b"\"" + os.urandom(1_000_000).hex().encode() + b"\"\n")
    be = backend(server)
    be.refresh()
    be.push([PushItem(v1, None)])
    body = delta.encode(*append_request(v1, v2))
    release = threading.Event()

    def chunks():  # type: ignore[no-untyped-def]
        yield body[: len(body) // 2]
        release.wait(30)
        yield body[len(body) // 2 :]

    def upload() -> None:
        try:
            with server.client() as c:
                c.post(
                    f"/api/sessions/{sid}/append",
                    content=chunks(),
                    params={"base": content_digest(v1)},
                    headers={"X-Delta-SHA256": hashlib.sha256(body).hexdigest()},
                )
        except httpx.HTTPError:
            pass

    t = threading.Thread(target=upload)
    t.start()
    tmp = server.data / "tmp"
    try:
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > 0 for p in tmp.iterdir()):
            assert time.monotonic() < deadline, "the append never reached the server's disk"
            time.sleep(0.02)
        server.kill()
    finally:
        release.set()
        t.join(30)
    assert any(tmp.iterdir())  # the crash left a half-written upload ...
    server.start()
    with server.client() as c:
        [entry] = c.get("/api/sessions").json()["sessions"]
    assert entry["content_sha256"] == content_digest(v1)  # ... never listed
    assert server.stray_files() == [] and not any(tmp.iterdir())  # and start-up removed it
    assert backend(server).fetch(sid).files == v1.files
    again = backend(server)
    again.refresh()
    assert again.push([PushItem(v2, content_digest(v1))])[sid] is PushResult.PUSHED
    assert backend(server).fetch(sid).files == v2.files


# -- the storage, driven directly ----------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> SqliteStorage:
    s = SqliteStorage(tmp_path / "data")
    s.add_user("alice")
    return s


def store_push(store: SqliteStorage, b: Bundle) -> None:
    data = b.to_bytes()
    up = store.new_upload()
    up.write(data)
    store.commit_push("alice", up, hashlib.sha256(data).hexdigest(), base=None, force=False)


def store_append(store: SqliteStorage, v1: Bundle, v2: Bundle, force: bool = False):  # type: ignore[no-untyped-def]
    return commit_append(store, v1, append_upload(store, v1, v2), force)


def append_upload(store: SqliteStorage, v1: Bundle, v2: Bundle):  # type: ignore[no-untyped-def]
    planned = delta.diff(v1.manifest.files, v2, logs_must_extend=False)
    assert planned is not None
    up = store.new_upload()
    up.write(delta.encode(*planned))
    return up


def commit_append(store: SqliteStorage, v1: Bundle, upload, force: bool = False):  # type: ignore[no-untyped-def]
    return store.commit_append(
        "alice", v1.session_id, upload, base=content_digest(v1), force=force, max_bundle_bytes=1024**3
    )


def test_the_server_rebuilds_an_append_without_holding_the_bundle_in_memory(store: SqliteStorage):
    sid = str(uuid.uuid4())
    big = b"\"" + os.urandom(6_000_000).hex().encode() + b"\"\n"  # 12 MB that barely compress
    v1 = make_bundle(sid, big)
    v2 = make_bundle(sid, big + b'{"n":2}\n')
    store_push(store, v1)
    upload = append_upload(store, v1, v2)
    tracemalloc.start()
    try:
        outcome = commit_append(store, v1, upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.result is StoreStatus.STORED
    assert peak < 2 * 1024**2  # a few buffers, not the 12 MB file or its 6 MB bundle
    [entry] = store.sessions("alice")
    with store.open_blob(entry) as f:
        assert Bundle.from_bytes(f.read(), entry.sha256).files == v2.files


def test_a_crash_after_the_rebuilt_bundle_is_placed_but_before_the_row_commits_keeps_the_old_version(
    store: SqliteStorage, monkeypatch: pytest.MonkeyPatch
):
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, b'{"n":1}\n')
    v2 = make_bundle(sid, b'{"n":1}\n{"n":2}\n')
    store_push(store, v1)
    placed = store._place_blob

    def place_then_die(upload, sha):  # type: ignore[no-untyped-def]
        placed(upload, sha)
        raise KeyboardInterrupt  # the process dies between the rename and the commit

    monkeypatch.setattr(store, "_place_blob", place_then_die)
    with pytest.raises(KeyboardInterrupt):
        store_append(store, v1, v2)
    [entry] = store.sessions("alice")
    assert entry.content_sha256 == content_digest(v1)
    store.recover()
    assert len([p for p in store.blobs.rglob("*") if p.is_file()]) == 1 and not any(store.tmp.iterdir())
    monkeypatch.undo()
    assert store_append(store, v1, v2).result is StoreStatus.STORED


def test_an_append_that_drops_a_log_is_refused_unless_forced(store: SqliteStorage):
    sid = str(uuid.uuid4())
    v1 = make_bundle(sid, b'{"n":1}\n', {"session/subagents/agent-a.jsonl": b'{"a":1}\n'})
    v2 = make_bundle(sid, b'{"n":1}\n')
    store_push(store, v1)
    with pytest.raises(WouldShrink):
        store_append(store, v1, v2)
    assert store_append(store, v1, v2, force=True).result is StoreStatus.STORED
