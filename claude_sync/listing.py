"""Plain-data views of local sessions and remote bundles, shared by the CLI and the sidecar."""

from __future__ import annotations

from .discovery import LocalSession
from .format.errors import NotPortable
from .format.wire import RemoteEntry
from .project import DeviceLayout, NoCheckout, display_name, kind_of, split_repo_key


def project_of(cwd: str | None, layout: DeviceLayout) -> tuple[str | None, str]:
    """(project key, why not portable) of a working directory."""
    if not cwd:
        return None, "records no working directory"
    try:
        return layout.key_for(cwd), ""
    except (NotPortable, ValueError) as e:
        return None, str(e)


def session_dict(s: LocalSession, layout: DeviceLayout, keys: dict[str | None, tuple[str | None, str]] | None = None) -> dict:
    if keys is None:
        key, reason = project_of(s.cwd, layout)
    else:  # many sessions share a working directory: its key is worked out once
        if s.cwd not in keys:
            keys[s.cwd] = project_of(s.cwd, layout)
        key, reason = keys[s.cwd]
    return {
        "session_id": s.session_id,
        "title": s.meta.title,
        "message_count": s.meta.message_count,
        "message_count_exact": s.meta.message_count_exact,
        "first_timestamp": s.meta.first_timestamp,
        "last_timestamp": s.meta.last_timestamp,
        "size": s.size,
        "cwd": s.cwd,
        "project_key": key,
        "project_name": display_name(key) if key else None,
        "project_kind": kind_of(key) if key else None,
        "portable": key is not None,
        "reason": reason,
        "transcript": str(s.transcript),
        "files": len(s.files),
    }


def local_groups(sessions: list[LocalSession], layout: DeviceLayout) -> list[dict]:
    """Sessions grouped by project, projects by name, sessions newest first."""
    groups: dict[str, dict] = {}
    keys: dict[str | None, tuple[str | None, str]] = {}
    for s in sessions:
        d = session_dict(s, layout, keys)
        name = d["project_key"] if d["portable"] else (d["cwd"] or "(unknown directory)")
        g = groups.setdefault(
            name,
            {
                "project_key": d["project_key"],
                "project_name": d["project_name"],
                "project_kind": d["project_kind"],
                "cwd": d["cwd"],
                "portable": d["portable"],
                "sessions": [],
            },
        )
        g["sessions"].append(d)
    for g in groups.values():
        g["sessions"].sort(key=lambda d: d["last_timestamp"] or "", reverse=True)
    return [groups[k] for k in sorted(groups, key=lambda k: (not groups[k]["portable"], k))]


def place_of(key: str, layout: DeviceLayout | None) -> tuple[str | None, str]:
    """(this device's folder for a project key, why there is none: "no local checkout", ...)."""
    if layout is None:
        return None, ""
    try:
        return layout.cwd_for(key), ""
    except NoCheckout:
        return None, "no local checkout"
    except (NotPortable, ValueError) as e:
        return None, str(e)


def remote_dicts(
    entries: list[RemoteEntry], statuses: dict[str, str] | None = None, layout: DeviceLayout | None = None
) -> list[dict]:
    """The remote's sessions, with the project's short name and kind, and where it goes here;
    `status` says why one is not synced here ("on the remote only", "not synced by choice",
    "deleted"), empty otherwise."""
    out = []
    places: dict[str, tuple[str | None, str]] = {}
    for e in sorted(entries, key=lambda e: (e.project_key, e.last_modified or "")):
        if e.project_key not in places:
            places[e.project_key] = place_of(e.project_key, layout)
        folder, why = places[e.project_key]
        split = split_repo_key(e.project_key)
        d = e.model_dump(mode="json")
        d.update(
            status=(statuses or {}).get(e.session_id, ""),
            project_name=display_name(e.project_key),
            project_kind=kind_of(e.project_key),
            repository=split[0] if split else None,
            local_folder=folder,
            placement=why,
        )
        out.append(d)
    return out


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def short_time(ts: str | None) -> str:
    return (ts or "")[:16].replace("T", " ") or "-"
