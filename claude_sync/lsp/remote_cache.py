"""The last remote listing the sidecar fetched, kept on disk: the Remote view names when it was
fetched, and later requests can work from it without asking the remote again."""

from __future__ import annotations

import json
from typing import Any

from .. import atomic
from ..config import Paths

CACHE_VERSION = 1


def _file(paths: Paths):  # type: ignore[no-untyped-def]
    return paths.cache / "sidecar-remote.json"


def save(paths: Paths, remote: dict[str, Any], fetched_at: str, entries: list[dict[str, Any]]) -> None:
    body = {"version": CACHE_VERSION, "remote": remote, "fetchedAt": fetched_at, "entries": entries}
    atomic.write_text(_file(paths), json.dumps(body))


def load(paths: Paths, remote: dict[str, Any] | None) -> tuple[str | None, list[dict[str, Any]]]:
    """(fetchedAt, entries) of the last listing of this same remote; (None, []) when there is none."""
    try:
        body = json.loads(_file(paths).read_text("utf-8"))
    except (OSError, ValueError):
        return None, []
    if not isinstance(body, dict) or body.get("version") != CACHE_VERSION or remote is None:
        return None, []
    same = body.get("remote") or {}
    if (same.get("backend"), same.get("url")) != (remote["backend"], remote["url"]):
        return None, []  # another remote was listed then
    entries = body.get("entries")
    return body.get("fetchedAt"), entries if isinstance(entries, list) else []
