"""The `claude-sync` command line: the contract the extension, hooks and tests rely on.

Exit codes: 0 all succeeded, 1 some sessions failed, 2 usage or configuration error.
Progress goes to stderr; results (and --json) to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from . import __version__
from .config import Paths, load_config, update_config
from .engine import Outcome, Selection, Summary, SyncEngine
from .format.errors import ConfigError, SyncError, UsageError
from .listing import human_size, local_groups, remote_dicts, short_time

# Control characters but newline and tab (Unicode's Cc: C0, DEL, C1) and the bidirectional overrides
# and isolates ("Trojan Source"): what a title, a device name or a server's error holds.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class _VisibleControls:
    """A text stream that writes those characters as `\\u001b`: whatever a remote or a transcript names
    reaches the terminal as text, never as an escape sequence (a window title, the clipboard, the
    screen). In --json output they can only stand inside strings, where the escape reads back the same."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_UNSHOWABLE.sub(lambda m: "\\u%04x" % ord(m.group()), text))

    def __getattr__(self, name: str) -> object:  # flush, fileno, isatty, encoding...
        return getattr(self._stream, name)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")  # one write, one pass of the filter


def cmd_configure(args: argparse.Namespace, paths: Paths) -> int:
    config = update_config(
        paths,
        device=args.device,
        projects_root=os.path.abspath(os.path.expanduser(args.projects_root)) if args.projects_root else None,
        backend=args.backend,
        git_url=args.git_url,
        server_url=args.server_url,
        ca_bundle=args.ca_bundle,
        hook_note=args.hook_note,
        hook_pull_timeout=args.hook_pull_timeout,
        search_roots=[os.path.abspath(os.path.expanduser(r)) for r in args.search_root] if args.search_root else None,
        memory_projects=_memory_projects(args, paths),
    )
    f = paths.config_file
    if not os.path.isdir(config.projects_root):
        # Said every time until it exists: a typo here makes every session "not portable".
        print(
            f"warning: the projects root {config.projects_root} does not exist (yet): check the path; "
            "sessions under it can be pushed, and pulls write there, once it does",
            file=sys.stderr,
        )
    if args.json:
        _print_json(config.model_dump(mode="json"))
    else:
        print(f"saved {f}")
        for k, v in config.model_dump().items():
            if v is not None and k != "version":
                print(f"  {k}: {v}")
    return 0


def _memory_projects(args: argparse.Namespace, paths: Paths) -> list[str] | None:
    """The opted-in projects after --sync-memory / --no-sync-memory; None when neither was given."""
    if not (args.sync_memory or args.no_sync_memory):
        return None
    try:
        current = load_config(paths).memory_projects
    except ConfigError:
        current = []
    dropped = {k.strip("/") for k in args.no_sync_memory or []}
    added = [k.strip("/") for k in args.sync_memory or []]
    return [k for k in dict.fromkeys([*current, *added]) if k not in dropped]


def cmd_sessions(args: argparse.Namespace, paths: Paths) -> int:
    engine = SyncEngine(load_config(paths), paths)
    groups = local_groups(engine.local_sessions(), engine.layout)
    if args.json:
        _print_json(groups)
        return 0
    if not groups:
        print(f"no sessions under {paths.claude}")
    for g in groups:
        head = g["project_key"] if g["portable"] else f"{g['cwd']}  (not portable)"
        if g["portable"] and g["sessions"] and g["sessions"][0]["project_kind"] == "repository":
            head = f"{g['sessions'][0]['project_name']}  (repository: {g['project_key']})"
        print(f"{head}  [{g['cwd']}]" if g["portable"] else head)
        for s in g["sessions"]:
            print(
                f"  {s['session_id'][:8]}  {short_time(s['last_timestamp'])}  {s['message_count']:>4} msgs"
                f"  {human_size(s['size']):>9}  {s['title']}"
            )
    return 0


def cmd_remote(args: argparse.Namespace, paths: Paths) -> int:
    engine = SyncEngine(load_config(paths), paths)
    try:
        remote = engine.remote()
        entries = remote_dicts(remote, engine.remote_statuses(remote), engine.layout)
    finally:
        engine.close()
    if args.json:
        _print_json(entries)
        return 0
    if not entries:
        print("no sessions on the remote")
    project = None
    for e in entries:
        if e["project_key"] != project:
            project = e["project_key"]
            where = e["local_folder"] or e["placement"]
            print(f"{e['project_name']}  ({e['project_kind']}: {project})  [{where}]")
        print(
            f"  {e['session_id'][:8]}  {short_time(e['last_modified'])}  {e['device']:<12}"
            f"  {human_size(e['size']):>9}  {e['title']}" + (f"  [{e['status']}]" if e["status"] else "")
        )
    return 0


def cmd_map(args: argparse.Namespace, paths: Paths) -> int:
    engine = SyncEngine(load_config(paths), paths)
    if args.clone is not None:
        if args.identity is None or args.folder is not None or args.remove:
            raise UsageError("claude-sync map IDENTITY --clone PARENT [--url URL] clones it into PARENT/<its name>")
        print(f"cloned {args.identity} into {engine.clone(args.identity, args.clone, args.url)}", file=sys.stderr)
    elif args.identity is not None and (args.folder is not None or args.remove):
        if args.remove:
            engine.unpin(args.identity)
        else:
            engine.pin(args.identity, args.folder)
    elif args.identity is not None:
        raise UsageError("name the folder: claude-sync map IDENTITY FOLDER (or --remove IDENTITY)")
    table = engine.repository_map()
    if args.json:
        _print_json(table)
        return 0
    for r in table:
        where = r["folder"] or "no local checkout"
        print(f"{r['identity']}  ->  {where}" + ("  (pinned)" if r["pinned"] else ""))
    return 0


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(all=args.all, project=args.project, ids=tuple(args.ids))


def cmd_sync(args: argparse.Namespace, paths: Paths) -> int:
    engine = SyncEngine(load_config(paths), paths)
    sel = _selection(args)
    sel.check()

    def progress(i: int, n: int, o: Outcome) -> None:
        if not args.json:
            where = f" {o.project_key}" if o.project_key else ""
            print(f"[{i}/{n}] {o.session_id[:8]}{where}: {o.status}" + (f" ({o.reason})" if o.reason else ""), file=sys.stderr)

    try:
        if args.command == "push":
            summary = engine.push(sel, progress, force=args.force)
        else:
            summary = engine.pull(sel, progress)
    finally:
        engine.close()
    if args.json:
        _print_json(summary.to_dict())
    else:
        for o in summary.outcomes:
            if o.status == "failed":
                print(f"failed: {o.session_id}: {o.reason}")
        print(summary.line())
    return summary.exit_code


def _summary_out(args: argparse.Namespace, summary: Summary) -> int:
    if args.json:
        _print_json(summary.to_dict())
    else:
        for o in summary.outcomes:
            print(f"{o.status}: {o.session_id}: {o.reason}")
        print(summary.line())
    return summary.exit_code


def cmd_delete(args: argparse.Namespace, paths: Paths) -> int:
    engine = SyncEngine(load_config(paths), paths)
    local = args.local or args.everywhere
    remote = args.remote or args.everywhere
    try:
        summary = engine.delete(args.ids, local=local, remote=remote)
    finally:
        engine.close()
    return _summary_out(args, summary)


def cmd_compact(args: argparse.Namespace, paths: Paths) -> int:
    engine = SyncEngine(load_config(paths), paths)
    try:
        summary = engine.compact()
    finally:
        engine.close()
    return _summary_out(args, summary)


def cmd_never_sync(args: argparse.Namespace, paths: Paths) -> int:
    from .never_sync import edit

    if args.action in ("add", "remove") and not (args.project or args.session):
        raise UsageError("name a project (--project KEY_OR_PATTERN) or a session (--session ID)")
    config = edit(paths, load_config(paths), args.action, args.project, args.session)
    listed = {"projects": config.never_sync_projects, "sessions": config.never_sync_sessions}
    if args.json:
        _print_json(listed)
    else:
        for p in listed["projects"]:
            print(f"project  {p}")
        for i in listed["sessions"]:
            print(f"session  {i}")
        if not (listed["projects"] or listed["sessions"]):
            print("nothing on the never-sync list")
    return 0


def cmd_backups(args: argparse.Namespace, paths: Paths) -> int:
    from .backups import list_backups

    found = list_backups(paths, args.session)
    if args.json:
        _print_json([b.to_dict() for b in found])
        return 0
    if not found:
        print("no backups")
    for b in found:
        print(f"{b.id}  {b.session_id[:8]}  {len(b.files)} file(s)  {b.reason}")
    return 0


def cmd_restore(args: argparse.Namespace, paths: Paths) -> int:
    from .backups import restore_backup

    backup, safety = restore_backup(paths, args.backup)
    if safety is not None:
        from .backups import prune

        config = load_config(paths)
        prune(paths, config.backup_max_age_days, config.backup_max_bytes)
    if args.json:
        _print_json({"restored": backup.to_dict(), "replaced_backup": safety.name if safety else None})
        return 0
    print(f"restored {len(backup.files)} file(s) of session {backup.session_id} from {backup.id}")
    if safety:
        print(f"what was there before is in backup {safety.name}")
    return 0


def cmd_lsp(args: argparse.Namespace, paths: Paths) -> int:
    from .lsp import serve

    serve(paths)
    return 0


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    from .demo import run_demo

    return run_demo(keep=args.keep)


def _server_stack() -> None:
    """The sync server's libraries are an optional extra: the client, the hooks and the VS Code
    sidecar do without them."""
    import importlib.util

    from .format.errors import ConfigError

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the sync server needs {' and '.join(missing)}: pip install 'claude-sync-sessions[server]'"
        )


def cmd_serve(args: argparse.Namespace, paths: Paths) -> int:
    _server_stack()
    from .server.admin import store_location
    from .server.serve import serve

    data, database = store_location(args)
    serve(
        data,
        database=database,
        host=args.host,
        port=args.port,
        max_bundle_bytes=args.max_bundle_bytes,
        require_encryption=args.require_encryption,
        drain_seconds=args.drain_seconds,
        read_timeout=args.read_timeout,
    )
    return 0


def cmd_server(args: argparse.Namespace, paths: Paths) -> int:
    _server_stack()
    from .server.admin import run

    return run(args)


def cmd_token(args: argparse.Namespace, paths: Paths) -> int:
    from . import credentials

    url = args.server_url or load_config(paths).server_url
    if not url:
        raise ConfigError("no sync server configured: run `claude-sync configure --backend server --server-url URL`")
    if args.token_command == "set":
        if sys.stdin.isatty():
            import getpass

            text = getpass.getpass(f"token for {url}: ")
        else:
            text = sys.stdin.read()
        where = credentials.set_token(url, text, paths)
        print(f"saved the token for {url} in {where}")
    elif credentials.clear_token(url, paths):
        print(f"removed the token for {url}")
    else:
        print(f"no token was stored for {url}")
    return 0


def _read_secret(prompt: str) -> str:
    """A phrase or passphrase: from stdin (one line is enough), never from arguments or the environment."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline() if not sys.stdin.closed else ""


def cmd_encryption(args: argparse.Namespace, paths: Paths) -> int:
    from .encryption import setup
    from .format.errors import ConfigError

    config = load_config(paths)
    if args.encryption_command == "init":
        passphrase = _read_secret("passphrase: ").rstrip("\r\n") if args.passphrase else None
        done = setup.init(config, paths, passphrase)
        print(f"end-to-end encryption is on for {setup.remote_name(config)} (key {done.key_id})")
        if done.sealed:
            print(f"sealed {done.sealed} session(s) the remote held in plain (older Git commits still hold them: see docs/encryption.md)")
        if done.seal_error:
            print(f"error: the sessions the remote holds in plain could not be sealed yet: {done.seal_error}; "
                  "encryption is on all the same, and the next push seals them", file=sys.stderr)
        print("write down the recovery phrase below: it is the only way to join other devices"
              + (" besides the passphrase" if passphrase else "") + ", and to get the sessions back")
        print(done.phrase)
        return 1 if done.seal_error else 0
    elif args.encryption_command == "join":
        kid = setup.join(config, paths, _read_secret("recovery phrase or passphrase: "))
        print(f"joined: this device holds the key {kid} of {setup.remote_name(config)}")
    elif args.encryption_command == "status":
        st = setup.status(config, paths)
        if args.json:
            _print_json(st.to_dict())
        else:
            state = "on" if st.encrypted else "off"
            print(f"end-to-end encryption: {state} for {st.remote}")
            if st.encrypted:
                print(f"  key {st.key_id}; this device {'has joined' if st.joined else 'has NOT joined (claude-sync encryption join)'}")
                print(f"  passphrase unlock: {'yes' if st.passphrase else 'no (recovery phrase only)'}")
                print(f"  sessions on the remote: {st.sealed} sealed, {st.plain} still plain")
            print(f"  keys are kept in {st.store}")
    else:  # show-phrase
        if not args.yes:
            if sys.stdin.isatty():
                answer = input("show the recovery phrase on screen? anyone who sees it can read every session [y/N] ")
            else:
                answer = sys.stdin.readline()
            if answer.strip().lower() not in ("y", "yes"):
                raise ConfigError("not confirmed: the recovery phrase was not shown")
        print(setup.show_phrase(config, paths))
    return 0


def cmd_hooks(args: argparse.Namespace, paths: Paths) -> int:
    from .hooks import policy as hooks
    from .hooks.settings import SettingsError

    if args.hooks_command == "status":
        st = hooks.status(paths)
        if args.json:
            _print_json(st)
            return 0
        if st["error"]:
            raise SettingsError(st["error"])
        print(f"hooks {'installed' if st['installed'] else 'not installed'} in {st['settings']}")
        for event, state in st["events"].items():
            print(f"  {event}: {state}")
        lc = st["launcher"]
        print(f"  launcher: {lc['path']}" + ("" if lc["exists"] else " (missing)"))
        if lc["python"]:
            print(f"  python: {lc['python']}" + ("" if lc["python_exists"] else " (missing: run `claude-sync hooks install`)"))
        ob = st["outbox"]
        print(f"  waiting to be pushed: {ob['pending']}" + (f" (last error: {ob['last_error']})" if ob["last_error"] else ""))
        print(f"  log: {st['log']}")
        return 0
    if args.hooks_command == "install":
        change = hooks.install(paths, tuple(args.libs or ()), args.python)
    else:
        change = hooks.remove(paths)
    if args.json:
        _print_json(change.to_dict())
    else:
        verb = "installed in" if args.hooks_command == "install" else "removed from"
        print(f"hooks {verb} {change.settings}" if change.changed else f"{change.settings} already up to date")
        if change.backup:
            print(f"  previous file backed up to {change.backup}")
    return 0


def cmd_hook(args: argparse.Namespace, paths: Paths) -> int:
    from .hooks.runner import run_hook

    return run_hook(args.event, paths.data, sys.stdin.buffer, sys.stdout)


_DATA_HELP = "the server's data dir, for SQLite (default: the platform's user data dir for claude-sync-server)"
_DATABASE_HELP = "a postgresql:// URL: keep everything in PostgreSQL (default: $CLAUDE_SYNC_DATABASE_URL; without it, SQLite)"


def _store_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DIR", help=_DATA_HELP)
    p.add_argument("--database", metavar="URL", help=_DATABASE_HELP)


def _server_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    srv = sub.add_parser("server", help="manage the sync server's users, tokens, limits and backups")
    srv_sub = srv.add_subparsers(dest="server_command", required=True)

    x = srv_sub.add_parser("add-user", help="create a user (if new) and print a new token once")
    x.add_argument("name")
    x.add_argument("--token-name", metavar="NAME", help="name the token (e.g. the device); default token-N")
    _store_arguments(x)
    x = srv_sub.add_parser("revoke", help="remove every token of a user, or one (their sessions stay)")
    x.add_argument("name")
    x.add_argument("--token", metavar="NAME", help="only the token of this name")
    _store_arguments(x)
    x = srv_sub.add_parser("tokens", help="list a user's tokens by name")
    x.add_argument("name")
    x.add_argument("--json", action="store_true")
    _store_arguments(x)
    x = srv_sub.add_parser("users", help="list users")
    x.add_argument("--json", action="store_true")
    _store_arguments(x)
    x = srv_sub.add_parser("delete-user", help="delete a user with their tokens and every session of theirs")
    x.add_argument("name")
    x.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    _store_arguments(x)
    x = srv_sub.add_parser("set", help="a user's quota, retention, and end-to-end-encryption flag")
    x.add_argument("name")
    x.add_argument("--quota", metavar="SIZE", help="most bytes of stored bundles (e.g. 500M, 2G), or 'none'")
    x.add_argument("--retention-days", metavar="DAYS", help="delete sessions not pushed for this long, or 'none'")
    enc = x.add_mutually_exclusive_group()
    enc.add_argument("--encrypted", dest="encrypted", action="store_const", const=True, help="mark the account encrypted")
    enc.add_argument("--not-encrypted", dest="encrypted", action="store_const", const=False)
    x.add_argument("--json", action="store_true")
    _store_arguments(x)
    x = srv_sub.add_parser("prune", help="apply every user's retention now (the server also does it hourly)")
    _store_arguments(x)
    x = srv_sub.add_parser("backup", help="copy a running SQLite store to a new folder (PostgreSQL: pg_dump)")
    x.add_argument("target", metavar="DIR")
    _store_arguments(x)
    srv.set_defaults(func=cmd_server)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claude-sync", description="Move Claude Code sessions between machines.")
    p.add_argument("--version", action="version", version=f"claude-sync {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("configure", help="set this device's name, projects root and backend")
    c.add_argument("--device", help="a name for this device (default: the host name)")
    c.add_argument("--projects-root", help="the folder your projects live under, e.g. ~/code")
    c.add_argument("--backend", choices=["git", "server"])
    c.add_argument("--git-url", help="your private repository: SSH, HTTPS or a local path")
    c.add_argument("--server-url", help="a claude-sync server, e.g. https://sync.example.com")
    c.add_argument("--ca-bundle", help="a CA bundle to verify the server's certificate")
    c.add_argument("--hook-note", choices=["on", "off"], help="let the SessionStart hook tell the model what it pulled")
    c.add_argument("--hook-pull-timeout", metavar="SECONDS", help="how long the SessionStart hook waits for its pull")
    c.add_argument(
        "--search-root", action="append", metavar="DIR",
        help="another folder with git checkouts, beside the projects root and home (repeat for more; replaces the list)",
    )
    c.add_argument(
        "--sync-memory", action="append", metavar="PROJECT_KEY",
        help="also carry this project's memory (projects/<enc>/memory/) on push and pull; off by default (repeatable)",
    )
    c.add_argument("--no-sync-memory", action="append", metavar="PROJECT_KEY", help="stop carrying this project's memory")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_configure)

    s = sub.add_parser("sessions", help="list local sessions, grouped by project")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sessions)

    r = sub.add_parser("remote", help="list the sessions on the remote")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_remote)

    for name, verb in (("push", "upload"), ("pull", "download")):
        x = sub.add_parser(name, help=f"{verb} sessions")
        g = x.add_mutually_exclusive_group()
        g.add_argument("--all", action="store_true", help=f"{verb} every session")
        g.add_argument("--project", metavar="KEY", help=f"{verb} the sessions of one project: a key (acme/api), a repository URL, or a folder here")
        x.add_argument("ids", nargs="*", metavar="SESSION_ID_OR_PREFIX")
        x.add_argument("--json", action="store_true")
        if name == "push":
            x.add_argument("--force", action="store_true", help="replace remote copies even when they are longer")
        x.set_defaults(func=cmd_sync)

    de = sub.add_parser("delete", help="delete sessions here (into the backups), on the remote (a tombstone), or both")
    where = de.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="move the copy here into the backups; the remote keeps it")
    where.add_argument("--remote", action="store_true", help="leave a tombstone on the remote; keep the copy here, unsynced")
    where.add_argument("--everywhere", action="store_true", help="both: every device moves its copy into its backups")
    de.add_argument("ids", nargs="+", metavar="SESSION_ID_OR_PREFIX")
    de.add_argument("--json", action="store_true")
    de.set_defaults(func=cmd_delete)

    cp = sub.add_parser("compact", help="remove expired tombstones from the remote (config tombstone_days)")
    cp.add_argument("--json", action="store_true")
    cp.set_defaults(func=cmd_compact)

    ns = sub.add_parser("never-sync", help="projects and sessions that never leave this device")
    ns.add_argument("action", choices=["list", "add", "remove"], nargs="?", default="list")
    ns.add_argument("--project", action="append", default=[], metavar="KEY_OR_PATTERN",
                    help="a project key, or a glob of keys or working directories (repeatable)")
    ns.add_argument("--session", action="append", default=[], metavar="ID", help="one session id (repeatable)")
    ns.add_argument("--json", action="store_true")
    ns.set_defaults(func=cmd_never_sync)

    bk = sub.add_parser("backups", help="list the local copies that pulls replaced")
    bk.add_argument("--session", metavar="ID_OR_PREFIX", help="only the backups of this session")
    bk.add_argument("--json", action="store_true")
    bk.set_defaults(func=cmd_backups)

    rs = sub.add_parser("restore", help="put a backup's files back (what is there now is backed up first)")
    rs.add_argument("backup", metavar="BACKUP_ID_OR_PREFIX")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=cmd_restore)

    ls = sub.add_parser("lsp", help="serve the VS Code extension: JSON-RPC over stdin/stdout")
    ls.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)  # what language clients append
    ls.set_defaults(func=cmd_lsp)

    d = sub.add_parser("demo", help="move a sample session between two simulated devices, offline")
    d.add_argument("--keep", action="store_true", help="keep the demo folder")
    d.set_defaults(func=cmd_demo)

    sv = sub.add_parser("serve", help="run the self-hosted sync server")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8787)
    _store_arguments(sv)
    sv.add_argument("--max-bundle-bytes", type=int, default=1024**3, metavar="N", help="largest upload accepted")
    sv.add_argument(
        "--require-encryption",
        action="store_true",
        help="admit only accounts marked end-to-end encrypted (`server set USER --encrypted`)",
    )
    sv.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, how long requests in flight may take to finish (default 30)",
    )
    sv.add_argument(
        "--read-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="close a connection whose request headers take longer, or whose body pauses longer (default 30)",
    )
    sv.set_defaults(func=cmd_serve)

    _server_parsers(sub)

    tk = sub.add_parser("token", help="store or forget this device's sync server token")
    tk_sub = tk.add_subparsers(dest="token_command", required=True)
    for name, text in (("set", "read the token from stdin and store it (keyring, else a private file)"),
                       ("clear", "forget the stored token")):
        x = tk_sub.add_parser(name, help=text)
        x.add_argument("--server-url", help="the server the token is for (default: the configured one)")
    tk.set_defaults(func=cmd_token)

    en = sub.add_parser("encryption", help="end-to-end encryption: the Git host and the server see only ciphertext")
    en_sub = en.add_subparsers(dest="encryption_command", required=True)
    x = en_sub.add_parser("init", help="turn it on for the configured remote; prints the recovery phrase last")
    x.add_argument("--passphrase", action="store_true", help="also unlock with a passphrase, read from stdin")
    en_sub.add_parser("join", help="join from another device: the recovery phrase or passphrase on stdin")
    x = en_sub.add_parser("status", help="whether the remote is encrypted and this device has joined")
    x.add_argument("--json", action="store_true")
    x = en_sub.add_parser("show-phrase", help="show the recovery phrase again (asks for confirmation)")
    x.add_argument("--yes", action="store_true", help="confirmed already: do not ask")
    en.set_defaults(func=cmd_encryption)

    hk = sub.add_parser("hooks", help="sync automatically: Claude Code hooks that push at session end, pull at start")
    hk_sub = hk.add_subparsers(dest="hooks_command", required=True)
    hi = hk_sub.add_parser("install", help="add the hooks to the client's settings.json (again: refreshes them)")
    hi.add_argument("--libs", action="append", metavar="DIR", help="a folder the launcher puts on PYTHONPATH (repeatable)")
    hi.add_argument("--python", metavar="PATH", help="the interpreter the hooks run (default: this one)")
    hk_sub.add_parser("remove", help="take the hooks out of settings.json, leaving the rest as it was")
    hk_sub.add_parser("status", help="whether the hooks are installed, and what waits to be pushed")
    for x in hk_sub.choices.values():
        x.add_argument("--json", action="store_true")
    hk.set_defaults(func=cmd_hooks)

    # Hidden: a hook run by hand, payload on stdin. The launcher calls claude_sync.hook_runner
    # directly instead, which skips this module's imports and starts several times faster.
    hook = sub.add_parser("hook")
    hook.add_argument("event", choices=["session-start", "session-end"])
    hook.set_defaults(func=cmd_hook)
    m = sub.add_parser("map", help="where this device keeps each repository's checkout; pin one to a folder")
    m.add_argument("identity", nargs="?", metavar="IDENTITY", help="a repository: its URL in any spelling, or git:KEY")
    m.add_argument("folder", nargs="?", metavar="FOLDER", help="this device's checkout of it (remembered)")
    m.add_argument("--remove", action="store_true", help="forget the folder pinned for IDENTITY")
    m.add_argument("--clone", metavar="PARENT", help="no checkout here: clone IDENTITY into PARENT/<its name> and pin it")
    m.add_argument("--url", help="with --clone: the URL to clone from (default: HTTPS on its host, or its local path)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_map)

    sub.metavar = "{" + ",".join(name for name in sub.choices if name != "hook") + "}"
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    streams = sys.stdout, sys.stderr
    if args.command not in ("lsp", "hook"):  # those speak JSON-RPC and JSON to a program, not to a terminal
        sys.stdout, sys.stderr = _VisibleControls(sys.stdout), _VisibleControls(sys.stderr)  # type: ignore[assignment]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    paths = Paths.current()
    try:
        return int(args.func(args, paths))
    except SyncError as e:
        print(f"claude-sync: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("claude-sync: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout, sys.stderr = streams


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
