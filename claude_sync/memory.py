"""Project memory (`projects/<enc>/memory/`): opt-in per project, carried as its own object.

The client keeps notes about a project in its project folder, shared by every session of
that project. It belongs to no session, so it never travels inside a session's bundle (a
session carries only names it owns). When a device opts a project in (`memory_projects` in
config.json, `claude-sync configure --sync-memory KEY`), push and pull of that project's
sessions also carry its memory as one bundle of kind "project-memory", whose id is derived
from the project key (bundle.memory_object_id). Pull applies it only on a device that opted
that project in, after backing up every file it replaces; files only this device has stay.
The files travel tokenized like a session's (they name paths of the project).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from . import atomic
from .format.bundle import MEMORY_KIND, Bundle, Manifest, context_for, memory_object_id
from .format.errors import BundleError
from .project import DeviceLayout
from .restore import back_up

MEMORY_DIR = "memory"
PREFIX = MEMORY_DIR + "/"
_SKIP_SUFFIXES = (".lock", ".tmp")


def memory_files(project_folder: Path) -> dict[str, Path]:
    """The memory files of a project folder by logical name (`memory/<relative path>`); links are skipped."""
    root = project_folder / MEMORY_DIR
    out: dict[str, Path] = {}
    if not root.is_dir() or root.is_symlink():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = Path(dirpath) / name
            if name.endswith(_SKIP_SUFFIXES) or path.is_symlink() or not path.is_file():
                continue
            out[PREFIX + path.relative_to(root).as_posix()] = path
    return dict(sorted(out.items()))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pack_memory(project_folder: Path, project_key: str, layout: DeviceLayout, device: str) -> Bundle | None:
    """The project's memory as its own bundle; None when the project has none here."""
    paths = memory_files(project_folder)
    if not paths:
        return None
    tokens = layout.tokens_for(layout.cwd_for(project_key), project_folder.name, on_disk=False)
    files: dict[str, bytes] = {}
    binary: set[str] = set()
    newest = 0.0
    for name, path in paths.items():
        data = path.read_bytes()
        newest = max(newest, path.stat().st_mtime)
        try:
            files[name] = tokens.tokenize(data.decode("utf-8"), context_for(name)).encode("utf-8")
        except UnicodeDecodeError:
            files[name] = data
            binary.add(name)
    manifest = Manifest(
        kind=MEMORY_KIND,
        session_id=memory_object_id(project_key),
        project_key=project_key,
        device=device,
        source_flavour=layout.flavour,
        last_modified=_iso(newest),
        title=f"project memory of {project_key}",
    )
    return Bundle.build(manifest, files, binary)


def apply_memory(bundle: Bundle, project_folder: Path, layout: DeviceLayout, claude_dir: Path, backups: Path) -> tuple[int, Path | None]:
    """Write a pulled memory bundle into the project folder: (files written, backup folder or None).

    Every existing file that would change is backed up first; files the bundle does not hold stay.
    """
    m = bundle.manifest
    if m.kind != MEMORY_KIND or m.session_id != memory_object_id(m.project_key):
        raise BundleError(f"{m.session_id} is not a project memory object")
    bundle = bundle.in_memory()  # memory files are small; one the backend spilled is read back
    tokens = layout.tokens_for(layout.cwd_for(m.project_key), project_folder.name, on_disk=False)
    text = {e.path for e in m.files if e.text}
    root = project_folder / MEMORY_DIR
    changes: dict[Path, bytes] = {}
    for name, data in bundle.files.items():
        if name in text:
            data = tokens.detokenize(data.decode("utf-8"), context_for(name), m.source_flavour).encode("utf-8")
        target = root / name[len(PREFIX) :]
        if not target.resolve().is_relative_to(root.resolve()):  # check_logical already refused "..": belt and braces
            raise BundleError(f"refusing memory file outside the memory folder: {name!r}")
        try:
            if target.read_bytes() == data:
                continue
        except FileNotFoundError:
            pass
        changes[target] = data
    replaced = [t for t in changes if t.exists()]
    reason = f"project memory of {m.project_key} pulled from {m.device}"
    backup_dir = back_up(replaced, backups, claude_dir, m.session_id, reason)
    for target, data in changes.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(target, data)
    return len(changes), backup_dir
