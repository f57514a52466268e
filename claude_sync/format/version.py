"""The format version of what a remote holds, and the migrations between versions.

Devices update at different times, and later changes (repository identity, encryption,
deletion) change what a remote holds. So every remote records the version of its format
(the Git repository in a file at its root, the server in its index), and every device
follows three rules:

* it reads what it can of a remote of any version (a bundle it cannot read says so);
* it writes only to a remote whose version it knows (`check_writable`), and otherwise
  refuses with "upgrade claude-sync";
* it never lowers the recorded version: a remote of an older version is brought up
  to this one by the migrations (`migrations_from`), in order, before the first write.

A remote that records no version was written before versions existed: version 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import SyncError

FORMAT_VERSION = 6  # what this claude-sync reads and writes
UNVERSIONED = 1  # what a remote that records no version holds


class RemoteTooNew(SyncError):
    """The remote was written by a newer claude-sync: reading goes on, writing is refused."""

    code = "upgrade_required"

    def __init__(self, where: str, recorded: int) -> None:
        super().__init__(
            f"{where} holds format {recorded}, newer than this claude-sync writes ({FORMAT_VERSION}): "
            "upgrade claude-sync to push to it (pulling still works)"
        )
        self.recorded = recorded


@dataclass(frozen=True)
class Migration:
    """One step from version `to - 1` to `to`; each backend carries it out on its storage."""

    to: int
    why: str


# Each step is applied by a backend through its own `migrate(step)`.
MIGRATIONS: tuple[Migration, ...] = (
    # End-to-end encryption (docs/encryption.md): sealed sessions and a key record may be stored. Nothing
    # stored before changes; the step only stops devices that cannot tell a sealed session from writing.
    Migration(2, "end-to-end encryption"),
    # A deleted session leaves a tombstone object (format/tombstone.py) that older devices cannot read;
    # nothing stored changes, but they must stop writing (they would push deleted sessions back).
    Migration(3, "tombstones of deleted sessions"),
    # Project keys may name a repository (`git:<identity>[//<sub>]`, issue #17), which an older
    # device would refuse or misplace. Nothing stored changes: sessions under older keys stay
    # valid and are re-keyed on their next push; the step only stops older devices writing.
    Migration(4, "project keys that name a repository"),
    # A session in a subfolder of a checkout carries ${REPO_ROOT} and ${REPO_FOLDER} (the top of
    # the checkout and the client's folder for the repository, format/tokens.py) in a bundle of
    # bundle format 2, which older devices refuse to read; they must stop writing too, or their
    # pushes would carry A's repository paths. Nothing stored changes.
    Migration(5, "path tokens for the checkout a session is in"),
    # The Git backend stores a session's files gzip'd (backends/git.py, format/gzblob.py), which older
    # devices would refuse as damaged; sessions stored plain stay as they are and are read as before,
    # and the server stores bundles as it did. Nothing stored changes; older devices must stop writing.
    Migration(6, "Git: session files stored gzip'd"),
)
ENCRYPTION = 2  # the first format that may hold sealed sessions
TOMBSTONES = 3  # the first format that may hold tombstones
REPOSITORY_KEYS = 4  # the first format whose project keys may name a repository
REPOSITORY_TOKENS = 5  # the first format whose bundles may name the checkout's top and folder
GZIP_BLOBS = 6  # the first format whose Git repository may hold gzip'd files


def migrate_nothing_stored(step: Migration) -> None:
    """The migrations that change nothing already stored: recording the new version is the whole step."""
    if step.to not in (ENCRYPTION, TOMBSTONES, REPOSITORY_KEYS, REPOSITORY_TOKENS, GZIP_BLOBS):  # pragma: no cover - a step that transforms data needs its own code
        raise SyncError(f"no way to bring a remote to format {step.to} ({step.why})")


def recorded_or_default(recorded: int | None) -> int:
    return UNVERSIONED if recorded is None else recorded


def check_writable(recorded: int | None, where: str) -> None:
    """Refuse to write to a remote whose format is newer than this claude-sync's."""
    version = recorded_or_default(recorded)
    if version > FORMAT_VERSION:
        raise RemoteTooNew(where, version)


def migrations_from(recorded: int | None) -> list[Migration]:
    """The steps that bring a remote of version `recorded` up to FORMAT_VERSION, in order."""
    version = recorded_or_default(recorded)
    return [m for m in MIGRATIONS if version < m.to <= FORMAT_VERSION]


def upgrade(recorded: int | None, where: str, migrate: Callable[[Migration], None]) -> int:
    """Bring a remote up to this version before a write; the version to record (never lower)."""
    check_writable(recorded, where)
    for step in migrations_from(recorded):
        migrate(step)
    return max(recorded_or_default(recorded), FORMAT_VERSION)


def parse(value: object, where: str) -> int:
    """A recorded version as read from a remote (untrusted): a positive int, else a clear error."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SyncError(f"{where} records an unreadable format version {value!r:.40}; nothing was written")
    return value
