"""Several server processes on one PostgreSQL database: replicas of one server, as a team runs it.

Real PostgreSQL (devtools/postgres.py), real `claude-sync serve --database` processes,
real devices: pushes through either replica, one replica killed -9 mid-push and restarted,
one session pushed through both at once, and a fresh device pulling everything back.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from claude_sync.backends import PushResult
from claude_sync.backends.http import HttpBackend
from claude_sync.engine import Selection
from claude_sync.format.bundle import Bundle, Manifest, content_digest
from tests.support.devices import REPO, Device
from tests.support.sync_server import SyncServer
from tests.test_http_backend import FirstPushTogether, outcomes

pytest_plugins = ["tests.support.sync_server", "tests.support.pg_fixtures"]


def sql(url: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as con:
        cur = con.execute(query, args)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def wait_until(cond: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def start_together(servers: list[SyncServer]) -> None:
    """Start every process at once: their schema migrations race, as replicas' do."""
    errors: list[BaseException] = []

    def start(s: SyncServer) -> None:
        try:
            s.start()
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture
def replicas(database_url: str, tmp_path: Path, no_os_keyring: None) -> Iterator[Callable[..., list[SyncServer]]]:
    started: list[SyncServer] = []

    def make(n: int = 2, args: list[str] | None = None) -> list[SyncServer]:
        servers = [
            SyncServer(tmp_path / f"replica-{len(started) + i}", database=database_url, args=args) for i in range(n)
        ]
        for s in servers:
            s.data.mkdir()
        start_together(servers)
        started.extend(servers)
        token = servers[0].add_user("alice", token_name="tests")
        for s in servers:
            s.token = token
        return servers

    yield make
    for s in started:
        s.stop()


def download(server: SyncServer, sid: str) -> bytes:
    with server.client() as c:
        r = c.get(f"/api/sessions/{sid}")
        assert r.status_code == 200, r.text
        assert hashlib.sha256(r.content).hexdigest() == r.headers["X-Bundle-SHA256"]
        return r.content


def listed(server: SyncServer) -> dict[str, dict[str, Any]]:
    with server.client() as c:
        return {e["session_id"]: e for e in c.get("/api/sessions").json()["sessions"]}


def paused_body(data: bytes) -> tuple[Callable[[], Iterator[bytes]], threading.Event, threading.Event]:
    """A request body that sends half of `data`, sets the first event, and sends the rest once the second is set."""
    half_sent, go_on = threading.Event(), threading.Event()

    def body() -> Iterator[bytes]:
        yield data[: len(data) // 2]
        half_sent.set()
        go_on.wait(60)
        yield data[len(data) // 2 :]

    return body, half_sent, go_on


def big_bundle(sid: str, megabytes: int = 6) -> bytes:
    import os

    text = b"".join(
        json.dumps({"n": i, "pad": os.urandom(300).hex()}).encode() + b"\n" for i in range(megabytes * 1700)
    )
    return Bundle.build(
        Manifest(session_id=sid, project_key="acme/big", device="alpha"), {"transcript.jsonl": text}
    ).to_bytes()


def test_replicas_share_one_store_survive_a_kill_mid_push_and_lose_nothing(replicas, database_url: str, tmp_path: Path):
    a, b = replicas(2)
    assert sql(database_url, "SELECT version FROM schema_migrations") == [(1,)]  # migrated once, though both raced
    machines = tmp_path / "machines"
    alpha = a.device(machines, "alpha", "code")  # pushes through replica A
    beta = b.device(machines, "beta", "work/projects")  # pushes through replica B
    mine = [alpha.rich_session(f"acme/p{i}").session_id for i in range(3)]
    theirs = [beta.rich_session(f"acme/q{i}").session_id for i in range(2)]
    assert alpha.push().count("done") == 3
    assert beta.push().count("done") == 2
    # each replica serves what went through the other
    assert set(listed(a)) == set(listed(b)) == set(mine + theirs)
    assert {o.session_id for o in alpha.pull().outcomes if o.status == "done"} == set(theirs)
    assert {o.session_id for o in beta.pull().outcomes if o.status == "done"} == set(mine)

    # -- replica A killed -9 while a push streams into it ------------------------------------
    doomed = str(uuid.uuid4())
    data = big_bundle(doomed)
    body, half_sent, killed = paused_body(data)

    failure: list[BaseException] = []

    def push_into_a() -> None:
        headers = {"X-Bundle-SHA256": hashlib.sha256(data).hexdigest(), "Content-Type": "application/gzip"}
        try:
            with a.client() as c:
                r = c.post("/api/sessions/push", content=body(), headers=headers)
            failure.append(AssertionError(f"the push answered {r.status_code} through a killed replica"))
        except httpx.HTTPError as e:
            failure.append(e)

    pusher = threading.Thread(target=push_into_a)
    pusher.start()
    assert half_sent.wait(60)
    a.kill()
    killed.set()
    pusher.join(60)
    assert isinstance(failure[0], httpx.HTTPError)
    assert doomed not in listed(b)  # nothing half-stored
    with b.client() as c:
        assert c.get("/readyz").json() == {"status": "ready", "detail": ""}

    # -- and killed -9 again while a device's batch commits through it ------------------------
    a.start()
    batch = [alpha.rich_session(f"acme/r{i}").session_id for i in range(6)]
    pushed: list[object] = []
    runner = threading.Thread(target=lambda: pushed.append(_push_catching(alpha)))
    runner.start()
    while not set(batch) & set(listed(b)):  # at least one landed: the batch is mid-way
        if not runner.is_alive():
            break
    a.kill()
    runner.join(120)
    a.start()  # restarted on the same database: start-up sweeps what the kill left
    for sid, entry in listed(b).items():
        assert hashlib.sha256(download(a, sid)).hexdigest() == entry["sha256"]
    assert sql(
        database_url,
        "SELECT COUNT(*) FROM blobs x WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.sha256 = x.sha256)",
    ) == [(0,)]
    alpha.push()  # what the kill interrupted goes now
    assert set(batch) <= set(listed(b))

    # -- the same session pushed through both replicas at once --------------------------------
    shared = mine[0]
    transcripts = {d.name: d.project_dir("acme/p0") / f"{shared}.jsonl" for d in (alpha, beta)}
    for dev, marker, ts in (
        (alpha, "from-alpha", "2026-11-02T00:00:00.000Z"),
        (beta, "from-beta", "2026-11-03T00:00:00.000Z"),
    ):
        t = transcripts[dev.name]
        line = json.loads(t.read_text().splitlines()[-1])
        line.update(uuid=marker, parentUuid=line["uuid"], timestamp=ts)
        with t.open("a") as f:
            f.write(json.dumps(line) + "\n")
    barrier = threading.Barrier(2)
    firsts: dict[str, list[PushResult]] = {}

    def push_at_once(dev: Device) -> None:
        engine = dev.engine(
            FirstPushTogether(HttpBackend.from_config(dev.config, dev.paths), barrier, firsts, dev.name)
        )
        try:
            engine.push(Selection(ids=(shared,)))
        finally:
            engine.close()

    threads = [threading.Thread(target=push_at_once, args=(d,)) for d in (alpha, beta)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(r[0] for r in firsts.values()) == [PushResult.CONFLICT, PushResult.PUSHED]
    raw = download(b, shared)
    held = Bundle.from_bytes(raw, hashlib.sha256(raw).hexdigest()).files["transcript.jsonl"].decode()
    assert "from-alpha" in held and "from-beta" in held  # both appends kept after the loser decided again
    alpha.pull()
    beta.pull()

    # -- a fresh device pulls everything through the restarted replica, byte for byte --------
    gamma = a.device(machines, "gamma", "code")
    gamma.pull()
    everything = listed(a)
    assert set(everything) == set(mine + theirs + batch)
    for sid in everything:
        origin = alpha if sid in mine + batch else beta
        # (hidden files, such as a task list's .lock, stay on their device)
        got = {p: v for p, v in gamma.all_files().items() if sid in p and not Path(p).name.startswith(".")}
        want = {p: v for p, v in origin.all_files().items() if sid in p and not Path(p).name.startswith(".")}
        assert len(got) == len(want) and got, (sorted(got), sorted(want))
        for (gp, gv), (_wp, wv) in zip(sorted(got.items()), sorted(want.items())):
            rewritten = wv.replace(str(origin.projects).encode(), str(gamma.projects).encode())
            rewritten = rewritten.replace(str(origin.home).encode(), str(gamma.home).encode())
            assert gv == rewritten, gp
    assert all(o.reason == "up to date" for o in gamma.push().outcomes)


def _push_catching(dev: Device) -> object:
    try:
        return dev.push()
    except Exception as e:  # the replica died under it: what matters is what the store holds
        return e


def test_every_guarantee_holds_across_replicas(replicas, database_url: str):
    a, b = replicas(2)
    sid = str(uuid.uuid4())

    def bundle(text: bytes) -> tuple[bytes, str]:
        data = Bundle.build(
            Manifest(session_id=sid, project_key="acme/api", device="d"), {"transcript.jsonl": text}
        ).to_bytes()
        return data, hashlib.sha256(data).hexdigest()

    def push(server: SyncServer, text: bytes, base: str | None = None, token: str | None = None) -> httpx.Response:
        data, sha = bundle(text)
        params = {"base": base} if base else {}
        with server.client(token) as c:
            return c.post("/api/sessions/push", content=data, params=params, headers={"X-Bundle-SHA256": sha})

    v1 = push(a, b'{"n":1}\n').json()["entry"]["content_sha256"]
    assert push(b, b'{"n":1}\n').json()["result"] == "unchanged"  # idempotent through the other replica
    v2 = push(b, b'{"n":1}\n{"n":2}\n', base=v1)
    assert v2.status_code == 200
    stale = push(a, b'{"n":1}\n{"other":1}\n', base=v1)  # A must see what B stored
    assert stale.status_code == 409 and stale.json()["error"] == "stale_base"
    shrink = push(a, b'{"n":1}\n', base=v2.json()["entry"]["content_sha256"])
    assert shrink.status_code == 409 and shrink.json()["error"] == "would_shrink"
    # user isolation, and revocation seen by both replicas at once
    bob = a.add_user("bob", token_name="laptop")
    with b.client(bob) as c:
        assert c.get("/api/sessions").json()["sessions"] == []
        assert c.get(f"/api/sessions/{sid}").status_code == 404
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", "server", "revoke", "bob", "--token", "laptop"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env(), "CLAUDE_SYNC_DATABASE_URL": database_url},
    )
    assert r.returncode == 0, r.stderr
    for s in (a, b):
        with s.client(bob) as c:
            assert c.get("/api/sessions").status_code == 401


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_")}


def test_readiness_fails_while_the_database_is_unreachable(replicas, database_url: str, postgres_cluster):
    [a] = replicas(1)
    db = database_url.rsplit("/", 1)[1]
    with httpx.Client(base_url=a.url, timeout=60) as c:
        assert c.get("/readyz").status_code == 200
        admin = postgres_cluster.url()
        sql(admin, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
        sql(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", db)
        try:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["status"] == "storage_unavailable"
            assert c.get("/healthz").status_code == 200  # alive: a balancer stops sending, nothing restarts it
            lost = c.get("/api/sessions", headers={"Authorization": f"Bearer {a.token}"})
            assert lost.status_code == 503 and lost.json()["error"] == "unavailable"  # clients retry a 503
            assert lost.headers["Retry-After"] == "1"
        finally:
            sql(admin, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
        wait_until(lambda: c.get("/readyz").status_code == 200, "the replica to be ready again")
        assert c.get("/api/sessions", headers={"Authorization": f"Bearer {a.token}"}).status_code == 200


def test_a_stopping_replica_finishes_the_upload_in_flight(replicas, database_url: str):
    [a] = replicas(1)
    sid = str(uuid.uuid4())
    data = big_bundle(sid, 2)
    body, half_sent, stopping = paused_body(data)

    answers: list[httpx.Response] = []

    def push() -> None:
        with a.client() as c:
            answers.append(
                c.post(
                    "/api/sessions/push", content=body(), headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()}
                )
            )

    t = threading.Thread(target=push)
    t.start()
    assert half_sent.wait(60)
    proc = a.proc
    assert proc is not None
    proc.terminate()  # SIGTERM, as systemd or an orchestrator stops it

    def refuses_new_requests() -> bool:
        try:
            httpx.get(f"{a.url}/healthz", timeout=5)
        except httpx.TransportError:
            return True
        return False

    wait_until(refuses_new_requests, "the stopping replica to take no new request")  # ...
    stopping.set()
    t.join(60)
    assert answers and answers[0].status_code == 200, (
        answers[0].text if answers else "no answer"
    )  # ... but finishes this one
    assert proc.wait(60) in (0, -15)  # uvicorn re-raises the SIGTERM once it has drained
    assert sql(database_url, "SELECT session_id FROM sessions") == [(sid,)]


def test_metrics_count_requests_latency_bytes_and_storage(replicas):
    [a] = replicas(1)
    dev_bundle = Bundle.build(
        Manifest(session_id=str(uuid.uuid4()), project_key="acme/api", device="d"), {"transcript.jsonl": b'{"n":1}\n'}
    )
    data = dev_bundle.to_bytes()
    with a.client() as c:
        assert (
            c.post(
                "/api/sessions/push", content=data, headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()}
            ).status_code
            == 200
        )
        c.get("/api/sessions")
        text = httpx.get(f"{a.url}/metrics").text
    assert 'claude_sync_requests_total{route="/api/sessions/push",method="POST",status="200"} 1' in text
    assert f'claude_sync_received_bytes_total{{route="/api/sessions/push",method="POST"}} {len(data)}' in text
    assert 'claude_sync_request_duration_seconds_count{route="/api/sessions",method="GET"} 1' in text
    assert "claude_sync_sessions 1" in text and f"claude_sync_stored_bytes {len(data)}" in text
    assert "# TYPE claude_sync_request_duration_seconds histogram" in text


def test_a_server_requiring_encryption_admits_only_accounts_marked_encrypted(replicas):
    a, b = replicas(2, args=["--require-encryption"])
    with b.client() as c:
        r = c.get("/api/sessions")
        assert r.status_code == 403 and r.json()["error"] == "encryption_required"
        assert c.get("/api/account").json() | {"bytes": 0} == {
            "user": "alice",
            "encrypted": False,
            "encryption_required": True,
            "sessions": 0,
            "bytes": 0,
            "quota_bytes": None,
            "retention_days": None,
        }
    a.admin("set_account", "alice", encrypted=True)
    with b.client() as c:
        assert c.get("/api/sessions").status_code == 200 and c.get("/api/account").json()["encrypted"] is True


def test_a_quota_is_enforced_through_every_replica(replicas):
    import os

    a, b = replicas(2)

    def push(server: SyncServer) -> httpx.Response:
        data = Bundle.build(
            Manifest(session_id=str(uuid.uuid4()), project_key="acme/api", device="d"),
            {"transcript.jsonl": json.dumps({"pad": os.urandom(2000).hex()}).encode() + b"\n"},
        ).to_bytes()
        with server.client() as c:
            return c.post(
                "/api/sessions/push", content=data, headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()}
            )

    size = push(a).json()["entry"]["size"]
    a.admin("set_account", "alice", quota_bytes=2 * size + size // 2)
    assert push(b).status_code == 200
    for server in (a, b):
        refused = push(server)
        assert refused.status_code == 413 and refused.json()["error"] == "quota_exceeded"
    assert len(listed(b)) == 2


def test_deleting_a_user_through_the_cli_removes_everything_of_theirs(replicas, database_url: str, tmp_path: Path):
    a, b = replicas(2)
    dev = b.device(tmp_path / "m", "alpha", "code")
    dev.rich_session()
    dev.push()
    env = {**_env(), "CLAUDE_SYNC_DATABASE_URL": database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "claude_sync", "server", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    assert cli("delete-user", "alice").returncode == 2  # not without --yes
    r = cli("delete-user", "alice", "--yes")
    assert r.returncode == 0 and "1 session" in r.stdout, r.stderr
    with a.client() as c:
        assert c.get("/api/sessions").status_code == 401
    assert sql(
        database_url,
        "SELECT (SELECT COUNT(*) FROM blobs), (SELECT COUNT(*) FROM blob_chunks), (SELECT COUNT(*) FROM tokens)",
    ) == [(0, 0, 0)]


def test_a_postgres_store_is_backed_up_with_pg_dump_and_restored_with_pg_restore(
    replicas, database_url: str, postgres_cluster, tmp_path: Path
):  # type: ignore[no-untyped-def]
    [a] = replicas(1)
    dev = a.device(tmp_path / "m", "alpha", "code")
    for i in range(3):
        dev.rich_session(f"acme/p{i}")
    dev.push()
    before = {sid: e["sha256"] for sid, e in listed(a).items()}
    dump = tmp_path / "claude-sync.dump"
    subprocess.run(
        [postgres_cluster.tool("pg_dump"), "--format=custom", f"--file={dump}", database_url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    target = postgres_cluster.create_database("restored")
    subprocess.run(
        [postgres_cluster.tool("pg_restore"), "--no-owner", f"--dbname={target}", str(dump)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    restored = SyncServer(tmp_path / "restored-replica", database=target)
    restored.data.mkdir()
    restored.token = a.token  # tokens travel with the data
    with restored:
        assert {sid: e["sha256"] for sid, e in listed(restored).items()} == before
        for sid, sha in before.items():
            assert hashlib.sha256(download(restored, sid)).hexdigest() == sha
        fresh = restored.device(tmp_path / "m", "gamma", "code")
        assert fresh.pull().count("done") == 3


def test_a_database_migrated_by_a_newer_server_or_unreachable_is_refused_plainly(database_url: str):
    from claude_sync.server.pg_storage import PostgresStorage
    from claude_sync.server.storage import StorageError

    PostgresStorage(database_url).close()
    sql(database_url, "INSERT INTO schema_migrations VALUES (99, 0)")
    with pytest.raises(StorageError, match="newer claude-sync server"):
        PostgresStorage(database_url)
    with pytest.raises(StorageError, match="cannot reach the database") as unreachable:
        PostgresStorage("postgresql://someone:hunter2@127.0.0.1:1/nowhere")
    assert "hunter2" not in str(unreachable.value)
