"""The logical layout a session travels in, and which names a session may carry.

A bundle (and a session folder in the Git repository) names its files logically,
independent of any device:

    transcript.jsonl                   projects/<enc>/<sid>.jsonl
    session/<path>                     projects/<enc>/<sid>/<path>
    legacy-agents/agent-<name>.jsonl   projects/<enc>/agent-<name>.jsonl (older clients)
    file-history/<path>                file-history/<sid>/<path>
    tasks/<path>                       tasks/<sid>/<path>
    todos/<sid>-agent-<name>.json      todos/<sid>-agent-<name>.json (older clients)

Everything read from a remote is untrusted, so the client (on push and on pull) and
the server check every name against `check_owned`: a session may carry only names
inside its own part of that layout. `legacy-agents/` and `todos/` share a folder with
other sessions, so there the name itself must say which session owns it (todos) or
be an agent log (legacy agents); nothing else can reach `projects/<enc>/` (where the
client reads `memory/` into the model's context) or another session's files.

Standard library only: the server and the hooks' fast path import it.
"""

from __future__ import annotations

import re

TRANSCRIPT = "transcript.jsonl"
# The one session-id pattern: what the client writes (a lowercase UUID), and all a name may hold.
SESSION_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)
# Folders whose whole subtree belongs to one session on disk (keyed by its id there).
_OWN_FOLDERS = ("session", "file-history", "tasks")
_LEGACY_AGENT_RE = re.compile(r"^agent-[A-Za-z0-9_.-]+\.jsonl$")


class NotOwned(ValueError):
    """A logical name a session may not carry; the message says why."""


def is_log(logical: str) -> bool:
    """Append-only JSONL logs: merged and sent as deltas; everything else is a plain file."""
    return logical.endswith(".jsonl")


def is_session_id(text: str) -> bool:
    return bool(SESSION_ID_RE.match(text))


def check_name(name: str) -> None:
    """Refuse a name that could escape the session's folders on any device (NotOwned)."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or any(ord(c) < 32 for c in name)
        or any(p in ("", ".", "..") for p in parts)
        or (len(parts[0]) == 2 and parts[0][1] == ":")
    ):
        raise NotOwned(f"refusing unsafe file name {name!r}")
    if name == TRANSCRIPT:
        return
    if len(parts) < 2 or parts[0] not in (*_OWN_FOLDERS, "legacy-agents", "todos"):
        raise NotOwned(f"refusing unknown file name {name!r}")


def check_owned(session_id: str, name: str) -> None:
    """Refuse (NotOwned) a logical name that session `session_id` may not carry.

    The one ownership rule, shared by push, pull and the server.
    """
    if not is_session_id(session_id):
        raise NotOwned(f"not a session id: {session_id!r}")
    check_name(name)
    head, _, rest = name.partition("/")
    if name == TRANSCRIPT or head in _OWN_FOLDERS:
        return
    if "/" in rest:  # legacy agents and todos sit right in a folder shared by every session
        raise NotOwned(f"refusing {name!r}: {head}/ holds no folders")
    if head == "legacy-agents" and not _LEGACY_AGENT_RE.match(rest):
        raise NotOwned(f"refusing {name!r}: only agent-*.jsonl logs travel in legacy-agents/")
    if head == "todos" and not (rest.startswith(f"{session_id}-agent-") and rest.endswith(".json")):
        raise NotOwned(f"refusing {name!r}: a todo list of another session")
