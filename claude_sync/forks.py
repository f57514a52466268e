"""Which other sessions a session needs: the parents of a fork.

Recent clients (read from the 2.1.332 binary) can make a session that does not hold all of
its conversation: a transcript may start with a pointer record
``{"type":"fork-context-ref","agentId":...,"parentSessionId":P,"parentLastUuid":U,"contextLength":N}``
that the client fills in from session P's transcript when it reads the file, and branched
messages carry ``"forkedFrom":{"sessionId":P,"messageUuid":U}``. Such a session travels with
its parent: the parent as its own session, listed in the child's manifest as a dependency.
``claude -p --resume X --fork-session`` writes a full copy without either (2.1.197 and 2.1.332).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .format.layout import SESSION_ID, is_session_id

# Ids inside records, in either case (they are lower-cased when read).
_UUID = b"(?i:" + SESSION_ID.encode() + b")"
_POINTER_RE = re.compile(rb'"type":"fork-context-ref"[^\n]*?"parentSessionId":"(' + _UUID + rb')"')
_POINTER_FIRST_RE = re.compile(rb'"parentSessionId":"(' + _UUID + rb')"[^\n]*?"type":"fork-context-ref"')
_FORKED_FROM_RE = re.compile(rb'"forkedFrom":\{"sessionId":"(' + _UUID + rb')"')


def session_ids(values: Iterable[object]) -> list[str]:
    """The values that are session ids, lower-cased (a manifest from a remote may hold anything)."""
    return sorted({v.lower() for v in values if isinstance(v, str) and is_session_id(v.lower())})


def parents_in(data: bytes, session_id: str) -> set[str]:
    """Session ids other than `session_id` that the records in `data` point to as fork parents."""
    if b"fork-context-ref" not in data and b'"forkedFrom"' not in data:
        return set()
    found: set[str] = set()
    for rx in (_POINTER_RE, _POINTER_FIRST_RE, _FORKED_FROM_RE):
        found.update(m.group(1).decode().lower() for m in rx.finditer(data))
    found.discard(session_id.lower())
    return found


def parents_of(session_id: str, files: Mapping[str, Path]) -> set[str]:
    """The fork parents named in a session's logs on disk (unreadable files name none)."""
    found: set[str] = set()
    for name, path in files.items():
        if name.endswith(".jsonl"):
            try:
                found |= parents_in(path.read_bytes(), session_id)
            except OSError:
                continue
    return found


def with_parents(chosen: Iterable[str], parents: Mapping[str, set[str]]) -> list[str]:
    """`chosen` with every ancestor in `parents` added, each ancestor before its first child."""
    out: list[str] = []
    seen: set[str] = set()

    def visit(sid: str, path: tuple[str, ...]) -> None:
        if sid in seen or sid in path:  # a cycle in hostile records must not loop
            return
        for parent in sorted(parents.get(sid, ())):
            visit(parent, (*path, sid))
        seen.add(sid)
        out.append(sid)

    for sid in chosen:
        visit(sid, ())
    return out
