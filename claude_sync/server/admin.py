"""`claude-sync server …`: what the person who runs the server does to users, tokens, limits and backups.

(The arguments are declared in cli.py, which must not import the server to start.)

Every command works on either store: `--database URL` (or CLAUDE_SYNC_DATABASE_URL) for
PostgreSQL, else `--data DIR` (or the platform's default) for SQLite. Changes are seen by
every running replica at once: nothing is cached in the servers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..format.errors import ConfigError, UsageError
from .storage import DATABASE_ENV, UNSET, Storage, UserInfo
from .stores import open_storage


def store_location(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    """(data dir, None) for SQLite or (None, URL) for PostgreSQL, from the arguments and the environment."""
    from .serve import default_data_dir

    database = args.database or os.environ.get(DATABASE_ENV) or None
    if database and args.data:
        raise UsageError("--data and --database name two different stores: give one")
    if database:
        return None, database
    return (Path(args.data).expanduser() if args.data else default_data_dir()), None


def open_from_args(args: argparse.Namespace) -> Storage:
    data, database = store_location(args)
    return open_storage(data, database=database)


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int | None:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    if t == "NONE":
        return None
    unit = t[-1] if t and t[-1] in _UNITS else ""
    number = t[: len(t) - len(unit)]
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise UsageError(f"not a size: {text!r} (e.g. 500M, 2G, or none)") from None
    if value < 0:
        raise UsageError(f"not a size: {text!r}")
    return int(value)


def parse_days(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"not a number of days: {text!r} (1 or more, or none)")
    return int(text)


def _describe(u: UserInfo) -> str:
    limits = []
    if u.quota_bytes is not None:
        limits.append(f"quota {u.quota_bytes} B")
    if u.retention_days is not None:
        limits.append(f"retention {u.retention_days} d")
    if u.encrypted:
        limits.append("encrypted")
    extra = f"  ({', '.join(limits)})" if limits else ""
    return f"{u.name:<20} {u.tokens} token(s)  {u.sessions} session(s)  {u.bytes} B  since {u.created[:10]}{extra}"


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def run(args: argparse.Namespace) -> int:
    command = args.server_command
    if command == "backup":
        return _backup(args)
    storage = open_from_args(args)
    try:
        if command == "add-user":
            token = storage.add_user(args.name, token_name=args.token_name)
            print(
                f"token for {args.name} (shown once; give it to `claude-sync token set` on each device):",
                file=sys.stderr,
            )
            print(token)
        elif command == "revoke":
            n = storage.revoke(args.name, args.token)
            print(f"revoked {n} token(s) of {args.name}")
        elif command == "tokens":
            tokens = storage.tokens(args.name)
            if args.json:
                _print_json([vars(t) for t in tokens])
            for t in [] if args.json else tokens:
                print(f"{t.name:<24} since {t.created[:19]}Z")
        elif command == "users":
            users = storage.users()
            if args.json:
                _print_json([vars(u) for u in users])
                return 0
            if not users:
                print("no users yet: `claude-sync server add-user NAME`")
            for u in users:
                print(_describe(u))
        elif command == "delete-user":
            if not args.yes:
                raise UsageError(f"this deletes {args.name} and every session of theirs for good: add --yes")
            n = storage.delete_user(args.name)
            print(f"deleted {args.name} and {n} session(s)")
        elif command == "set":
            info = storage.set_account(
                args.name,
                quota_bytes=UNSET if args.quota is None else parse_size(args.quota),
                retention_days=UNSET if args.retention_days is None else parse_days(args.retention_days),
                encrypted=UNSET if args.encrypted is None else args.encrypted,
            )
            if args.json:
                _print_json(vars(info))
            else:
                print(_describe(info))
        elif command == "prune":
            print(f"removed {storage.apply_retention()} session(s) past their user's retention")
    finally:
        storage.close()
    return 0


def _backup(args: argparse.Namespace) -> int:
    data, database = store_location(args)
    if database:
        raise ConfigError(
            "a PostgreSQL store is backed up with PostgreSQL's tools: "
            "pg_dump --format=custom --file=claude-sync.dump URL (see docs/server.md)"
        )
    from .sqlite_storage import SqliteStorage

    assert data is not None
    target = Path(args.target).expanduser()
    if target.exists():
        raise UsageError(f"{target} exists: back up into a new folder")
    if not (data / "index.sqlite3").exists():
        raise ConfigError(f"no claude-sync server data in {data}")
    SqliteStorage(data).backup(target)
    print(f"backed up {data} to {target}; restore: stop the server, then serve --data {target} (or copy it back)")
    return 0
