"""Tombstones: what a remote holds in place of a deleted session.

A deleted session is not simply removed from the remote: a device that was offline during
the delete would push its copy straight back. Instead the session's object is replaced by a
tombstone (a bundle of kind "tombstone", under the session's own id) that says which version
was deleted, when and by which device. A device that meets it moves its own copy into its
backups; a device whose copy went on after the delete pushes it back over the tombstone
(resurrection, with a note). Tombstones expire (config `tombstone_days`) and `claude-sync
compact` removes expired ones from the remote.

With end-to-end encryption (encryption/envelope.py) a tombstone is sealed like every object,
so everything it says is authenticated: its session id (the session's own key, and the id in
every frame's associated data), its kind (in the sealed header), the deleted version and the
time of the delete (in its sealed file), and the version it is (the generation, against a
replay of an older delete). A tombstone in plain on an encrypted remote is the host's and is
refused (encryption/backend.py, `forged_tombstone`); without encryption a tombstone is as
trustworthy as the remote, and a device never loses data to a forged one (the copy goes into
the backups).

Standard library and pydantic only: the server imports this module.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ValidationError

from .errors import BundleError

TOMBSTONE_KIND = "tombstone"
# The one file a tombstone bundle carries (its own head, so no session may carry it).
TOMBSTONE_FILE = "tombstone/deleted.json"


class Tombstone(BaseModel):
    session_id: str
    deleted_version: str | None  # content digest of the version deleted (None: was not on the remote)
    deleted_at: str  # ISO 8601, UTC
    device: str

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1).encode("utf-8") + b"\n"

    def deleted_time(self) -> datetime:
        return datetime.fromisoformat(self.deleted_at.replace("Z", "+00:00"))

    def expired(self, days: int, now: datetime | None = None) -> bool:
        return (now or datetime.now(timezone.utc)) - self.deleted_time() > timedelta(days=days)


def parse(data: bytes | None, session_id: str) -> Tombstone:
    """A tombstone read from a remote (untrusted): well formed, and about this session."""
    try:
        t = Tombstone.model_validate(json.loads(data or b""))
        t.deleted_time()
    except (ValueError, ValidationError) as e:
        raise BundleError(f"the tombstone of {session_id} is unreadable: {e}") from e
    if t.session_id != session_id:
        raise BundleError(f"the tombstone stored for {session_id} names another session ({t.session_id})")
    return t


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
