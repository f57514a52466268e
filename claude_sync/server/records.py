"""How both stores write times, names and patterns, so that SQLite and PostgreSQL answer alike."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from ..format import version
from .storage import USER_NAME_RE, StorageError

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def micros(when: datetime) -> int:
    """Whole microseconds since the epoch (exact, so `since` a listed updated_at excludes that session)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - EPOCH) // timedelta(microseconds=1)


def micros_iso(us: int) -> str:
    return (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def retention_cutoff(now: datetime | None, days: int) -> int:
    return micros((now or datetime.now(timezone.utc)) - timedelta(days=days))


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def session_page_query(
    columns: str,
    user_column: str,
    placeholder: str,
    user: str,
    *,
    project: str | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[str, list[object]]:
    """One page of a user's sessions as SQL and its arguments, in either store's placeholder style:
    the filters and the paging (one row past `limit` tells that a next page exists) must agree."""
    q = placeholder
    sql = f"SELECT {columns} FROM sessions WHERE {user_column} = {q}"
    args: list[object] = [user]
    if project:
        project = project.strip("/")
        sql += f" AND (project_key = {q} OR project_key LIKE {q} ESCAPE '\\')"
        args += [project, like_escape(project) + "/%"]
    if since is not None:
        sql += f" AND updated_at > {q}"
        args.append(micros(since))
    if cursor:
        sql += f" AND session_id > {q}"
        args.append(cursor)
    sql += f" ORDER BY session_id LIMIT {q}"
    args.append(limit + 1)
    return sql, args


def check_user_name(name: str) -> None:
    if not USER_NAME_RE.match(name):
        raise StorageError(f"invalid user name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")


def check_token_name(name: str) -> None:
    if not USER_NAME_RE.match(name):
        raise StorageError(f"invalid token name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")


def default_token_name(taken: set[str]) -> str:
    """`token-N`: the first N past the user's token count that no token of theirs is named."""
    n = len(taken) + 1
    while f"token-{n}" in taken:
        n += 1
    return f"token-{n}"


def record_format(
    recorded_text: str | None,
    where: str,
    migrate: Callable[[version.Migration], None],
    write: Callable[[int], object],
) -> int:
    """The format version a store holds, brought up to this server's (never lowered); `write` records it."""
    recorded = None if recorded_text is None else version.parse(recorded_text, where)
    if recorded is not None and recorded > version.FORMAT_VERSION:
        log.warning("%s holds format %d, newer than this server writes: pushes are refused", where, recorded)
        return recorded
    now = version.upgrade(recorded, where, migrate)
    if now != recorded:
        write(now)
    return now
