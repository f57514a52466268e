"""The `claude-sync` command line: the contract the extension, hooks and tests rely on.

Exit codes: 0 all succeeded, 1 some sessions failed, 2 usage or configuration error.
Progress goes to stderr; results (and --json) to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from . import __version__
from .config import Config, Paths, default_device_name, load_config, save_config
from .engine import Outcome, Selection, SyncEngine
from .errors import ConfigError, SyncError
from .listing import human_size, local_groups, remote_dicts, short_time


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def cmd_configure(args: argparse.Namespace, paths: Paths) -> int:
    try:
        current = load_config(paths).model_dump()
    except ConfigError:
        if not paths.config_file.exists():
            current = {}
        else:
            raise
    updates = {
        "device": args.device,
        "projects_root": os.path.abspath(os.path.expanduser(args.projects_root)) if args.projects_root else None,
        "backend": args.backend,
        "git_url": args.git_url,
        "server_url": args.server_url,
        "ca_bundle": args.ca_bundle,
    }
    merged = {**current, **{k: v for k, v in updates.items() if v is not None}}
    merged.setdefault("device", default_device_name())
    if "projects_root" not in merged:
        raise ConfigError("the first `configure` needs --projects-root DIR (where your projects live)")
    if args.git_url and not args.backend and not current.get("backend"):
        merged["backend"] = "git"
    if args.server_url and not args.backend and "git_url" not in current:
        merged["backend"] = "server"
    try:
        config = Config.model_validate(merged)
    except ValueError as e:
        raise ConfigError(f"invalid configuration: {e}") from e
    f = save_config(config, paths)
    if args.json:
        _print_json(config.model_dump(mode="json"))
    else:
        print(f"saved {f}")
        for k, v in config.model_dump().items():
            if v is not None and k != "version":
                print(f"  {k}: {v}")
    return 0


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
        entries = remote_dicts(engine.remote())
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
            print(project)
        print(
            f"  {e['session_id'][:8]}  {short_time(e['last_modified'])}  {e['device']:<12}"
            f"  {human_size(e['size']):>9}  {e['title']}"
        )
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
        summary = (engine.push if args.command == "push" else engine.pull)(sel, progress)
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


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    from .demo import run_demo

    return run_demo(keep=args.keep)


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
        g.add_argument("--project", metavar="KEY", help=f"{verb} the sessions of one project (e.g. acme/api)")
        x.add_argument("ids", nargs="*", metavar="SESSION_ID_OR_PREFIX")
        x.add_argument("--json", action="store_true")
        x.set_defaults(func=cmd_sync)

    d = sub.add_parser("demo", help="move a sample session between two simulated devices, offline")
    d.add_argument("--keep", action="store_true", help="keep the demo folder")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
