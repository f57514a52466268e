"""Where each session stands against the remote, from what the sidecar already knows.

No session content is read: the local files' fingerprint (discovery's stat of each file), the
last remote listing (remote_cache) and what this device last synced (state.json) say whether a
session is in sync, changed here, newer on the remote, only on one side, or changed on both.
Each state comes with how the extension draws it (icon, colour, badge, words): it decides nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from ..discovery import LocalSession
from ..state import SyncState

State = Literal[
    "synced", "changedHere", "onlyHere", "newerThere", "onlyThere", "diverged", "notPortable", "neverSync", "deleted", "unknown"
]

# state -> (words, codicon, theme colour of the decoration, badge): how every view shows it.
LOOK: dict[State, tuple[str, str, str | None, str]] = {
    "synced": ("in sync", "pass", "charts.green", ""),
    "changedHere": ("changed here", "arrow-up", "gitDecoration.modifiedResourceForeground", "M"),
    "onlyHere": ("only here", "cloud-upload", "gitDecoration.untrackedResourceForeground", "U"),
    "newerThere": ("newer on the remote", "arrow-down", "gitDecoration.addedResourceForeground", "↓"),
    "onlyThere": ("only on the remote", "cloud-download", "gitDecoration.addedResourceForeground", "↓"),
    "diverged": ("changed on both sides", "git-compare", "gitDecoration.conflictingResourceForeground", "!"),
    "notPortable": ("not portable", "circle-slash", "disabledForeground", ""),
    # On the never-sync list (the session or its project): hooks and bulk operations leave it alone.
    "neverSync": ("not synced by choice", "eye-closed", "disabledForeground", ""),
    # A tombstone on the remote: deleted there (the devices' copies went into their backups).
    "deleted": ("deleted", "trash", "disabledForeground", ""),
    "unknown": ("not compared yet", "question", None, "?"),
}
TO_UPLOAD: frozenset[str] = frozenset({"changedHere", "onlyHere", "diverged"})
TO_DOWNLOAD: frozenset[str] = frozenset({"newerThere", "onlyThere", "diverged"})
# A project's state: the first of these its sessions have (what needs the user most).
PROJECT_ORDER: tuple[State, ...] = (
    "diverged", "changedHere", "onlyHere", "newerThere", "onlyThere", "unknown", "synced", "neverSync", "notPortable",
    "deleted",
)


def look(state: State) -> dict[str, Any]:
    words, icon, color, badge = LOOK[state]
    return {"state": state, "label": words, "icon": icon, "color": color, "badge": badge}


class StateIndex:
    """The states of this device's sessions against one remote listing."""

    def __init__(self, state: SyncState, remote: dict[str, dict[str, Any]] | None) -> None:
        self.state = state
        self.remote = remote  # session id -> remote entry (camelCase), None: never listed

    def of_local(self, s: LocalSession, portable: bool) -> State:
        if not portable:
            return "notPortable"
        if self.remote is None:
            return "unknown"  # the remote was never listed from here
        entry = self.remote.get(s.session_id)
        if entry is None:
            return "onlyHere"
        last = self.state.content(s.session_id)
        if last is None:
            return "unknown"  # on both sides, never synced from here: comparing means reading
        here = not (self.state.unchanged(s.session_id, s.files) and self.state.in_sync(s.session_id))
        there = entry.get("contentSha256") != last
        if here and there:
            return "diverged"
        return "changedHere" if here else "newerThere" if there else "synced"

    def of_remote(self, entry: dict[str, Any], local: dict[str, State]) -> State:
        return local.get(entry["sessionId"], "onlyThere")


def project_state(states: Iterable[State]) -> State:
    present = set(states)
    return next((s for s in PROJECT_ORDER if s in present), "synced")


def counts(states: Iterable[State]) -> dict[State, int]:
    out: dict[State, int] = {}
    for s in states:
        out[s] = out.get(s, 0) + 1
    return out


def project_words(n: dict[State, int]) -> str:
    """"2 to upload · 1 to download", or "in sync"."""
    up = sum(v for k, v in n.items() if k in TO_UPLOAD)
    down = sum(v for k, v in n.items() if k in TO_DOWNLOAD and k != "diverged")
    parts = [f"{up} to upload"] if up else []
    parts += [f"{down} to download"] if down else []
    if not parts:
        if len(set(n)) == 1 and set(n) <= {"notPortable", "neverSync", "deleted"}:
            return look(next(iter(n)))["label"]
        return "in sync" if set(n) <= {"synced", "notPortable", "neverSync", "deleted"} else ""
    return " · ".join(parts)
