"""The HTTP backend and the token store: errors, retries, TLS, and whole syncs through the real server."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from claude_sync import credentials
from claude_sync.backends import Backend, PushItem, PushResult
from claude_sync.backends.http import HttpBackend
from claude_sync.config import Paths
from claude_sync.format.bundle import Bundle, Manifest, content_digest
from claude_sync.format.errors import BackendError, BundleError, ConfigError
from claude_sync.format.wire import RemoteEntry
from tests.support.devices import REPO, Device
from tests.support.forged import forged_bundle

if TYPE_CHECKING:
    from tests.support.sync_server import SyncServer

pytest_plugins = ["tests.support.sync_server"]


def make_bundle(sid: str | None = None, transcript: bytes = b'{"n":1}\n') -> Bundle:
    manifest = Manifest(session_id=sid or str(uuid.uuid4()), project_key="acme/api", device="alpha")
    return Bundle.build(manifest, {"transcript.jsonl": transcript})


def outcomes(summary):  # type: ignore[no-untyped-def]
    return {o.session_id: (o.status, o.reason) for o in summary.outcomes}


def mock_backend(handler, **kw) -> HttpBackend:  # type: ignore[no-untyped-def]
    kw.setdefault("backoff", 0)
    return HttpBackend("https://sync.example.test", lambda: "tok", transport=httpx.MockTransport(handler), **kw)


# -- answers, retries and errors --------------------------------------------------


def test_transient_failures_are_retried_and_then_succeed():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if len(calls) == 2:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, json={"sessions": [], "next_cursor": None})

    be = mock_backend(handler)
    be.refresh()
    assert be.entries() == [] and len(calls) == 3
    assert all(r.headers["authorization"] == "Bearer tok" for r in calls)


def test_a_server_error_is_not_retried_and_is_reported():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={"error": "internal", "detail": "internal server error"})

    with pytest.raises(BackendError, match="answered 500"):
        mock_backend(handler).refresh()
    assert len(calls) == 1


def test_a_url_that_is_no_sync_server_says_so():
    with pytest.raises(BackendError, match="does not look like a claude-sync server"):
        mock_backend(lambda r: httpx.Response(404, text="<html>nope</html>")).refresh()


def test_a_download_that_does_not_match_its_checksum_is_refused():
    b = make_bundle()
    data = bytearray(b.to_bytes())
    good = __import__("hashlib").sha256(bytes(data)).hexdigest()
    data[-10] ^= 0xFF

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bytes(data), headers={"X-Bundle-SHA256": good})

    with pytest.raises(BundleError, match="checksum"):
        mock_backend(handler).fetch(b.session_id)


def test_a_download_past_the_size_limit_is_refused():
    b = make_bundle(transcript=b"\"" + os.urandom(50_000).hex().encode() + b"\"\n")
    data = b.to_bytes()
    headers = {"X-Bundle-SHA256": __import__("hashlib").sha256(data).hexdigest()}
    with pytest.raises(BundleError, match="limit"):
        mock_backend(lambda r: httpx.Response(200, content=data, headers=headers), max_bundle_bytes=10_000).fetch(
            b.session_id
        )


def test_an_unreachable_server_fails_with_a_clear_reason():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    be = HttpBackend(f"http://127.0.0.1:{port}", lambda: "tok", attempts=2, backoff=0)
    with pytest.raises(BackendError, match="cannot reach the sync server at http://127.0.0.1:.*tried 2 times"):
        be.refresh()


def test_a_missing_token_asks_for_token_set(sync_server: SyncServer):
    stored: list[str | None] = [None]
    be = HttpBackend(sync_server.url, lambda: stored[0])
    with pytest.raises(ConfigError, match="claude-sync token set"):
        be.refresh()
    stored[0] = sync_server.token  # `claude-sync token set`: the next request has it
    be.refresh()


def test_a_wrong_or_revoked_token_asks_for_a_valid_one(sync_server: SyncServer):
    with pytest.raises(BackendError, match="did not accept the token.*token set"):
        sync_server.backend("wrong-token").refresh()
    be = sync_server.backend()
    be.refresh()
    sync_server.revoke(sync_server.user)
    with pytest.raises(BackendError, match="did not accept the token"):
        be.push([PushItem(make_bundle(), None)])


def test_the_token_is_read_once_for_many_requests_and_again_when_the_server_refuses_it(sync_server: SyncServer):
    """A pull asks the credential store once, not once a request; a token replaced meanwhile
    (`claude-sync token set` after a revoke) is read again at the first 401, and the sync goes on."""
    stored = [sync_server.token]
    reads = []

    def token() -> str:
        reads.append(stored[0])
        return stored[0]

    be = HttpBackend(sync_server.url, token, backoff=0.05)
    be.push([PushItem(make_bundle(), None)])
    for _ in range(5):
        be.refresh()
    assert len(reads) == 1
    sync_server.revoke(sync_server.user)
    stored[0] = sync_server.add_user(sync_server.user, "replacement")
    be.refresh()  # refused with the held token, accepted with the one now stored
    assert reads[-1] == stored[0] and len(reads) == 2
    assert [e.session_id for e in be.entries()]
    sync_server.revoke(sync_server.user)  # no other token now: the refusal is reported as before
    with pytest.raises(BackendError, match="did not accept the token"):
        be.refresh()


def test_a_session_refused_by_the_server_does_not_stop_the_others(sync_server: SyncServer):
    be = sync_server.backend()
    be.refresh()
    good = make_bundle()
    bad = forged_bundle(Manifest(session_id="not-a-session-id", project_key="acme/api", device="x"), {"transcript.jsonl": b"{}\n"})
    with pytest.raises(BackendError, match="not-a-session-id.*not a session id"):
        be.push([PushItem(bad, None), PushItem(good, None)])
    be.refresh()
    assert [e.session_id for e in be.entries()] == [good.session_id]


# -- TLS ----------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS stub answering an empty session list, with a self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = json.dumps({"sessions": [], "next_cursor": None}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    with _serving(httpd) as port:
        yield f"https://127.0.0.1:{port}", cert


@contextlib.contextmanager
def _serving(httpd: http.server.ThreadingHTTPServer) -> Iterator[int]:
    """Serve on a thread until the test is done; its port."""
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_tls_is_verified_and_a_configured_ca_bundle_is_trusted(tls_server: tuple[str, Path]):
    url, cert = tls_server
    with pytest.raises(BackendError, match="cannot verify the TLS certificate.*--ca-bundle"):
        HttpBackend(url, lambda: "tok", backoff=0).refresh()
    be = HttpBackend(url, lambda: "tok", ca_bundle=str(cert))
    be.refresh()
    assert be.entries() == []


def test_an_unreadable_ca_bundle_is_a_configuration_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="CA bundle"):
        HttpBackend("https://sync.example.test", lambda: "tok", ca_bundle=str(tmp_path / "missing.pem"))


# -- the token store ------------------------------------------------------------------


def test_the_token_file_is_private_and_config_json_never_holds_the_token(tmp_path: Path, no_os_keyring: None):
    dev = Device(tmp_path, "alpha", "code", backend="server", server_url="https://Sync.Example.test/")
    where = credentials.set_token("https://sync.example.test", "s3cret-token\n", dev.paths)
    f = dev.paths.data / "credentials.json"
    assert where == str(f)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert credentials.get_token("https://SYNC.example.test/", dev.paths) == "s3cret-token"
    assert "s3cret-token" not in dev.paths.config_file.read_text()
    os.chmod(f, 0o644)  # loosened by someone: tightened again on the next read
    assert credentials.get_token("https://sync.example.test", dev.paths) == "s3cret-token"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert credentials.clear_token("https://sync.example.test", dev.paths)
    assert credentials.get_token("https://sync.example.test", dev.paths) is None
    assert not f.exists()
    with pytest.raises(ConfigError):
        credentials.set_token("https://sync.example.test", "two words", dev.paths)


def test_the_os_keyring_is_used_when_one_is_available(tmp_path: Path):
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 10  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            del self.store[(service, username)]

    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        paths = Paths(data=tmp_path / "data", claude=tmp_path / ".claude", home=tmp_path)
        assert credentials.set_token("https://sync.example.test", "kr-token", paths) == "the system keyring"
        assert ring.store == {("claude-sync", "https://sync.example.test"): "kr-token"}
        assert not (paths.data / "credentials.json").exists()
        assert credentials.get_token("https://sync.example.test/", paths) == "kr-token"
        assert credentials.clear_token("https://sync.example.test", paths)
        assert ring.store == {}
    finally:
        keyring.set_keyring(previous)


# -- whole syncs through the server ----------------------------------------------------


def test_two_devices_sync_a_session_through_the_server(sync_server: SyncServer, tmp_path: Path):
    a = sync_server.device(tmp_path / "machines", "alpha", "code")
    b = sync_server.device(tmp_path / "machines", "beta", "work/projects")
    s = a.rich_session("acme/api")
    assert a.push().exit_code == 0
    assert outcomes(b.pull())[s.session_id][0] == "done"
    target = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    text = target.read_text()
    assert str(a.home) not in text and b.cwd("acme/api") + "/hello.py" in text
    assert (b.paths.claude / "tasks" / s.session_id / "1.json").exists()
    # nothing changed: both directions are no-ops
    assert outcomes(a.push())[s.session_id] == ("skipped", "up to date")
    assert outcomes(b.push())[s.session_id] == ("skipped", "up to date")
    # the session grows on A and reaches B without a conflict
    s.user("one more thing").assistant("sure").write()
    assert outcomes(a.push())[s.session_id] == ("done", "updated")
    assert outcomes(b.pull())[s.session_id] == ("done", "updated")
    assert "one more thing" in target.read_text()


def test_the_cli_reads_the_token_from_stdin_and_syncs_through_the_server(sync_server: SyncServer, tmp_path: Path):
    a = Device(tmp_path / "machines", "alpha", "code")
    r = a.cli("configure", "--backend", "server", "--server-url", sync_server.url)
    assert r.returncode == 0, r.stderr
    s = a.rich_session()
    r = a.cli("push", "--all")
    assert r.returncode == 1 and "claude-sync token set" in r.stdout + r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", "token", "set"],
        input=sync_server.token + "\n",
        env=a.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert sync_server.token not in r.stdout + r.stderr
    assert sync_server.token not in a.paths.config_file.read_text()
    r = a.cli("push", "--all")
    assert r.returncode == 0, r.stdout + r.stderr
    remote = a.cli_json("remote")
    assert [e["session_id"] for e in remote] == [s.session_id]  # type: ignore[union-attr]
    assert a.cli("token", "clear").returncode == 0
    r = a.cli("remote")
    assert r.returncode != 0 and "token set" in r.stderr


class FirstPushTogether(Backend):
    """Holds a device's first push until the other device's first push is ready too."""

    def __init__(self, inner: Backend, barrier: threading.Barrier, log: dict[str, list[PushResult]], name: str) -> None:
        self.inner, self.barrier, self.log, self.name = inner, barrier, log, name
        self.first = True

    def refresh(self) -> None:
        self.inner.refresh()

    def entries(self) -> list[RemoteEntry]:
        return self.inner.entries()

    def fetch(self, session_id: str, have: Bundle | None = None) -> Bundle:
        return self.inner.fetch(session_id, have)

    def push(self, items: list[PushItem]) -> dict[str, PushResult]:
        if self.first:
            self.first = False
            self.barrier.wait(60)
        results = self.inner.push(items)
        self.log.setdefault(self.name, []).extend(results.values())
        return results

    def close(self) -> None:
        self.inner.close()


def test_concurrent_pushes_of_one_session_from_two_devices_end_in_one_merged_copy(
    sync_server: SyncServer, tmp_path: Path
):
    from claude_sync.engine import Selection

    a = sync_server.device(tmp_path / "machines", "alpha", "code")
    b = sync_server.device(tmp_path / "machines", "beta", "work/projects")
    s = a.rich_session()
    a.push()
    b.pull()
    sid = s.session_id
    transcripts = {d.name: d.project_dir("acme/api") / f"{sid}.jsonl" for d in (a, b)}

    def continue_on(dev: Device, marker: str, ts: str) -> None:
        t = transcripts[dev.name]
        line = json.loads(t.read_text().splitlines()[-1])
        line.update(uuid=marker, parentUuid=line["uuid"], timestamp=ts)
        with t.open("a") as f:
            f.write(json.dumps(line) + "\n")

    continue_on(a, "from-alpha", "2026-11-02T00:00:00.000Z")
    continue_on(b, "from-beta", "2026-11-03T00:00:00.000Z")
    barrier = threading.Barrier(2)
    pushes: dict[str, list[PushResult]] = {}
    summaries = {}

    def run(dev: Device) -> None:
        # the token reaches the backend through the credential store of this device
        backend = FirstPushTogether(HttpBackend.from_config(dev.config, dev.paths), barrier, pushes, dev.name)
        engine = dev.engine(backend)
        try:
            summaries[dev.name] = engine.push(Selection(all=True))
        finally:
            engine.close()

    threads = [threading.Thread(target=run, args=(d,)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # exactly one first push won; the other got a conflict, and its engine decided again
    assert sorted(results[0] for results in pushes.values()) == [PushResult.CONFLICT, PushResult.PUSHED]
    winner, loser = ("alpha", "beta") if pushes["alpha"][0] is PushResult.PUSHED else ("beta", "alpha")
    assert outcomes(summaries[winner])[sid] == ("done", "updated")
    assert outcomes(summaries[loser])[sid] == ("done", f"merged with the copy from {winner}")
    # the server holds one copy with both devices' turns; the winner pulls it, and then all is quiet
    check = sync_server.backend()
    held = check.fetch(sid).files["transcript.jsonl"].decode()
    assert "from-alpha" in held and "from-beta" in held
    dev = {"alpha": a, "beta": b}
    assert outcomes(dev[winner].pull())[sid][0] == "done"
    for d in (a, b):
        text = transcripts[d.name].read_text()
        assert "from-alpha" in text and "from-beta" in text
        assert outcomes(d.push())[sid] == ("skipped", "up to date")


def test_one_oversized_session_fails_alone_and_the_rest_of_the_batch_lands(start_sync_server, tmp_path):
    server = start_sync_server(max_bundle_bytes=20_000)
    dev = server.device(tmp_path, "alpha", "code")
    small = dev.rich_session("acme/small")
    big = dev.session("acme/big")
    import random

    rnd = random.Random(7)
    for _i in range(40):  # incompressible text: the bundle stays large
        big.user("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(1000)))
    big.write()
    summary = dev.push()
    out = {o.session_id: (o.status, o.reason) for o in summary.outcomes}
    assert out[small.session_id][0] == "done"
    assert out[big.session_id][0] == "failed" and "413" not in out[small.session_id][1]
    assert summary.exit_code == 1


# -- a hostile or broken server: replies that never end ------------------------------------------


@pytest.fixture
def hostile_server() -> Iterator[tuple[str, dict[str, object]]]:
    """A real HTTP server on 127.0.0.1 whose session list does what `behaviour["list"]` says."""
    behaviour: dict[str, object] = {"requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            behaviour["requests"] = int(behaviour["requests"]) + 1  # type: ignore[call-overload]
            how = behaviour["list"]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if how == "endless":  # chunked, and never done: a broken proxy, or a server out to fill memory
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b" " * 1024 * 1024
                try:
                    while True:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except OSError:
                    return  # the client hung up
            n = int(behaviour["requests"])  # type: ignore[call-overload]
            cursor = "same" if how == "same cursor" else f"page-{n}"  # "new cursors": a list with no end
            sessions = [
                {"session_id": str(uuid.UUID(int=n * 1000 + i)), "project_key": "acme/api", "device": "mallory",
                 "sha256": "0" * 64, "size": 1, "content_sha256": "0" * 64, "updated_at": "2026-12-06T00:00:00Z"}
                for i in range(1000)
            ]
            body = json.dumps({"sessions": sessions, "next_cursor": cursor}).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}", behaviour


def test_a_reply_past_the_reply_limit_is_refused_not_held(hostile_server: tuple[str, dict[str, object]]):
    url, behaviour = hostile_server
    behaviour["list"] = "endless"
    backend = HttpBackend(url, lambda: "tok", attempts=1)
    with pytest.raises(BackendError, match=r"larger than 64 MB"):
        backend.refresh()
    backend.close()


@pytest.mark.parametrize("how", ["same cursor", "new cursors"])
def test_a_session_list_that_never_ends_is_refused(hostile_server: tuple[str, dict[str, object]], how: str, monkeypatch):
    from claude_sync.backends import http as http_backend

    monkeypatch.setattr(http_backend, "MAX_LISTED_SESSIONS", 20_000)  # 20 pages here; 1,000,000 for real
    url, behaviour = hostile_server
    behaviour["list"] = how
    backend = HttpBackend(url, lambda: "tok", attempts=1)
    with pytest.raises(BackendError, match="does not end" if how == "same cursor" else "more than 20000 sessions"):
        backend.refresh()
    backend.close()
    assert int(behaviour["requests"]) <= 21  # type: ignore[call-overload]
