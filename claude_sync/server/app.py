"""The HTTP API of the sync server (FastAPI). Handlers translate HTTP to storage calls and back.

Routes, headers, error codes and models are those of claude_sync/format/wire.py, which the
HTTP backend shares. Every error body is an ErrorBody, whatever raised it.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, BinaryIO

import anyio
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..format import version, wire
from ..format.bundle import FileEntry
from ..format.errors import BundleError, SyncError
from ..format.layout import is_session_prefix
from ..format.tombstone import TOMBSTONE_KIND
from ..format.wire import (
    DELTA_REQUEST_SCHEMA,
    MAX_HAVE_BYTES,
    SESSION_ID_PATTERN,
    SHA256_PATTERN,
    Account,
    AmbiguousBody,
    ConflictBody,
    DeltaRequest,
    ErrorBody,
    ErrorCode,
    Health,
    PushReply,
    Readiness,
    RemoteManifest,
    SessionList,
)
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics, MetricsMiddleware
from .storage import (
    BundleTooLarge,
    PushRefused,
    QuotaExceeded,
    Storage,
    StorageError,
    StorageUnavailable,
    Upload,
)

log = logging.getLogger("claude_sync.server")

DEFAULT_MAX_BUNDLE_BYTES = 1024**3
_CHUNK = 1024 * 1024
_INVALID = {"bundle": ErrorCode.INVALID_BUNDLE, "delta": ErrorCode.INVALID_DELTA}


class ApiError(Exception):
    def __init__(
        self, status: int, error: ErrorCode | str, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers, self.extra = status, error, detail, headers, extra


def _error(
    status: int, error: ErrorCode | str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    code = error.value if isinstance(error, ErrorCode) else error
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked token"},
    422: {"model": ErrorBody, "description": "Invalid request"},
}


_bearer = HTTPBearer(auto_error=False, description="A token from `claude-sync server add-user NAME`")


def token_owner(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The user whose token the request carries (401 otherwise); looked up on every request, so a
    revocation through any replica holds at once."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if creds is None or not creds.credentials:
        raise ApiError(401, ErrorCode.UNAUTHORIZED, "missing bearer token (Authorization: Bearer <token>)", challenge)
    storage: Storage = request.app.state.storage
    user = storage.user_for_token(creds.credentials)
    if user is None:
        raise ApiError(401, ErrorCode.UNAUTHORIZED, "unknown or revoked token", challenge)
    return user


async def current_user(request: Request, user: Annotated[str, Depends(token_owner)]) -> str:
    """The token's user, admitted to sessions: on a server that requires end-to-end encryption
    (`serve --require-encryption`), only an account flagged encrypted is (403 encryption_required).

    Async: without that setting it has nothing to wait for, and a sync dependency costs a hand-off
    to a worker thread and back on every request."""
    if request.app.state.require_encryption:
        if not await run_in_threadpool(request.app.state.storage.is_encrypted, user):
            raise ApiError(
                403,
                ErrorCode.ENCRYPTION_REQUIRED,
                "this server stores only end-to-end-encrypted sessions, and this account is not marked encrypted; "
                "ask its administrator (`claude-sync server set USER --encrypted`)",
            )
    return user


User = Annotated[str, Depends(current_user)]
TokenOwner = Annotated[str, Depends(token_owner)]


def create_app(
    storage: Storage, *, max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES, require_encryption: bool = False
) -> FastAPI:
    app = FastAPI(
        title="claude-sync server",
        version=__version__,
        summary="Stores Claude Code session bundles for claude-sync clients.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.storage = storage
    app.state.require_encryption = require_encryption
    app.state.draining = False  # set when a shutdown begins: readiness fails, uploads in flight finish
    metrics = app.state.metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Verifying a bundle is CPU work (inflate and hash every byte): run as many at once as
    # there are cores, first come first served, rather than all of them at a crawl.
    commits = anyio.Semaphore(os.cpu_count() or 2)

    # -- errors ------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = wire.STATUS_CODES.get(exc.status_code, "error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return _error(422, ErrorCode.INVALID_REQUEST, "; ".join(parts) or "invalid request")

    @app.exception_handler(StorageUnavailable)
    async def _unavailable(_request: Request, exc: StorageUnavailable) -> JSONResponse:
        # 503: clients retry it with backoff, and a balancer's /readyz check takes the replica out meanwhile
        log.warning("%s", exc)
        return _error(503, ErrorCode.UNAVAILABLE, f"{exc}; try again shortly", {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error: %s", type(exc).__name__)
        return _error(500, ErrorCode.INTERNAL, "internal server error")

    # -- routes ------------------------------------------------------------

    @app.get(wire.HEALTH, response_model=Health, tags=["server"])
    def health() -> Health:
        """Liveness and version; needs no token."""
        return Health(
            status="ok", version=__version__, max_bundle_bytes=max_bundle_bytes, format=storage.format_version
        )

    @app.get(wire.HEALTHZ, response_model=Health, tags=["server"])
    def healthz() -> Health:
        """Liveness for a load balancer or orchestrator: the process answers (the database is not asked)."""
        return health()

    @app.get(
        wire.READYZ,
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: the storage does not answer, or shutting down"}},
        tags=["server"],
    )
    async def readyz() -> JSONResponse:
        """Readiness: 200 while this replica can serve, 503 when its database does not answer or it is stopping."""
        if app.state.draining:
            return JSONResponse(Readiness(status="draining").model_dump(), status_code=503)
        try:
            await run_in_threadpool(storage.ping)
        except Exception as e:  # whatever the driver raises, the answer is the same: not ready
            log.warning("not ready: %s", e)
            body = Readiness(status="storage_unavailable", detail=str(e))
            return JSONResponse(body.model_dump(), status_code=503)
        return JSONResponse(Readiness(status="ready").model_dump())

    @app.get(wire.METRICS, response_class=PlainTextResponse, tags=["server"])
    async def prometheus_metrics() -> Response:
        """Prometheus text format: requests, latency, bytes of this replica; users, sessions, bytes stored."""
        stats = await run_in_threadpool(metrics.storage_stats, storage.stats)
        return Response(metrics.render(stats), media_type=METRICS_CONTENT_TYPE)

    @app.get(wire.ACCOUNT, response_model=Account, responses=_ERRORS, tags=["account"])
    def account(user: TokenOwner) -> Account:
        """The caller's account: its end-to-end-encryption flag, what it stores, and its limits."""
        info = storage.user(user)
        if info is None:  # deleted since the token was checked
            raise ApiError(401, ErrorCode.UNAUTHORIZED, "unknown or revoked token", {"WWW-Authenticate": "Bearer"})
        return Account(
            user=info.name,
            encrypted=info.encrypted,
            encryption_required=require_encryption,
            sessions=info.sessions,
            bytes=info.bytes,
            quota_bytes=info.quota_bytes,
            retention_days=info.retention_days,
        )

    @app.get(wire.SESSIONS, response_model=SessionList, responses=_ERRORS, tags=["sessions"])
    def list_sessions(
        user: User,
        project: Annotated[
            str | None, Query(max_length=1000, description="a project key; includes its subprojects")
        ] = None,
        since: Annotated[datetime | None, Query(description="only sessions stored after this time (ISO 8601)")] = None,
        cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> SessionList:
        """The user's sessions, ordered by session id, one page at a time."""
        try:
            page = storage.list_sessions(user, project=project, since=since, cursor=cursor, limit=limit)
        except OverflowError as e:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, f"since: {e}") from e
        return SessionList(sessions=page.sessions, next_cursor=page.next_cursor, format=storage.format_version)

    @app.get(
        wire.SESSION,
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The bundle (tar.gz); X-Bundle-SHA256 carries its SHA-256",
                "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
            },
            404: {"model": ErrorBody, "description": "No session of this user starts with the prefix"},
            409: {"model": AmbiguousBody, "description": "More than one session starts with the prefix"},
            **_ERRORS,
        },
        tags=["sessions"],
    )
    def download(user: User, prefix: str) -> StreamingResponse:
        """Download the bundle of the session whose id starts with `prefix`."""
        wanted = prefix.lower()
        hits = storage.find(user, wanted) if is_session_prefix(wanted) else []
        exact = [h for h in hits if h.session_id == wanted]
        if exact:
            hits = exact
        if not hits:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no session starts with {prefix!r}")
        if len(hits) > 1:
            ids = [h.session_id for h in hits[:50]]
            raise ApiError(409, ErrorCode.AMBIGUOUS, f"{len(hits)} sessions start with {prefix!r}", candidates=ids)
        entry = hits[0]
        try:
            f = storage.open_blob(entry)
        except StorageUnavailable:
            raise
        except StorageError as e:
            log.error("%s", e)
            raise ApiError(500, ErrorCode.STORAGE_ERROR, str(e)) from e
        headers = {
            wire.BUNDLE_SHA256: entry.sha256 or "",
            wire.CONTENT_SHA256: entry.content_sha256,
            wire.SESSION_ID: entry.session_id,
            "Content-Length": str(entry.size),
        }
        if entry.size <= _CHUNK:  # one chunk: sent from here, not streamed through a thread per chunk
            with f:
                return Response(f.read(), media_type="application/gzip", headers=headers)
        return StreamingResponse(_chunks(f), media_type="application/gzip", headers=headers)

    @app.post(
        wire.PUSH,
        response_model=PushReply,
        responses={
            409: {
                "model": ConflictBody,
                "description": "The server's copy is not `base` (stale_base) or is a longer version of this one "
                "(would_shrink); or the server holds a newer format than the device writes (upgrade_required)",
            },
            413: {"model": ErrorBody, "description": "The bundle is larger than the server accepts"},
            **_ERRORS,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The bundle: a tar.gz as `claude-sync` writes it",
                "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        tags=["sessions"],
    )
    async def push(
        request: Request,
        user: User,
        x_bundle_sha256: Annotated[
            str, Header(alias=wire.BUNDLE_SHA256, pattern=SHA256_PATTERN, description="SHA-256 of the request body")
        ],
        base: Annotated[
            str | None,
            Query(pattern=SHA256_PATTERN, description="content digest of the copy the client saw; absent: it saw none"),
        ] = None,
        force: Annotated[
            bool, Query(description="store it even when the server's copy is a longer version of it")
        ] = False,
    ) -> PushReply:
        """Upload one bundle; stored only if the server's copy is still `base`."""
        check_writable(request)
        upload = await receive(request, "bundle", x_bundle_sha256)
        try:
            return await store(
                "bundle", storage.commit_push, user, upload, x_bundle_sha256, base=base, force=force
            )
        finally:
            await discard(upload)

    @app.get(
        wire.MANIFEST,
        response_model=RemoteManifest,
        responses={404: {"model": ErrorBody, "description": "The user has no session with this id"}, **_ERRORS},
        tags=["delta"],
    )
    def manifest(
        request: Request,
        user: User,
        session_id: Annotated[str, PathParam(pattern=SESSION_ID_PATTERN, description="a full session id")],
    ) -> Response:
        """The stored version's entry and manifest: what a client needs to send only what is new."""
        found = storage.manifest(user, session_id)
        if found is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no session {session_id}")
        body = RemoteManifest(entry=found[0], manifest=found[1]).model_dump_json().encode("utf-8")
        if _takes_gzip(request) and len(body) > 1024:  # 100 file-history entries: 16 KB, a third of it gzip'd
            return Response(
                gzip.compress(body, mtime=0),
                media_type="application/json",
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        return Response(body, media_type="application/json", headers={"Vary": "Accept-Encoding"})

    @app.delete(wire.TOMBSTONE, responses=_ERRORS, tags=["sessions"])
    def remove_tombstone(
        request: Request,
        user: User,
        session_id: Annotated[str, PathParam(pattern=SESSION_ID_PATTERN, description="a full session id")],
        base: Annotated[str, Query(pattern=SHA256_PATTERN, description="content digest of the tombstone the client saw")],
    ) -> dict[str, str]:
        """Remove an expired tombstone (`claude-sync compact`): only a tombstone, and only the version seen."""
        check_writable(request)
        found = storage.manifest(user, session_id)
        if found is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no session {session_id}")
        if found[1].kind != TOMBSTONE_KIND:
            raise ApiError(409, ErrorCode.CONFLICT, f"{session_id} is not a tombstone; only tombstones are removed")
        if found[0].content_sha256 != base or not storage.remove(user, session_id, base):
            raise ApiError(409, ErrorCode.STALE_BASE, f"{session_id} changed on the server since it was listed")
        return {"removed": session_id}

    @app.post(
        wire.APPEND,
        response_model=PushReply,
        responses={
            409: {
                "model": ConflictBody,
                "description": "The server's copy is not `base` (stale_base) or is a longer version of the result "
                "(would_shrink); or the server holds a newer format than the device writes (upgrade_required)",
            },
            413: {"model": ErrorBody, "description": "The delta or the bundle it leads to is larger than the server accepts"},
            **_ERRORS,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "A delta against the stored copy `base` (see docs/server.md)",
                "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        tags=["delta"],
    )
    async def append(
        request: Request,
        user: User,
        session_id: Annotated[str, PathParam(pattern=SESSION_ID_PATTERN, description="a full session id")],
        x_delta_sha256: Annotated[
            str, Header(alias=wire.DELTA_SHA256, pattern=SHA256_PATTERN, description="SHA-256 of the request body")
        ],
        base: Annotated[str, Query(pattern=SHA256_PATTERN, description="content digest of the copy the delta applies to")],
        force: Annotated[
            bool, Query(description="store it even when the server's copy is a longer version of the result")
        ] = False,
    ) -> PushReply:
        """Upload only what is new: the stored copy `base` plus this delta is stored as the new version."""
        check_writable(request)
        upload = await receive(request, "delta", x_delta_sha256)
        try:
            outcome = await store(
                "delta",
                storage.commit_append,
                user,
                session_id,
                upload,
                base=base,
                force=force,
                max_bundle_bytes=max_bundle_bytes,
            )
        finally:
            await discard(upload)
        return outcome

    @app.post(
        wire.DELTA,
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "A delta from the listed files to the stored version (see docs/server.md)",
                "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
            },
            404: {"model": ErrorBody, "description": "The user has no session with this id"},
            413: {"model": ErrorBody, "description": "The request is too large"},
            **_ERRORS,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The files the device already has (tokenized, as in bundles); "
                "may be gzip'd with `Content-Encoding: gzip`",
                "content": {"application/json": {"schema": DELTA_REQUEST_SCHEMA}},
            }
        },
        tags=["delta"],
    )
    async def delta(
        request: Request,
        user: User,
        session_id: Annotated[str, PathParam(pattern=SESSION_ID_PATTERN, description="a full session id")],
    ) -> StreamingResponse:
        """Download only what the device lacks of a session it holds an older copy of."""
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_HAVE_BYTES:
                    raise ApiError(413, ErrorCode.TOO_LARGE, f"the request is larger than {MAX_HAVE_BYTES} bytes")
        except ClientDisconnect as e:
            raise ApiError(400, ErrorCode.DISCONNECTED, "the client went away mid-request") from e
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding == "gzip":
            body = bytearray(_gunzip(bytes(body), MAX_HAVE_BYTES))
        elif encoding != "identity":
            raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"unsupported Content-Encoding {encoding!r} (gzip or none)")
        try:
            wanted = DeltaRequest.model_validate_json(bytes(body))
        except (ValueError, ValidationError) as e:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, f"body: {e}") from e
        have = [FileEntry(**h.model_dump()) for h in wanted.have]
        try:
            found = await run_in_threadpool(storage.download_delta, user, session_id, have)
        except StorageUnavailable:
            raise
        except (StorageError, OSError) as e:
            log.error("cannot read session %s of %s: %s", session_id, user, e)
            raise ApiError(500, ErrorCode.STORAGE_ERROR, f"the server could not read session {session_id}") from e
        if found is None:
            raise ApiError(404, ErrorCode.NOT_FOUND, f"no session {session_id}")
        entry, chunks = found
        headers = {wire.CONTENT_SHA256: entry.content_sha256, wire.SESSION_ID: entry.session_id}
        return StreamingResponse(chunks, media_type="application/gzip", headers=headers)

    def check_writable(request: Request) -> None:
        """Refuse a write in a format older than the one stored here (the remote's version is never lowered)."""
        held = storage.format_version
        if held > version.FORMAT_VERSION:
            detail = f"this server holds format {held}, newer than it writes ({version.FORMAT_VERSION}): upgrade the server"
            raise ApiError(409, ErrorCode.UPGRADE_REQUIRED, detail, format=held)
        declared = request.headers.get(wire.FORMAT)
        try:
            device = version.UNVERSIONED if declared is None else version.parse(declared, wire.FORMAT)
        except SyncError as e:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, str(e)) from e
        if device < held:
            detail = f"this server holds format {held}, newer than this device writes ({device}): upgrade claude-sync"
            raise ApiError(409, ErrorCode.UPGRADE_REQUIRED, detail, format=held)

    async def receive(request: Request, what: str, declared_sha256: str) -> Upload:
        """Stream a request body to a temp file, within the size limit, and check its checksum."""
        declared = request.headers.get("content-length")
        too_large = f"the {what} is larger than this server accepts ({max_bundle_bytes} bytes)"
        if declared is not None and declared.isdigit() and int(declared) > max_bundle_bytes:
            raise ApiError(413, ErrorCode.TOO_LARGE, too_large)
        # On the loop, as the body's chunks are written below: creating a local temp file does not
        # wait on anything a hand-off to a thread and back would be worth.
        upload: Upload = storage.new_upload()
        try:
            try:
                async for chunk in request.stream():
                    if upload.size + len(chunk) > max_bundle_bytes:
                        raise ApiError(413, ErrorCode.TOO_LARGE, too_large)
                    upload.write(chunk)
            except ClientDisconnect as e:
                raise ApiError(400, ErrorCode.DISCONNECTED, "the client went away mid-upload") from e
            if upload.size == 0:
                raise ApiError(422, _INVALID[what], f"empty request body: send the {what}")
            if upload.sha256 != declared_sha256:
                raise ApiError(
                    422,
                    ErrorCode.CHECKSUM_MISMATCH,
                    f"the body's SHA-256 is {upload.sha256}, not {declared_sha256}: it was corrupted or truncated in transit",
                )
        except BaseException:
            await run_in_threadpool(upload.discard)
            raise
        return upload

    async def discard(upload: Upload) -> None:
        """Remove the upload's temp file unless the commit did (it does, whatever it decides)."""
        if not upload.discarded:
            await run_in_threadpool(upload.discard)

    async def store(what: str, commit: Any, user: str, *args: Any, **kw: Any) -> PushReply:
        """Run a storage commit and turn its refusals into answers."""
        try:
            async with commits:
                reply: PushReply = await run_in_threadpool(commit, user, *args, **kw)
        except BundleError as e:
            raise ApiError(422, _INVALID[what], str(e)) from e
        except BundleTooLarge as e:
            raise ApiError(413, ErrorCode.TOO_LARGE, str(e)) from e
        except QuotaExceeded as e:
            raise ApiError(413, ErrorCode.QUOTA_EXCEEDED, str(e)) from e
        except PushRefused as e:
            current = e.current.model_dump(mode="json") if e.current else None
            raise ApiError(409, e.code, e.detail, current=current) from e
        except StorageUnavailable:
            raise
        except (StorageError, OSError) as e:
            log.error("cannot store a %s for %s: %s", what, user, e)
            raise ApiError(500, ErrorCode.STORAGE_ERROR, f"the server could not store the {what}") from e
        log.info(
            "%s %s %s by %s: %s (%d bytes)",
            "push" if what == "bundle" else "append",
            user,
            reply.entry.session_id,
            reply.entry.device,
            reply.result.value,
            reply.entry.size,
        )
        return reply

    return app


def _takes_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            return True
    return False


def _gunzip(data: bytes, limit: int) -> bytes:
    """A gzip'd request body, refused past `limit` bytes unpacked."""
    d = zlib.decompressobj(31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"body: not valid gzip: {e}") from e
    if len(out) > limit or d.unconsumed_tail:
        raise ApiError(413, ErrorCode.TOO_LARGE, f"the request is larger than {limit} bytes unpacked")
    if not d.eof:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, "body: the gzip stream is truncated")
    return out


def _chunks(f: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := f.read(_CHUNK):
            yield chunk
    finally:
        f.close()
