"""The HTTP API between a device and the sync server: routes, headers, error codes and every model.

The server (claude_sync/server/app.py) answers with these models and the HTTP backend
(claude_sync/backends/http.py) parses its replies with the same ones, so the two cannot
drift apart. docs/server.md describes the API for people.

Every error body is `{"error": <code>, "detail": <message>}` (plus `candidates` for an
ambiguous prefix and `current` for a refused push).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from .bundle import MAX_MEMBERS, Manifest
from .layout import SESSION_ID_PATTERN as SESSION_ID_PATTERN  # route parameters use it
from .version import UNVERSIONED

# -- routes ----------------------------------------------------------------------

HEALTH = "/health"
SESSIONS = "/api/sessions"  # GET: the list, one page at a time
SESSION = "/api/sessions/{prefix}"  # GET: a bundle, by id or unique prefix
PUSH = "/api/sessions/push"  # POST: a whole bundle
MANIFEST = "/api/sessions/{session_id}/manifest"  # GET: the stored version's manifest
APPEND = "/api/sessions/{session_id}/append"  # POST: a delta against the stored version
DELTA = "/api/sessions/{session_id}/delta"  # POST: what a device lacks of the stored version
TOMBSTONE = "/api/sessions/{session_id}/tombstone"  # DELETE ?base=: remove an expired tombstone (compaction)
ACCOUNT = "/api/account"  # GET: the caller's account (its encryption flag, usage and limits)
HEALTHZ = "/healthz"  # liveness, for load balancers and orchestrators
READYZ = "/readyz"  # readiness: 503 while the store does not answer or the server is stopping
METRICS = "/metrics"  # Prometheus text format

# -- headers ---------------------------------------------------------------------

BUNDLE_SHA256 = "X-Bundle-SHA256"  # SHA-256 of a bundle body (push request, download reply)
DELTA_SHA256 = "X-Delta-SHA256"  # SHA-256 of a delta body (append request)
CONTENT_SHA256 = "X-Content-SHA256"  # content digest of the version a reply carries
SESSION_ID = "X-Session-Id"  # the full id of the session a reply carries
# The format version (format/version.py): on requests, what the device writes; on replies, what the server holds.
FORMAT = "X-Claude-Sync-Format"

# -- error codes -----------------------------------------------------------------


class ErrorCode(str, enum.Enum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    CONFLICT = "conflict"
    LENGTH_REQUIRED = "length_required"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_REQUEST = "invalid_request"
    INTERNAL = "internal"
    AMBIGUOUS = "ambiguous"  # a prefix names more than one session (409)
    STALE_BASE = "stale_base"  # the server's copy is not the push's base (409)
    WOULD_SHRINK = "would_shrink"  # the server's copy is a longer version of the pushed one (409)
    UPGRADE_REQUIRED = "upgrade_required"  # the server holds a newer format than the device writes (409)
    INVALID_BUNDLE = "invalid_bundle"  # 422
    INVALID_DELTA = "invalid_delta"  # 422
    CHECKSUM_MISMATCH = "checksum_mismatch"  # the body is not what its SHA-256 header says (422)
    DISCONNECTED = "disconnected"  # the client went away mid-request (400)
    STORAGE_ERROR = "storage_error"  # 500
    UNAVAILABLE = "unavailable"  # the server's database does not answer for now: retry (503, Retry-After)
    QUOTA_EXCEEDED = "quota_exceeded"  # the push would take the account past its quota (413)
    # The server admits only end-to-end-encrypted accounts and this one is not marked so (403).
    ENCRYPTION_REQUIRED = "encryption_required"


# The code of an error the framework raises, by HTTP status.
STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    409: ErrorCode.CONFLICT,
    411: ErrorCode.LENGTH_REQUIRED,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.INVALID_REQUEST,
    500: ErrorCode.INTERNAL,
}
REFUSED_PUSH = (ErrorCode.STALE_BASE.value, ErrorCode.WOULD_SHRINK.value)  # decide again, against `current`

SHA256_PATTERN = "^[0-9a-f]{64}$"
MAX_HAVE_BYTES = 32 * 1024**2  # a delta request lists at most MAX_MEMBERS files

# -- models ----------------------------------------------------------------------


TITLE_LIMIT = 1000  # characters of a title a listing keeps: a remote may send any number


def _kept_title(title: str) -> str:
    return title[:TITLE_LIMIT]


class RemoteEntry(BaseModel):
    """One session as the remote holds it (both backends list these)."""

    session_id: str
    project_key: str
    device: str
    last_modified: str | None = None
    title: Annotated[str, AfterValidator(_kept_title)] = ""
    message_count: int = 0
    size: int = 0  # bytes stored for this session
    content_sha256: str  # identity of the version (see bundle.content_digest)
    sha256: str | None = None  # of the whole bundle, where the backend stores bundles


class StoredSession(RemoteEntry):
    """A session as the server lists it: a RemoteEntry plus server bookkeeping."""

    updated_at: str  # when the server stored this version (ISO 8601, UTC)


class StoreStatus(str, enum.Enum):
    STORED = "stored"
    UNCHANGED = "unchanged"  # identical content was already there: nothing written


class ErrorBody(BaseModel):
    error: str
    detail: str


class AmbiguousBody(ErrorBody):
    candidates: list[str]


class ConflictBody(ErrorBody):
    current: StoredSession | None = None


class UpgradeBody(ErrorBody):
    format: int  # the format version the server holds


class Health(BaseModel):
    status: str
    version: str
    max_bundle_bytes: int
    format: int = UNVERSIONED  # the format version the server holds (format/version.py); absent from older servers


class Readiness(BaseModel):
    status: str  # "ready", or why not: "draining", "storage_unavailable"
    detail: str = ""


class Account(BaseModel):
    """The caller's account as the server knows it.

    `encrypted` is the account's end-to-end-encryption flag (issue #16): set by the server's
    administrator (`claude-sync server set USER --encrypted`); a server started with
    `--require-encryption` admits only such accounts to the session routes.
    """

    user: str
    encrypted: bool
    encryption_required: bool  # this server admits only encrypted accounts
    sessions: int
    bytes: int  # of the stored bundles: what the quota counts
    quota_bytes: int | None = None
    retention_days: int | None = None


class SessionList(BaseModel):
    sessions: list[StoredSession]
    next_cursor: str | None = None
    format: int = UNVERSIONED  # the format version the server holds; absent from older servers


class PushReply(BaseModel):
    """A push or an append that went through."""

    result: StoreStatus
    entry: StoredSession


class RemoteManifest(BaseModel):
    entry: StoredSession
    manifest: Manifest


class HaveFile(BaseModel):
    """A file the device already has (tokenized, as in bundles)."""

    path: str = Field(min_length=1, max_length=4096)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_PATTERN)
    text: bool = True


class DeltaRequest(BaseModel):
    have: list[HaveFile] = Field(max_length=MAX_MEMBERS)


# The request body of DELTA as OpenAPI shows it (the route reads the body itself, gzip'd or not).
DELTA_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["have"],
    "properties": {
        "have": {
            "type": "array",
            "maxItems": MAX_MEMBERS,
            "items": {
                "type": "object",
                "required": ["path", "size", "sha256"],
                "properties": {
                    "path": {"type": "string", "minLength": 1, "maxLength": 4096},
                    "size": {"type": "integer", "minimum": 0},
                    "sha256": {"type": "string", "pattern": SHA256_PATTERN},
                    "text": {"type": "boolean", "default": True},
                },
            },
        }
    },
}
