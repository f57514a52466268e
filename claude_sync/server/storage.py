"""What the sync server stores, behind one interface (the embedded default is SQLite + a blob folder).

A session version is identified by its content digest (format.bundle.content_digest over
the manifest's files); the bundle's own SHA-256 names the stored blob and checks
transport. Every session belongs to one user and is invisible to every other.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from ..format.bundle import FileEntry, Manifest
from ..format.errors import SyncError
from ..format.wire import ErrorCode, PushReply, StoredSession

USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class StorageError(SyncError):
    code = "storage_error"


class StorageUnavailable(StorageError):
    """The store does not answer for now (a database restarting or failing over): try again."""

    code = "unavailable"


class BundleTooLarge(SyncError):
    """The bundle a push would store is larger than the server accepts."""

    code = "too_large"


class QuotaExceeded(SyncError):
    """Storing the push would take the user past their quota."""

    code = "quota_exceeded"


class PushRefused(Exception):
    """The push was not stored; `current` is what the server holds."""

    code = "refused"  # each subclass: an ErrorCode

    def __init__(self, detail: str, current: StoredSession | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.current = current


class StaleBase(PushRefused):
    code = ErrorCode.STALE_BASE.value


class WouldShrink(PushRefused):
    code = ErrorCode.WOULD_SHRINK.value


@dataclass
class UserInfo:
    name: str
    created: str
    tokens: int
    sessions: int
    bytes: int = 0  # the stored bundles' sizes, summed: what the quota counts
    encrypted: bool = False  # the account holds only end-to-end-encrypted sessions (issue #16)
    quota_bytes: int | None = None
    retention_days: int | None = None


@dataclass
class TokenInfo:
    """One device's token: named by the administrator, listed and revoked by that name."""

    name: str
    created: str


@dataclass
class StorageStats:
    users: int
    sessions: int
    bytes: int


class Unset(enum.Enum):
    """Means "leave this setting as it is", which None ("no limit") cannot say."""

    UNSET = "unset"


UNSET = Unset.UNSET
DATABASE_ENV = "CLAUDE_SYNC_DATABASE_URL"  # the store, when no --database or --data is given


@dataclass
class Page:
    sessions: list[StoredSession]
    next_cursor: str | None


class Upload(abc.ABC):
    """A bundle being received: written to a private temp file, then committed or discarded."""

    path: Path
    size: int
    discarded: bool = False  # its temp file is gone

    @property
    @abc.abstractmethod
    def sha256(self) -> str:
        """SHA-256 of the bytes written so far."""

    @abc.abstractmethod
    def write(self, chunk: bytes) -> None: ...

    @abc.abstractmethod
    def finish(self) -> None:
        """Flush, and fsync when the store keeps the file: the bytes are on disk before anything refers to them."""

    @abc.abstractmethod
    def discard(self) -> None:
        """Remove the temp file (idempotent)."""


class Storage(abc.ABC):
    # The format version of what this storage holds (format/version.py); recorded when it is created.
    format_version: int

    # -- users and tokens --------------------------------------------------

    @abc.abstractmethod
    def add_user(self, name: str, *, token_name: str | None = None) -> str:
        """Create the user if needed and return a new token for it (shown once, stored hashed).

        `token_name` names the token (a device, say) so that it can be listed and revoked
        alone; default `token-N`. A name the user's tokens already use is refused.
        """

    @abc.abstractmethod
    def revoke(self, name: str, token_name: str | None = None) -> int:
        """Remove every token of a user, or only the one named (their sessions stay); how many were removed."""

    @abc.abstractmethod
    def tokens(self, name: str) -> list[TokenInfo]: ...

    @abc.abstractmethod
    def delete_user(self, name: str) -> int:
        """Remove a user, their tokens and every session of theirs; returns how many sessions went."""

    @abc.abstractmethod
    def set_account(
        self,
        name: str,
        *,
        quota_bytes: int | None | Unset = UNSET,
        retention_days: int | None | Unset = UNSET,
        encrypted: bool | Unset = UNSET,
    ) -> UserInfo:
        """Change a user's quota (bytes of stored bundles), retention (days since a session was last
        stored) or end-to-end-encryption flag; None lifts a limit."""

    @abc.abstractmethod
    def users(self) -> list[UserInfo]: ...

    @abc.abstractmethod
    def user(self, name: str) -> UserInfo | None: ...

    @abc.abstractmethod
    def is_encrypted(self, name: str) -> bool | None:
        """The account's end-to-end-encryption flag (None: no such user); one row, asked on every request."""

    @abc.abstractmethod
    def apply_retention(self, now: datetime | None = None) -> int:
        """Delete the sessions that outlived their user's retention; returns how many went."""

    @abc.abstractmethod
    def stats(self) -> StorageStats: ...

    def ping(self) -> None:
        """Raise unless the storage answers (readiness)."""
        self.stats()

    @abc.abstractmethod
    def user_for_token(self, token: str) -> str | None:
        """The user a token belongs to, or None."""

    # -- sessions ----------------------------------------------------------

    @abc.abstractmethod
    def list_sessions(
        self,
        user: str,
        *,
        project: str | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 500,
    ) -> Page: ...

    @abc.abstractmethod
    def find(self, user: str, prefix: str) -> list[StoredSession]:
        """The user's sessions whose id starts with `prefix` (lower case)."""

    @abc.abstractmethod
    def open_blob(self, entry: StoredSession) -> BinaryIO:
        """The stored bundle, opened for reading (stays readable if replaced meanwhile)."""

    @abc.abstractmethod
    def new_upload(self) -> Upload: ...

    @abc.abstractmethod
    def commit_push(
        self, user: str, upload: Upload, bundle_sha256: str, *, base: str | None, force: bool
    ) -> PushReply:
        """Verify an uploaded bundle and store it atomically (compare-and-swap on `base`).

        Identical content is a no-op whatever the base. Raises BundleError (invalid
        bundle), StaleBase (the server's copy is not `base`) or WouldShrink (the
        server's copy is a longer version of this one; `force` accepts that). The
        upload is consumed either way.
        """

    @abc.abstractmethod
    def manifest(self, user: str, session_id: str) -> tuple[StoredSession, Manifest] | None:
        """A session (full id) and the manifest of its stored bundle, or None."""

    @abc.abstractmethod
    def commit_append(
        self, user: str, session_id: str, upload: Upload, *, base: str, force: bool, max_bundle_bytes: int
    ) -> PushReply:
        """Apply an uploaded delta (claude_sync/format/delta.py) to the stored copy `base` and store the result.

        The same contract as `commit_push`: compare-and-swap on `base`, identical content
        a no-op, and the same refusals; BundleError also when the delta does not lead to
        what it declares, BundleTooLarge when the result exceeds `max_bundle_bytes`.
        Nothing changes unless the whole result verified. The upload is consumed either way.
        """

    @abc.abstractmethod
    def download_delta(
        self, user: str, session_id: str, have: list[FileEntry]
    ) -> tuple[StoredSession, Iterator[bytes]] | None:
        """What a device holding the files `have` lacks of a session, as the chunks of a delta; None: no session."""

    @abc.abstractmethod
    def remove(self, user: str, session_id: str, content_sha256: str) -> bool:
        """Remove a session's row if it still holds the version `content_sha256` (and its blob when
        unused); False when it holds another version or none."""

    def sessions(self, user: str) -> Iterator[StoredSession]:
        cursor = None
        while True:
            page = self.list_sessions(user, cursor=cursor)
            yield from page.sessions
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def close(self) -> None:
        pass
