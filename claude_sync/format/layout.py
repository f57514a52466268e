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
HEADS = frozenset({SESSION_DIR, LEGACY_AGENTS, FILE_HISTORY, TASKS, TODOS, MEMORY})
LOG_SUFFIX = ".jsonl"

# The one spelling of a session id: a UUID as the client writes it, lower case.
SESSION_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SESSION_PREFIX_PATTERN = r"^[0-9a-f-]{1,36}$"  # what a user may type to name one session
_SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)
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


def check_logical(name: str) -> None:
    """Refuse a logical name that could escape the session's folders (BundleError)."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(p in ("", ".", "..") for p in parts)
        or (name != TRANSCRIPT and (len(parts) < 2 or parts[0] not in HEADS))
        or (len(parts[0]) == 2 and parts[0][1] == ":")
    ):
        raise BundleError(f"refusing unsafe or unknown file name in bundle: {name!r}")


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
