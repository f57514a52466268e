"""Turn a local session into a portable bundle, and a bundle into this device's files."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from .bundle import Bundle, Manifest, context_for
from .errors import NotPortable, SyncError
from .path_tokens import Context
from .project import DeviceLayout
from .sessions import LocalSession, is_log


def content_digest(files: dict[str, bytes] | Bundle) -> str:
    """Identity of a session version: its tokenized files, not who pushed it or when."""
    if isinstance(files, Bundle):
        pairs = [(e.path, e.sha256) for e in files.manifest.files]
    else:
        pairs = sorted((n, hashlib.sha256(d).hexdigest()) for n, d in files.items())
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def read_complete(path: Path, log: bool) -> bytes:
    """A file's bytes; for a log, only complete lines (the client may be mid-write)."""
    data = path.read_bytes()
    if log and data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else b""
    return data


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pack(session: LocalSession, layout: DeviceLayout, device: str) -> Bundle:
    """Read and tokenize every artifact of a session into a bundle."""
    cwd = session.meta.cwd
    if not cwd:
        raise NotPortable(f"session {session.session_id} records no working directory")
    key = layout.key_for(cwd)
    tokens = layout.tokens_for(cwd)
    files: dict[str, bytes] = {}
    binary: set[str] = set()
    for name, path in sorted(session.files.items()):
        data = read_complete(path, is_log(name))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            files[name] = data  # carried verbatim, never rewritten
            binary.add(name)
            continue
        files[name] = tokens.tokenize(text, context_for(name)).encode("utf-8")
    last = session.meta.last_timestamp or _iso(session.transcript.stat().st_mtime)
    manifest = Manifest(
        session_id=session.session_id,
        project_key=key,
        device=device,
        source_flavour=layout.flavour,
        last_modified=last,
        first_timestamp=session.meta.first_timestamp,
        title=tokens.tokenize(session.meta.title, Context.RAW),
        message_count=session.meta.message_count,
    )
    return Bundle.build(manifest, files, binary)


def render(bundle: Bundle, layout: DeviceLayout) -> tuple[str, dict[str, bytes]]:
    """This device's working directory for the session, and its files with local paths."""
    cwd = layout.cwd_for(bundle.manifest.project_key)
    tokens = layout.tokens_for(cwd)
    source = bundle.manifest.source_flavour
    text = {e.path for e in bundle.manifest.files if e.text}
    out = {}
    for name, data in bundle.files.items():
        if name in text:
            out[name] = tokens.detokenize(data.decode("utf-8"), context_for(name), source).encode("utf-8")
        else:
            out[name] = data
    return cwd, out


def render_title(title: str, project_key: str, layout: DeviceLayout) -> str:
    """A remote entry's title with this device's paths (titles travel tokenized)."""
    try:
        return layout.tokens_for(layout.cwd_for(project_key)).detokenize(title, Context.RAW)
    except (ValueError, KeyError, SyncError):
        return title


def parse_time(ts: str | None) -> float:
    if not ts:
        return 0.0
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def layout_for(projects_root: str, home: str, flavour) -> DeviceLayout:  # type: ignore[no-untyped-def]
    """The device layout with the projects root as the client sees it (symlinks resolved)."""
    root = os.path.realpath(projects_root) if os.path.isdir(projects_root) else projects_root
    return DeviceLayout(projects_root=root, home=home, flavour=flavour)
