"""The two trees as the extension draws them: grouped, sorted, filtered, each row with its sync
state and its words. The extension renders these rows as they come."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..discovery import LocalSession
from ..listing import human_size, local_groups
from ..project import DeviceLayout
from ..state import SyncState
from .sync_state import TO_DOWNLOAD, TO_UPLOAD, State, StateIndex, counts, look, project_state, project_words

# A project with more sessions than this starts collapsed: the tree stays a list of projects.
EXPANDED_UP_TO = 3

# (session id or None for the project itself, project key, cwd) -> the never-sync entry naming it.
NeverSync = Callable[[str | None, str | None, str | None], str | None]

# Why a remote session is not synced here (listing.remote_dicts) -> the state it is drawn with.
# "on the remote only" (swept or deleted here) keeps its look but is fetched only on purpose.
REMOTE_STATUS_STATES: dict[str, State] = {"not synced by choice": "neverSync", "deleted": "deleted"}
ON_PURPOSE_ONLY = frozenset({"on the remote only", "not synced by choice", "deleted"})


@dataclass(frozen=True)
class Query:
    """A filter typed by the user: `project:acme state:changed device:laptop words of the title`."""

    project: str = ""
    device: str = ""
    state: str = ""
    text: str = ""

    @classmethod
    def parse(cls, query: str | None) -> Query:
        fields: dict[str, str] = {}
        words: list[str] = []
        try:
            tokens = shlex.split(query or "")
        except ValueError:  # an unbalanced quote: take the words as they are
            tokens = (query or "").split()
        for token in tokens:
            key, sep, value = token.partition(":")
            if sep and key.lower() in ("project", "device", "state") and value:
                fields[key.lower()] = value.lower()
            else:
                words.append(token.lower())
        return cls(text=" ".join(words), **fields)

    def __bool__(self) -> bool:
        return bool(self.project or self.device or self.state or self.text)

    def keeps(self, *, project: str | None, device: str, state: State, title: str, session_id: str) -> bool:
        if self.project and self.project not in (project or "").lower():
            return False
        if self.device and self.device not in device.lower():
            return False
        if self.state:
            words = look(state)["label"]
            if self.state not in state.lower() and self.state not in words:
                return False
        if self.text:
            hay = f"{title} {session_id} {project or ''}".lower()
            if not all(w in hay for w in self.text.split()):
                return False
        return True


def _row_look(state: State) -> dict[str, Any]:
    return look(state)


def local_listing(
    sessions: list[LocalSession],
    layout: DeviceLayout,
    device: str,
    synced: SyncState,
    remote: dict[str, dict[str, Any]] | None,
    query: Query,
    never: NeverSync | None = None,
) -> dict[str, Any]:
    """This device's sessions by project, newest activity first, with their states; `never` names
    the never-sync entry of a session or project (`neverSyncBy`: what "sync again" removes)."""
    index = StateIndex(synced, remote)
    by_id = {s.session_id: s for s in sessions}
    groups: list[dict[str, Any]] = []
    all_states: dict[str, State] = {}
    for g in local_groups(sessions, layout):
        rows: list[dict[str, Any]] = []
        for d in g["sessions"]:
            st = index.of_local(by_id[d["session_id"]], d["portable"])
            d["never_sync_by"] = never(d["session_id"], d["project_key"], d["cwd"]) if never and d["portable"] else None
            if d["never_sync_by"]:
                st = "neverSync"
            all_states[d["session_id"]] = st
            if not query.keeps(project=d["project_key"] or d["cwd"], device=device, state=st, title=d["title"], session_id=d["session_id"]):
                continue
            d["size_text"] = human_size(d["size"])
            d["sync"] = _row_look(st)
            rows.append(d)
        if not rows:
            continue
        n = counts(r["sync"]["state"] for r in rows)
        groups.append(
            {
                "project_key": g["project_key"],
                "project_name": g["project_name"],
                "project_kind": g["project_kind"],
                "cwd": g["cwd"],
                "portable": g["portable"],
                "last_activity": rows[0]["last_timestamp"],
                "collapsed": len(rows) > EXPANDED_UP_TO,
                "sync": {**_row_look(project_state(n)), "counts": n, "label": project_words(n)},
                "never_sync_by": never(None, g["project_key"], g["cwd"]) if never and g["portable"] else None,
                "sessions": rows,
            }
        )
    # Projects by their newest session; sessions are newest first already.
    groups.sort(key=lambda g: g["last_activity"] or "", reverse=True)
    return {
        "groups": groups,
        "to_upload": sorted(sid for sid, st in all_states.items() if st in TO_UPLOAD),
        "to_download": sorted(sid for sid, st in all_states.items() if st in TO_DOWNLOAD),
        "states": all_states,
        "sizes": {s.session_id: s.size for s in sessions},
        "filtered": bool(query),
    }


def remote_listing(
    entries: list[dict[str, Any]], local_states: dict[str, State], local_sizes: dict[str, int], query: Query
) -> dict[str, Any]:
    """The remote's sessions by project, newest first, with their states against this device."""
    by_project: dict[str, list[dict[str, Any]]] = {}
    to_download: list[str] = []
    for e in entries:
        why = e.get("status") or ""
        st: State = REMOTE_STATUS_STATES.get(why) or local_states.get(e["sessionId"], "onlyThere")
        if st in TO_DOWNLOAD and why not in ON_PURPOSE_ONLY:
            to_download.append(e["sessionId"])
        if not query.keeps(project=e["projectKey"], device=e["device"], state=st, title=e["title"], session_id=e["sessionId"]):
            continue
        # One size for a session everywhere: this device's copy when it has one.
        size = local_sizes.get(e["sessionId"], e["size"])
        by_project.setdefault(e["projectKey"], []).append({**e, "sizeText": human_size(size), "sync": _row_look(st)})
    groups: list[dict[str, Any]] = []
    for key, rows in by_project.items():
        rows.sort(key=lambda r: r.get("lastModified") or "", reverse=True)
        n = counts(r["sync"]["state"] for r in rows)
        groups.append(
            {
                "projectKey": key,
                "lastActivity": rows[0].get("lastModified"),
                "collapsed": len(rows) > EXPANDED_UP_TO,
                "sync": {**_row_look(project_state(n)), "counts": n, "label": project_words(n)},
                "entries": rows,
            }
        )
    groups.sort(key=lambda g: g["lastActivity"] or "", reverse=True)
    return {"groups": groups, "toDownload": sorted(to_download), "filtered": bool(query)}
