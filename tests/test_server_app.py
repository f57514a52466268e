"""The sync server over real HTTP: auth, prefixes, listing, limits, refusals and crash safety."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from claude_sync.backends import PushItem, PushResult
from claude_sync.format.bundle import Bundle, Manifest, content_digest
from claude_sync.format.errors import BackendError
from tests.support.devices import REPO
from tests.support.forged import forged_bundle

if TYPE_CHECKING:
    from tests.support.sync_server import SyncServer

pytest_plugins = ["tests.support.sync_server"]


def make_bundle(
    sid: str | None = None, transcript: bytes = b'{"n":1}\n', project: str = "acme/api", **kw: object
) -> Bundle:
    manifest = Manifest(session_id=sid or str(uuid.uuid4()), project_key=project, device="alpha", **kw)  # type: ignore[arg-type]
    return Bundle.build(manifest, {"transcript.jsonl": transcript})


def push_raw(client: httpx.Client, b: Bundle | bytes, base: str | None = None, **params: str) -> httpx.Response:
    data = b.to_bytes() if isinstance(b, Bundle) else b
    if base:
        params["base"] = base
    headers = {"X-Bundle-SHA256": hashlib.sha256(data).hexdigest(), "Content-Type": "application/gzip"}
    return client.post("/api/sessions/push", content=data, headers=headers, params=params)


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


def wait_until(cond, what: str, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


# -- health and schema --------------------------------------------------------


def test_health_answers_without_a_token_and_names_the_version(sync_server: SyncServer):
    from claude_sync import __version__

    r = httpx.get(f"{sync_server.url}/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["version"] == __version__


def test_openapi_schema_describes_every_route_and_bearer_auth(sync_server: SyncServer):
    schema = httpx.get(f"{sync_server.url}/openapi.json").json()
    assert {"/health", "/api/sessions", "/api/sessions/{prefix}", "/api/sessions/push"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    body = schema["paths"]["/api/sessions/push"]["post"]["requestBody"]
    assert "application/gzip" in body["content"]


# -- auth ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/sessions"), ("GET", "/api/sessions/abc"), ("POST", "/api/sessions/push")]
)
def test_every_api_route_needs_a_token(sync_server: SyncServer, method: str, path: str):
    with sync_server.client("") as c:
        r = c.request(method, path, headers={"X-Bundle-SHA256": "0" * 64}, content=b"x")
    assert_error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    with sync_server.client("not-a-real-token") as c:
        assert_error(c.request(method, path), 401, "unauthorized")
    with httpx.Client(base_url=sync_server.url, headers={"Authorization": "Basic YWxpY2U6eA=="}) as c:
        assert_error(c.request(method, path), 401, "unauthorized")


def test_a_revoked_token_stops_working_at_once_and_the_sessions_stay(sync_server: SyncServer):
    carol = f"{sync_server.user}-carol"
    token = sync_server.add_user(carol)
    b = make_bundle()
    with sync_server.client(token) as c:
        assert push_raw(c, b).status_code == 200
        r = subprocess.run(
            [sys.executable, "-m", "claude_sync", "server", "revoke", carol, "--data", str(sync_server.data)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert_error(c.get("/api/sessions"), 401, "unauthorized")
    fresh = sync_server.add_user(carol)
    with sync_server.client(fresh) as c:
        assert [s["session_id"] for s in c.get("/api/sessions").json()["sessions"]] == [b.session_id]


def test_each_user_sees_only_their_own_sessions(sync_server: SyncServer):
    bob = sync_server.add_user(f"{sync_server.user}-bob")
    mine = make_bundle(transcript=b'{"alice":1}\n')
    with sync_server.client() as alice_c, sync_server.client(bob) as bob_c:
        assert push_raw(alice_c, mine).status_code == 200
        assert bob_c.get("/api/sessions").json()["sessions"] == []
        assert_error(bob_c.get(f"/api/sessions/{mine.session_id}"), 404, "not_found")
        assert_error(bob_c.get(f"/api/sessions/{mine.session_id[:4]}"), 404, "not_found")
        # the same session id under another user is another session: no conflict with alice's
        theirs = make_bundle(mine.session_id, transcript=b'{"bob":1}\n')
        assert push_raw(bob_c, theirs).status_code == 200
        got = alice_c.get(f"/api/sessions/{mine.session_id}")
        assert Bundle.from_bytes(got.content, got.headers["x-bundle-sha256"]).files == mine.files
        got = bob_c.get(f"/api/sessions/{mine.session_id}")
        assert Bundle.from_bytes(got.content, got.headers["x-bundle-sha256"]).files == theirs.files


def test_tokens_never_reach_the_log_or_the_database(private_sync_server: SyncServer):
    sync_server = private_sync_server
    bad = "wrong-" + "x" * 30
    with sync_server.client() as c:
        push_raw(c, make_bundle())
        c.get("/api/sessions")
    with sync_server.client(bad) as c:
        c.get("/api/sessions")
    sync_server.stop()
    assert sync_server.token not in sync_server.log() and bad not in sync_server.log()
    for f in sync_server.data.rglob("*"):
        if f.is_file():
            assert sync_server.token.encode() not in f.read_bytes(), f


# -- prefixes and listing -----------------------------------------------------


def test_a_prefix_finds_one_session_and_an_ambiguous_one_lists_the_candidates(sync_server: SyncServer):
    ids = [
        "aaaa1111-0000-4000-8000-000000000001",
        "aaaa2222-0000-4000-8000-000000000002",
        "bbbb0000-0000-4000-8000-000000000003",
    ]
    with sync_server.client() as c:
        for sid in ids:
            assert push_raw(c, make_bundle(sid)).status_code == 200
        body = assert_error(c.get("/api/sessions/aaaa"), 409, "ambiguous")
        assert body["candidates"] == ids[:2]
        r = c.get("/api/sessions/AAAA1")
        assert r.status_code == 200 and r.headers["x-session-id"] == ids[0]
        assert r.headers["content-type"] == "application/gzip"
        assert Bundle.from_bytes(r.content, r.headers["x-bundle-sha256"]).session_id == ids[0]
        assert c.get(f"/api/sessions/{ids[2]}").headers["x-session-id"] == ids[2]
        assert_error(c.get("/api/sessions/cccc"), 404, "not_found")
        assert_error(c.get("/api/sessions/aa%25"), 404, "not_found")
        assert_error(c.get("/api/sessions/a_a"), 404, "not_found")


def test_listing_pages_through_every_session_in_id_order(sync_server: SyncServer):
    ids = sorted(str(uuid.uuid4()) for _ in range(5))
    with sync_server.client() as c:
        for sid in ids:
            push_raw(c, make_bundle(sid))
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = c.get("/api/sessions", params=params).json()
            seen += [s["session_id"] for s in page["sessions"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == ids and pages == 3


def test_listing_filters_by_project_and_by_change_time(sync_server: SyncServer):
    with sync_server.client() as c:
        api = push_raw(c, make_bundle(project="acme/api")).json()["entry"]
        web = push_raw(c, make_bundle(project="acme/web")).json()["entry"]
        other = push_raw(c, make_bundle(project="acme-tools")).json()["entry"]

        def listed(**params: str) -> set[str]:
            return {s["session_id"] for s in c.get("/api/sessions", params=params).json()["sessions"]}

        assert listed(project="acme") == {api["session_id"], web["session_id"]}
        assert listed(project="acme/web/") == {web["session_id"]}
        assert listed(since=web["updated_at"]) == {other["session_id"]}
        assert listed(since="2000-01-01T00:00:00Z") == {api["session_id"], web["session_id"], other["session_id"]}
        entry = c.get("/api/sessions").json()["sessions"][0]
        assert {
            "session_id",
            "project_key",
            "device",
            "last_modified",
            "title",
            "size",
            "sha256",
            "content_sha256",
        } <= set(entry)


# -- pushes -------------------------------------------------------------------


def test_a_push_records_the_content_digest_and_the_bundle_checksum(sync_server: SyncServer):
    b = make_bundle(title="Fix it", message_count=4, last_modified="2026-11-01T10:00:00.000Z")
    data = b.to_bytes()
    with sync_server.client() as c:
        r = push_raw(c, data)
    assert r.status_code == 200 and r.json()["result"] == "stored"
    entry = r.json()["entry"]
    assert entry["content_sha256"] == content_digest(b)
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
    assert (entry["title"], entry["message_count"], entry["device"]) == ("Fix it", 4, "alpha")


def test_pushing_identical_content_is_a_no_op(sync_server: SyncServer):
    b = make_bundle()
    with sync_server.client() as c:
        first = push_raw(c, b).json()["entry"]
        again = push_raw(c, b, base=content_digest(b))
        assert again.status_code == 200 and again.json()["result"] == "unchanged"
        assert again.json()["entry"]["updated_at"] == first["updated_at"]
        # even on a stale base: the server already holds exactly this
        assert push_raw(c, b).json()["result"] == "unchanged"


def test_a_stale_base_is_refused_with_the_current_entry(sync_server: SyncServer):
    sid = str(uuid.uuid4())
    v1, v2 = make_bundle(sid), make_bundle(sid, b'{"n":1}\n{"n":2}\n')
    with sync_server.client() as c:
        push_raw(c, v1)
        body = assert_error(push_raw(c, v2), 409, "stale_base")
        assert body["current"]["content_sha256"] == content_digest(v1)
        body = assert_error(push_raw(c, v2, base="0" * 64), 409, "stale_base")
        assert push_raw(c, v2, base=content_digest(v1)).json()["result"] == "stored"


def test_a_shorter_version_of_a_session_is_refused_unless_forced(sync_server: SyncServer):
    sid = str(uuid.uuid4())
    long = make_bundle(sid, b'{"n":1}\n{"n":2}\n{"n":3}\n')
    short = make_bundle(sid, b'{"n":1}\n')
    other = make_bundle(sid, b'{"n":1}\n{"x":9}\n')  # diverged, not shorter
    with sync_server.client() as c:
        push_raw(c, long)
        body = assert_error(push_raw(c, short, base=content_digest(long)), 409, "would_shrink")
        assert body["current"]["content_sha256"] == content_digest(long)
        r = push_raw(c, short, base=content_digest(long), force="true")
        assert r.status_code == 200 and r.json()["entry"]["content_sha256"] == content_digest(short)
        assert push_raw(c, other, base=content_digest(short)).json()["result"] == "stored"
    be = sync_server.backend()
    be.refresh()
    assert be.push([PushItem(make_bundle(sid, b'{"n":1}\n'), content_digest(other))])[sid] is PushResult.CONFLICT


@pytest.mark.parametrize(
    ("body", "sha", "code"),
    [
        (b"not a gzip at all", None, "invalid_bundle"),
        (b"", None, "invalid_bundle"),
        (forged_bundle(Manifest(session_id="not-a-uuid", project_key="a", device="x"), {"transcript.jsonl": b"{}\n"}).to_bytes(), None, "invalid_bundle"),
        (make_bundle().to_bytes(), "0" * 64, "checksum_mismatch"),
        (make_bundle().to_bytes()[:-40], None, "invalid_bundle"),
    ],
    ids=["garbage", "empty", "bad-session-id", "wrong-checksum", "truncated"],
)
def test_an_invalid_upload_is_refused_and_leaves_nothing_behind(
    sync_server: SyncServer, body: bytes, sha: str | None, code: str
):
    headers = {"X-Bundle-SHA256": sha or hashlib.sha256(body).hexdigest()}
    with sync_server.client() as c:
        r = c.post("/api/sessions/push", content=body, headers=headers)
        assert_error(r, 422, code)
        assert c.get("/api/sessions").json()["sessions"] == []
    assert sync_server.stray_files() == []


def test_a_bundle_with_a_tampered_member_is_refused(sync_server: SyncServer):
    import gzip

    raw = bytearray(gzip.decompress(make_bundle(transcript=b'{"hello":"world"}\n').to_bytes()))
    at = raw.index(b'"hello"')
    raw[at + 1 : at + 6] = b"HELLO"
    data = gzip.compress(bytes(raw))
    with sync_server.client() as c:
        body = assert_error(push_raw(c, data), 422, "invalid_bundle")
    assert "checksum" in body["detail"]
    assert sync_server.stray_files() == []


# -- limits ---------------------------------------------------------------------


def test_an_oversized_upload_gets_413_and_leaves_nothing_behind(start_sync_server):  # type: ignore[no-untyped-def]
    server = start_sync_server(max_bundle_bytes=50_000)
    big = make_bundle(transcript=b"\"" + os.urandom(200_000).hex().encode() + b"\"\n")
    data = big.to_bytes()
    assert len(data) > 50_000
    with server.client() as c:
        assert_error(push_raw(c, data), 413, "too_large")

        def chunks():  # no Content-Length: the server counts as it reads
            for i in range(0, len(data), 8192):
                yield data[i : i + 8192]

        r = c.post(
            "/api/sessions/push", content=chunks(), headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()}
        )
        assert_error(r, 413, "too_large")
        assert c.get("/api/sessions").json()["sessions"] == []
    assert server.stray_files() == []
    # the client says so clearly
    with pytest.raises(BackendError, match="larger than the sync server accepts"):
        server.backend().push([PushItem(big, None)])
    small = make_bundle()
    assert server.backend().push([PushItem(small, None)]) == {small.session_id: PushResult.PUSHED}


# -- crash safety ---------------------------------------------------------------


def test_a_server_killed_mid_upload_lists_nothing_and_leaves_no_stray_files(private_sync_server: SyncServer):
    sync_server = private_sync_server
    b = make_bundle(transcript=b"\"" + os.urandom(1_000_000).hex().encode() + b"\"\n")
    data = b.to_bytes()
    release = threading.Event()

    def body():
        yield data[: len(data) // 2]
        release.wait(30)
        yield data[len(data) // 2 :]

    def upload() -> None:
        try:
            with sync_server.client() as c:
                c.post(
                    "/api/sessions/push", content=body(), headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()}
                )
        except httpx.HTTPError:
            pass

    t = threading.Thread(target=upload)
    t.start()
    try:
        tmp = sync_server.data / "tmp"
        wait_until(lambda: any(p.stat().st_size > 0 for p in tmp.iterdir()), "the upload to reach the server's disk")
        sync_server.kill()
    finally:
        release.set()
        t.join(30)
    assert any(tmp.iterdir())  # the crash left a half-written upload ...
    sync_server.start()
    with sync_server.client() as c:
        assert c.get("/api/sessions").json()["sessions"] == []  # ... never listed
    assert sync_server.stray_files() == [] and not any(tmp.iterdir())  # and start-up removed it
    be = sync_server.backend()
    assert be.push([PushItem(b, None)]) == {b.session_id: PushResult.PUSHED}
    assert be.fetch(b.session_id).files == b.files


def test_a_failed_blob_write_stores_nothing_and_a_retry_succeeds(private_sync_server: SyncServer):
    sync_server = private_sync_server
    b = make_bundle()
    data = b.to_bytes()
    sha = hashlib.sha256(data).hexdigest()
    obstacle = sync_server.data / "blobs" / sha[:2]
    obstacle.write_bytes(b"")  # the blob's folder cannot be created
    with sync_server.client() as c:
        assert_error(push_raw(c, data), 500, "storage_error")
        assert c.get("/api/sessions").json()["sessions"] == []
        assert not any((sync_server.data / "tmp").iterdir())
        obstacle.unlink()
        assert push_raw(c, data).json()["result"] == "stored"
    assert sync_server.stray_files() == []


def test_a_second_server_on_the_same_data_dir_refuses_to_start(sync_server: SyncServer):
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", "serve", "--port", "1", "--data", str(sync_server.data)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "already using" in r.stderr


def test_concurrent_pushes_of_one_session_let_exactly_one_win(sync_server: SyncServer):
    sid = str(uuid.uuid4())
    versions = [make_bundle(sid, f'{{"device":{i}}}\n'.encode()) for i in range(2)]
    backends = [sync_server.backend() for _ in versions]
    for be in backends:
        be.refresh()
    barrier = threading.Barrier(2)
    results: dict[int, PushResult] = {}

    def push(i: int) -> None:
        barrier.wait(30)
        results[i] = backends[i].push([PushItem(versions[i], None)])[sid]

    threads = [threading.Thread(target=push, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results.values()) == [PushResult.CONFLICT, PushResult.PUSHED]
    winner = next(i for i, r in results.items() if r is PushResult.PUSHED)
    loser = 1 - winner
    assert backends[loser].entries()[0].content_sha256 == content_digest(versions[winner])
    assert backends[loser].fetch(sid).files == versions[winner].files


# -- structured errors ------------------------------------------------------------


def test_every_error_body_is_structured(sync_server: SyncServer):
    with sync_server.client() as c:
        assert_error(c.get("/no/such/route"), 404, "not_found")
        assert_error(c.delete("/api/sessions"), 405, "method_not_allowed")
        assert_error(c.get("/api/sessions", params={"limit": 0}), 422, "invalid_request")
        assert_error(c.get("/api/sessions", params={"since": "yesterday"}), 422, "invalid_request")
        assert_error(c.post("/api/sessions/push", content=b"x"), 422, "invalid_request")  # no checksum header
        assert_error(
            c.post("/api/sessions/push", content=b"x", params={"base": "nope"}, headers={"X-Bundle-SHA256": "0" * 64}),
            422,
            "invalid_request",
        )
