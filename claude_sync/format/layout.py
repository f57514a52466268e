"""The logical layout of a session: how its files are named once they leave a device.

Every artifact of a session has a device-independent *logical* name. Bundles, deltas,
the Git repository and the server all use these names; only discovery (reading) and
restore (writing) map them onto a device's config dir:

    transcript.jsonl          projects/<enc>/<sid>.jsonl
    session/<rest>            projects/<enc>/<sid>/<rest>   (subagents/...)
    legacy-agents/<name>      projects/<enc>/agent-*.jsonl of older clients
    file-history/<name>       file-history/<sid>/<name>
    tasks/<name>              tasks/<sid>/<name>            (lock files skipped)
    todos/<name>              todos/<sid>-agent-*.json      (older clients)

A project's memory travels as its own object (bundle kind "project-memory"), named

    memory/<rest>             projects/<enc>/memory/<rest>
Everything read from a remote is untrusted, so the client (on push and on pull) and the
server check every name a session carries with `check_owned`: only names inside that
session's own part of the layout. legacy-agents/ and todos/ share a folder with other
sessions, so there the name itself must be an agent log (legacy agents) or carry the
session's id (todos), one level deep: nothing can reach `projects/<enc>/memory/` (which the
client reads into the model's context) or another session's files.

Standard library only: the SessionEnd hook's fast path imports this module.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BundleError

TRANSCRIPT = "transcript.jsonl"
SESSION_DIR = "session"  # the session's own folder beside its transcript (sub-agents)
LEGACY_AGENTS = "legacy-agents"  # agent-*.jsonl beside the transcript, written by older clients
FILE_HISTORY = "file-history"
TASKS = "tasks"
TODOS = "todos"  # written by older clients only
# A project's memory (projects/<enc>/memory/): only in a project memory object, never in a session's bundle.
MEMORY = "memory"
# A deleted session's tombstone (format/tombstone.py): only in a tombstone object, never in a session's bundle.
TOMBSTONE = "tombstone"
HEADS = frozenset({SESSION_DIR, LEGACY_AGENTS, FILE_HISTORY, TASKS, TODOS, MEMORY, TOMBSTONE})
LOG_SUFFIX = ".jsonl"

# The one spelling of a session id: a UUID as the client writes it, lower case.
SESSION_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # to search for one inside text
SESSION_ID_PATTERN = rf"^{SESSION_ID}$"
SESSION_PREFIX_PATTERN = r"^[0-9a-f-]{1,36}$"  # what a user may type to name one session
_SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)
# Unicode's Cc (C0, DEL, C1), which no project key holds: a key names folders on every device and
# shows in listings, hovers and terminals (project.validate_key; a bundle's manifest, on the server too).
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")

# End-to-end encryption (docs/encryption.md): a sealed session's project key is this prefix and a
# keyed blind index, so a host can tell sealed sessions apart and select by project without reading
# them; the remote's key record travels as a session under this id, which no client ever makes.
SEALED_PROJECT_PREFIX = "e2e/"
KEY_RECORD_ID = "00000000-0000-0000-0000-000000000000"


def is_sealed(session_id: str, project_key: str) -> bool:
    """Whether a session as a host sees it is end-to-end encrypted (or the key record, which holds no content)."""
    return project_key.startswith(SEALED_PROJECT_PREFIX) or session_id == KEY_RECORD_ID
_SESSION_PREFIX_RE = re.compile(SESSION_PREFIX_PATTERN)


def is_session_id(text: str) -> bool:
    return bool(_SESSION_ID_RE.match(text))


def is_session_prefix(text: str) -> bool:
    """Whether `text` can start a session id (lower case, as ids are stored)."""
    return bool(_SESSION_PREFIX_RE.match(text))


def is_log(logical: str) -> bool:
    """Append-only JSONL logs: merged and sent as deltas; everything else is a plain file."""
    return logical.endswith(LOG_SUFFIX)


def is_session_folder_file(logical: str) -> bool:
    """Files that live beside or under the transcript in the project folder (moved with it)."""
    return logical == TRANSCRIPT or logical.startswith((SESSION_DIR + "/", LEGACY_AGENTS + "/"))


_CONTROL = re.compile("[\x00-\x1f]")  # a control character (a regex: a loop over each character cost more than the rest)


def check_logical(name: str) -> None:
    """Refuse a logical name that could escape the session's folders (BundleError)."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or _CONTROL.search(name)
        or any(p in ("", ".", "..") for p in parts)
        or (len(parts[0]) == 2 and parts[0][1] == ":")
    ):
        raise BundleError(f"refusing unsafe file name in bundle: {name!r}")
    if name != TRANSCRIPT and (len(parts) < 2 or parts[0] not in HEADS):
        raise BundleError(f"refusing unknown file name in bundle: {name!r}")


# Folders whose whole subtree belongs to one session on disk (named by its id there).
_OWN_FOLDERS = (SESSION_DIR, FILE_HISTORY, TASKS)
_LEGACY_AGENT_RE = re.compile(r"^agent-[A-Za-z0-9_.-]+\.jsonl$")


def check_owned(session_id: str, name: str) -> None:
    """Refuse (BundleError) a logical name that session `session_id` may not carry.

    The one ownership rule: push, pull (both backends) and the server all apply it.
    """
    if not is_session_id(session_id):
        raise BundleError(f"not a session id: {session_id!r}")
    check_logical(name)
    head, _, rest = name.partition("/")
    if name == TRANSCRIPT or head in _OWN_FOLDERS:
        return
    if head not in (LEGACY_AGENTS, TODOS):  # project memory, or anything a later layout adds
        raise BundleError(f"refusing {name!r}: not a file a session owns")
    if "/" in rest:  # legacy agents and todos sit right in a folder that every session shares
        raise BundleError(f"refusing {name!r}: {head}/ holds no folders")
    if head == LEGACY_AGENTS and not _LEGACY_AGENT_RE.match(rest):
        raise BundleError(f"refusing {name!r}: only agent-*.jsonl logs travel in {LEGACY_AGENTS}/")
    if head == TODOS and not (rest.startswith(f"{session_id}-agent-") and rest.endswith(".json")):
        raise BundleError(f"refusing {name!r}: a todo list of another session")


def disk_path(logical: str, claude_dir: Path, project_dir: Path, session_id: str) -> Path:
    """Where a logical file of a session lives on this device."""
    if logical == TRANSCRIPT:
        return project_dir / f"{session_id}{LOG_SUFFIX}"
    head, _, rest = logical.partition("/")
    if not rest:
        raise ValueError(f"unknown session file {logical!r}")
    if head == SESSION_DIR:
        return project_dir / session_id / rest
    if head == LEGACY_AGENTS:
        return project_dir / rest
    if head in (FILE_HISTORY, TASKS):
        return claude_dir / head / session_id / rest
    if head == TODOS:
        return claude_dir / TODOS / rest
    raise ValueError(f"unknown session file {logical!r}")
