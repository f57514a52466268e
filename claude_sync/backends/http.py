"""HTTP backend: sessions on a self-hosted `claude-sync serve`, over httpx.

One request per bundle. The server compares the pushed version's base with what
it holds (compare-and-swap), so a device that pushed meanwhile makes this push a
CONFLICT and the engine decides again, as with Git. Only transient failures
(connection errors, timeouts, 502/503/504) are retried, with exponential backoff;
every push is safe to repeat because identical content is a no-op on the server.
The token is read from the credential store at each request, never kept in config.

Requests and replies are those of claude_sync/format/wire.py, which the server shares; every
reply is parsed with its model. Only what is new travels (claude_sync/format/delta.py): when the server's copy is a prefix
of the pushed one, the push is an append against it; when this device holds an
older copy, a fetch downloads only what it lacks. Either falls back to whole
bundles when it does not apply, when the result does not verify, or when the
server is older and lacks those routes (404/405). A download's memory does not grow
with the session: a large bundle goes to a temp file and its large files wait in temp
files (claude_sync/spill.py), as a Git pull's do.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import itertools
import json
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from .. import __version__
from ..format import delta, version, wire
from ..format.bundle import DEFAULT_MAX_BYTES, Bundle, Manifest, content_digest
from ..format.errors import (
    AmbiguousSession,
    AuthError,
    BackendError,
    BundleError,
    ConfigError,
    SessionNotFound,
    SyncError,
)
from ..format.wire import RemoteEntry
from ..spill import SpillFolders, SpillSink
from .base import Backend, PartialPush, PushItem, PushResult

log = logging.getLogger(__name__)

TRANSIENT_STATUS = {502, 503, 504}
TOKEN_HOLD_SECONDS = 5.0  # a token read is used this long; a 401 reads it again at once
_Body = TypeVar("_Body", bound=wire.ErrorBody)
PAGE_SIZE = 1000
# What a reply read whole may hold (a page of the list, a manifest, an error), and how long the session
# list may be: a broken or hostile server's endless answer costs a device no more than this.
MAX_REPLY_BYTES = 64 * 1024 * 1024
MAX_LISTED_SESSIONS = 1_000_000
DOWNLOAD_IN_MEMORY = 8 * 1024 * 1024  # a bundle larger than this is downloaded to a temp file


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpBackend(Backend):
    name = "server"

    def __init__(
        self,
        url: str,
        token: Callable[[], str | None],
        *,
        ca_bundle: str | None = None,
        max_bundle_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = 60.0,
        push_timeout: float = 600.0,
        attempts: int = 4,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        spill: Path | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not a server URL: {url!r} (expected https://host[:port])")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            log.warning("the sync server %s is plain HTTP: the token and sessions travel unencrypted", url)
        self.url = url.rstrip("/")
        self._token = token
        self.max_bundle_bytes = max_bundle_bytes
        # Large bundles and their large files wait here between download and writing (None: a temp folder).
        self._spill = SpillFolders(spill)
        self.attempts, self.backoff, self.push_timeout = max(1, attempts), backoff, push_timeout
        verify: ssl.SSLContext | bool = True
        if ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError(f"cannot use the CA bundle {ca_bundle}: {e}") from e
        self._client = httpx.Client(
            base_url=self.url,
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"User-Agent": f"claude-sync/{__version__}", wire.FORMAT: str(version.FORMAT_VERSION)},
            follow_redirects=False,  # a redirect must not carry the token elsewhere
            transport=transport,
        )
        self._held: tuple[str, float] | None = None  # (the token as last read, when)
        self._entries: dict[str, RemoteEntry] | None = None
        self._manifests: dict[str, Manifest] = {}  # content digest -> manifest of a version seen on the server
        self.takes_deltas = True  # False once the server turned out to lack the delta routes
        self.remote_format: int | None = None  # the format version the server holds, once a listing said

    @classmethod
    def from_config(cls, config, paths) -> HttpBackend:  # type: ignore[no-untyped-def]
        from .. import credentials

        url = config.server_url
        if not url:
            raise ConfigError(
                "no sync server configured: run `claude-sync configure --backend server --server-url URL`"
            )
        return cls(
            url,
            lambda: credentials.get_token(url, paths),
            ca_bundle=config.ca_bundle,
            max_bundle_bytes=config.max_bundle_bytes,
            spill=paths.cache / "spill",
        )

    # -- plumbing ----------------------------------------------------------

    def _current_token(self, fresh: bool = False) -> str | None:
        # Read from the credential store (a file, or the system keyring over D-Bus) at most once
        # every TOKEN_HOLD_SECONDS: a pull of thousands of sessions asked for it once a request.
        now = time.monotonic()
        if fresh or self._held is None or now - self._held[1] > TOKEN_HOLD_SECONDS:
            token = self._token()
            self._held = (token, now) if token else None  # none yet: asked again next time (`token set`)
            return token
        return self._held[0]

    def _auth(self, fresh: bool = False) -> dict[str, str]:
        token = self._current_token(fresh)
        if not token:
            raise ConfigError(
                f"no token for the sync server {self.url}: run `claude-sync token set` (it reads the token from stdin)"
            )
        return {"Authorization": f"Bearer {token}"}

    def _send(self, method: str, path: str, *, stream: bool = False, **kw: Any) -> httpx.Response:
        """Send with retries for transient failures; any answer other than 502/503/504 is returned."""
        headers = {**kw.pop("headers", {}), **self._auth()}
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                req = self._client.build_request(method, path, headers=headers, **kw)
                resp = self._client.send(req, stream=True)
                if not stream and resp.status_code not in TRANSIENT_STATUS:
                    resp = _capped(resp)
            except httpx.ConnectError as e:
                if "CERTIFICATE_VERIFY_FAILED" in str(e) or isinstance(e.__cause__, ssl.SSLError):
                    raise BackendError(
                        f"cannot verify the TLS certificate of the sync server {self.url}: {e} "
                        "(configure the CA that signed it with `claude-sync configure --ca-bundle FILE`)"
                    ) from e
                last = str(e) or type(e).__name__
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
                last = str(e) or type(e).__name__
            else:
                if resp.status_code == 401 and self._refreshed_auth(headers):
                    resp.close()  # the token was replaced meanwhile (`claude-sync token set`): once more with it
                    return self._send(method, path, stream=stream, headers=headers, **kw)
                if resp.status_code not in TRANSIENT_STATUS:
                    return resp
                last = f"HTTP {resp.status_code}"
                resp.close()
            log.info("sync server %s: %s (attempt %d of %d)", self.url, last, attempt + 1, self.attempts)
        raise BackendError(f"cannot reach the sync server at {self.url}: {last} (tried {self.attempts} times)")

    def _refreshed_auth(self, headers: dict[str, str]) -> bool:
        """After a 401: whether the store now holds another token than the one sent (then in `headers`)."""
        sent = headers.get("Authorization")
        try:
            auth = self._auth(fresh=True)
        except ConfigError:
            return False
        if auth["Authorization"] == sent:
            return False
        headers.update(auth)
        return True

    def _fail(self, resp: httpx.Response, what: str) -> SyncError:
        """A clear error for an answer we did not expect."""
        code, detail = _error_of(resp)
        status = resp.status_code
        if status == 401:
            return AuthError(
                f"the sync server {self.url} did not accept the token ({detail}): "
                "set a valid one with `claude-sync token set`"
            )
        if status == 403:
            return BackendError(f"the sync server {self.url} refused access to {what}: {detail}")
        if status == 404 and code is None:
            return BackendError(
                f"{self.url} does not look like a claude-sync server (404 for {what}); check the server URL"
            )
        if status == 404:
            return SessionNotFound(f"{what}: {detail}")
        if status == 409:
            return BackendError(f"the sync server refused {what}: {detail}")
        if status == 413:
            return BackendError(f"{what} is larger than the sync server accepts: {detail}")
        return BackendError(f"the sync server {self.url} answered {status} to {what}: {detail}")

    # -- Backend -----------------------------------------------------------

    def refresh(self) -> None:
        entries: dict[str, RemoteEntry] = {}
        cursor: str | None = None
        cursors: set[str] = set()
        listed = 0
        while True:
            params: dict[str, str | int] = {"limit": PAGE_SIZE}
            if cursor:
                params["cursor"] = cursor
            resp = self._send("GET", wire.SESSIONS, params=params)
            if resp.status_code != 200:
                raise self._fail(resp, "the session list")
            try:
                page = wire.SessionList.model_validate_json(resp.content)
            except ValueError as e:
                # cut: pydantic names every one of a thousand bad entries
                raise BackendError(f"the sync server {self.url} sent an unreadable session list: {str(e)[:400]}") from e
            for entry in page.sessions:
                entries[entry.session_id] = entry
            self.remote_format = page.format
            listed += len(page.sessions)
            cursor = page.next_cursor
            if not cursor:
                break
            if cursor in cursors or not page.sessions:
                raise BackendError(f"the sync server {self.url} sent a session list that does not end (a page repeats)")
            if listed > MAX_LISTED_SESSIONS:
                raise BackendError(f"the sync server {self.url} lists more than {MAX_LISTED_SESSIONS} sessions; nothing was used")
            cursors.add(cursor)
        self._entries = entries

    def entries(self) -> list[RemoteEntry]:
        if self._entries is None:
            self.refresh()
        assert self._entries is not None
        return sorted(self._entries.values(), key=lambda e: e.session_id)

    def fetch(self, session_id: str, have: Bundle | None = None) -> Bundle:
        got = None
        if have is not None and self.takes_deltas:
            got = self._fetch_delta(session_id, have)
        if got is None:
            got = self._fetch_whole(session_id)
        self._manifests[content_digest(got)] = got.manifest
        return got

    def _fetch_delta(self, session_id: str, have: Bundle) -> Bundle | None:
        """What this device lacks of a session it holds `have` of, verified; None: download it whole."""
        what = f"session {session_id}"
        have_list = json.dumps({"have": [e.model_dump(mode="json") for e in have.manifest.files]}).encode()
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        resp = self._send(
            "POST",
            _route(wire.DELTA, session_id=session_id),
            content=gzip.compress(have_list, mtime=0),
            headers=headers,
            stream=True,
        )
        try:
            if resp.status_code != 200:
                resp = _capped(resp)
                if resp.status_code in (401, 403):
                    raise self._fail(resp, what)
                self._note_missing_route(resp)
                return None
            declared = resp.headers.get(wire.CONTENT_SHA256)
            try:
                # A delta is applied in memory: a large one (or a server that sends on and on) is
                # dropped for the whole bundle, which streams to disk.
                data = _capped(resp, min(self.max_bundle_bytes, DOWNLOAD_IN_MEMORY)).content
            except BackendError as e:
                log.info("what is new of %s: %s; downloading it whole", what, e)
                return None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
            log.info("the download of only what is new of %s was interrupted (%s); downloading it whole", what, e)
            return None
        finally:
            resp.close()
        try:
            got = delta.apply(data, have, session_id=session_id, max_bytes=self.max_bundle_bytes)
            if declared and content_digest(got) != declared:
                raise BundleError(f"the delta of {what} leads to another version than the server lists")
        except BundleError as e:
            log.warning("%s; downloading %s whole", e, what)
            return None
        return got

    def _fetch_whole(self, session_id: str) -> Bundle:
        what = f"session {session_id}"
        for attempt in range(self.attempts):
            resp = self._send("GET", _route(wire.SESSION, prefix=session_id), stream=True)
            try:
                if resp.status_code == 409:
                    resp = _capped(resp)
                    ambiguous = _body(resp, wire.AmbiguousBody)
                    raise AmbiguousSession(
                        f"{what}: {ambiguous.detail if ambiguous else 'ambiguous'}",
                        ambiguous.candidates if ambiguous else [],
                    )
                if resp.status_code != 200:
                    resp = _capped(resp)
                    raise self._fail(resp, what)
                expected = resp.headers.get(wire.BUNDLE_SHA256)
                if not expected:
                    raise BundleError(f"the sync server sent {what} without its checksum; nothing was written")
                try:
                    data = self._download(resp, what)
                except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
                    if attempt + 1 < self.attempts:
                        log.info("download of %s interrupted (%s); retrying", what, e)
                        continue
                    raise BackendError(f"the download of {what} from {self.url} kept failing: {e}") from e
            finally:
                resp.close()
            if isinstance(data, bytearray):  # a small download may still unpack to much: large files spill
                return Bundle.from_bytes(
                    bytes(data), expected, session_id=session_id, max_bytes=self.max_bundle_bytes, keep=self._sinks()
                )
            try:
                return Bundle.from_file(
                    data,
                    expected,
                    keep=self._sinks(),
                    session_id=session_id,
                    max_bytes=self.max_bundle_bytes,
                )
            finally:
                data.unlink(missing_ok=True)  # its files are in memory or spilled beside it
        raise AssertionError("unreachable")  # pragma: no cover

    def _sinks(self) -> Callable[[str], SpillSink]:
        """Where each file of a bundle read from its download goes: memory, or a spill file when large."""
        numbers = itertools.count()
        return lambda _name: SpillSink(self._spill, str(next(numbers)))

    def _download(self, resp: httpx.Response, what: str) -> bytearray | Path:
        """A bundle's bytes, in memory, or past DOWNLOAD_IN_MEMORY in a file of this fetch's spill
        folder: a pull's memory does not grow with what the server sends."""
        self._spill.next()
        data, size, f = bytearray(), 0, None
        try:
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > self.max_bundle_bytes:
                    raise BundleError(f"{what} is larger than the limit of {self.max_bundle_bytes} bytes; refused")
                if f is not None:
                    f.write(chunk)
                    continue
                data += chunk
                if size > DOWNLOAD_IN_MEMORY:
                    f = open(self._spill.current() / "bundle", "wb")
                    f.write(data)
                    data = bytearray()
        except BaseException:
            if f is not None:
                f.close()
                Path(f.name).unlink(missing_ok=True)
            raise
        if f is None:
            return data
        f.close()
        return Path(f.name)

    def push(self, items: list[PushItem]) -> dict[str, PushResult]:
        """Push each bundle; a refused base (or, unless forced, a server copy that is longer) is a CONFLICT.

        Failures of single bundles (too large, invalid) do not stop the others; they are
        raised together at the end.
        """
        version.check_writable(self.remote_format, f"the sync server {self.url}")
        results: dict[str, PushResult] = {}
        failures: dict[str, str] = {}
        for item in items:
            sid = item.bundle.session_id
            # A re-keyed session with unchanged content has nothing to append: it goes whole.
            appends = item.base and self.takes_deltas and item.base != content_digest(item.bundle)
            resp = self._push_append(item) if appends else None
            if resp is None:
                resp = self._push_whole(item)
            code, detail = _error_of(resp) if resp.status_code != 200 else (None, "")
            if resp.status_code == 200:
                try:
                    entry = wire.PushReply.model_validate_json(resp.content).entry
                except ValueError as e:
                    raise BackendError(f"the sync server {self.url} sent an unreadable answer to a push: {e}") from e
                self._remember(sid, entry)
                self._manifests[entry.content_sha256] = item.bundle.manifest
                results[sid] = PushResult.PUSHED
            elif resp.status_code == 409 and code in wire.REFUSED_PUSH:
                # The engine decides again against what the server holds now.
                conflict = _body(resp, wire.ConflictBody)
                self._remember(sid, conflict.current if conflict else None)
                log.info("push of %s refused (%s): %s", sid, code, detail)
                results[sid] = PushResult.CONFLICT
            elif resp.status_code == 409 and code == wire.ErrorCode.UPGRADE_REQUIRED:
                upgrade = _body(resp, wire.UpgradeBody)
                self.remote_format = upgrade.format if upgrade else version.FORMAT_VERSION + 1
                raise version.RemoteTooNew(f"the sync server {self.url}", self.remote_format)
            elif resp.status_code in (401, 403):
                raise self._fail(resp, f"the push of session {sid}")
            else:
                failures[sid] = str(self._fail(resp, f"session {sid}"))
        if failures:
            raise PartialPush(results, failures)
        return results

    def _push_whole(self, item: PushItem) -> httpx.Response:
        data = item.bundle.to_bytes()
        params: dict[str, str] = {}
        if item.base:
            params["base"] = item.base
        if item.force:
            params["force"] = "true"
        headers = {wire.BUNDLE_SHA256: hashlib.sha256(data).hexdigest(), "Content-Type": "application/gzip"}
        return self._send(
            "POST", wire.PUSH, content=data, params=params, headers=headers, timeout=self.push_timeout
        )

    def _push_append(self, item: PushItem) -> httpx.Response | None:
        """Send only what is new against the server's copy `item.base`; None: push the whole bundle."""
        assert item.base
        sid = item.bundle.session_id
        base = self._server_manifest(sid, item.base)
        if base is None:
            return None
        planned = delta.diff(base.files, item.bundle, logs_must_extend=True)
        if planned is None:
            log.info("session %s does not extend the server's copy: pushing it whole", sid)
            return None
        body = delta.encode(*planned)
        params = {"base": item.base, **({"force": "true"} if item.force else {})}
        headers = {wire.DELTA_SHA256: hashlib.sha256(body).hexdigest(), "Content-Type": "application/gzip"}
        resp = self._send(
            "POST",
            _route(wire.APPEND, session_id=sid),
            content=body,
            params=params,
            headers=headers,
            timeout=self.push_timeout,
        )
        if resp.status_code in (404, 405):
            self._note_missing_route(resp)
            return None
        if resp.status_code == 422 and _error_of(resp)[0] in (wire.ErrorCode.INVALID_DELTA, wire.ErrorCode.CHECKSUM_MISMATCH):
            log.warning("the server refused the append to session %s (%s); pushing it whole", sid, _error_of(resp)[1])
            return None
        return resp

    def _server_manifest(self, sid: str, digest: str) -> Manifest | None:
        """The manifest of the server's version `digest` of a session; None when unknown or gone."""
        if digest in self._manifests:
            return self._manifests[digest]
        resp = self._send("GET", _route(wire.MANIFEST, session_id=sid))
        if resp.status_code != 200:
            if resp.status_code in (401, 403):
                raise self._fail(resp, f"session {sid}")
            self._note_missing_route(resp)
            return None
        try:
            reply = wire.RemoteManifest.model_validate_json(resp.content)
            entry, manifest = reply.entry, reply.manifest
        except ValueError as e:
            log.warning("the sync server %s sent an unreadable manifest of %s: %s", self.url, sid, e)
            return None
        self._manifests[entry.content_sha256] = manifest
        return manifest if entry.content_sha256 == digest else None  # moved on: the server will say so

    def _note_missing_route(self, resp: httpx.Response) -> None:
        """An older server answers the delta routes as unknown: use whole bundles from now on."""
        if resp.status_code == 405 or (
            resp.status_code == 404 and _error_of(resp) in ((None, "Not Found"), (wire.ErrorCode.NOT_FOUND, "Not Found"))
        ):
            log.info("the sync server %s does not take deltas; sending whole bundles", self.url)
            self.takes_deltas = False

    def _remember(self, sid: str, entry: RemoteEntry | None) -> None:
        if self._entries is None:
            return
        if entry is None:
            self._entries.pop(sid, None)
        else:
            self._entries[sid] = entry

    def remove(self, bases: dict[str, str]) -> dict[str, PushResult]:
        results: dict[str, PushResult] = {}
        for sid, base in bases.items():
            path = wire.TOMBSTONE.format(session_id=sid)
            resp = self._send("DELETE", path, params={"base": base})
            if resp.status_code == 200:
                results[sid] = PushResult.PUSHED
            elif resp.status_code in (404, 409):
                results[sid] = PushResult.CONFLICT
            else:
                raise self._fail(resp, f"removing the tombstone of {sid}")
        return results

    def close(self) -> None:
        self._client.close()
        self._spill.clear()


def _capped(resp: httpx.Response, limit: int = MAX_REPLY_BYTES) -> httpx.Response:
    """`resp` read whole, refused past `limit` bytes as decoded (an endless reply, or a gzip bomb)."""
    body = bytearray()
    try:
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise BackendError(
                    f"the sync server's reply to {resp.request.method} {resp.request.url.path} is larger than "
                    f"{limit // 2**20} MB; nothing of it was used (a broken server or proxy?)"
                )
    finally:
        resp.close()
    # The body as read (decoded): a response that holds it, without the headers that described the wire.
    headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(resp.status_code, headers=headers, content=bytes(body), request=resp.request, extensions=resp.extensions)


_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


def _route(template: str, **params: str) -> str:
    return template.format(**{k: quote(v, safe="") for k, v in params.items()})


def _body(resp: httpx.Response, model: type[_Body]) -> _Body | None:
    """An error reply as its wire model, or None when it is not one."""
    try:
        return model.model_validate_json(resp.content)
    except ValueError:
        return None


def _error_of(resp: httpx.Response) -> tuple[str | None, str]:
    """The server's structured error (code, detail), or (None, a bit of the body)."""
    error = _body(resp, wire.ErrorBody)
    if error is not None:
        return error.error, error.detail
    text = resp.text.strip().replace("\n", " ")
    return None, (text[:200] or resp.reason_phrase or f"HTTP {resp.status_code}")
