"""How much database a user's sessions take: the corpus pushed to PostgreSQL and to SQLite, measured.

    .venv/bin/python -m bench sizing [--preset small]

The corpus (bench/corpus.py) is one user's sessions over 180 days, pushed whole: each
session's latest version, which is all a server keeps. Reported: the raw session bytes,
the bundles' bytes, PostgreSQL's database growth (tables, indexes, TOAST, WAL not
included) before and after VACUUM, the SQLite data dir, and so the size per user-month
at this corpus's rate of use.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg

from .context import Run
from .corpus import ensure_corpus
from .env import BenchEnv, fresh_dir
from .measure import tree_bytes
from .presets import PRESETS
from .runner import DEFAULT_OUT
from .server_proc import ServerProcess

CORPUS_DAYS = 180  # bench/corpus.py spreads the sessions' starts over this many days


def _db_bytes(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as con:
        row = con.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def _bundle_bytes(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as con:
        row = con.execute("SELECT COALESCE(SUM(size), 0) FROM blobs").fetchone()
    assert row is not None
    return int(row[0])


def _push_corpus(ctx: Run, name: str, server: ServerProcess) -> None:
    from claude_sync import credentials

    env = ctx.corpus_env(f"device-{name}")
    fresh_dir(env.data)
    token = server.add_user("user")
    env.configure(backend="server", server_url=server.url)
    credentials.set_token(server.url, token, env.paths)
    env.cli("push", "--all", "--json")


def main(argv: list[str]) -> int:
    from devtools.postgres import PostgresCluster, find_bindir

    p = argparse.ArgumentParser(prog="python -m bench sizing", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    preset = PRESETS[args.preset]
    out = DEFAULT_OUT.resolve()
    corpus = ensure_corpus(out, preset, args.seed)
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL is not installed (scripts/setup.sh installs it as root)", file=sys.stderr)
        return 2
    cluster = PostgresCluster(bindir).start()
    work = Path(tempfile.mkdtemp(prefix="claude-sync-bench-sizing-"))
    ctx = Run(preset, args.seed, work, corpus, print)
    try:
        url = cluster.create_database("sizing")
        empty = _db_bytes(url)
        env_vars = BenchEnv(work / "home", work / "home" / ".sync").environ()
        figures: dict[str, object] = {}
        for store in ("postgres", "sqlite"):
            server = ServerProcess(work / f"{store}-data", env_vars, database=url if store == "postgres" else None)
            with server:
                _push_corpus(ctx, store, server)
                if store == "postgres":
                    figures["pg_after_push"] = _db_bytes(url) - empty
                    with psycopg.connect(url, autocommit=True) as con:
                        con.execute("VACUUM ANALYZE")
                    figures["pg_after_vacuum"] = _db_bytes(url) - empty
                    figures["bundles"] = _bundle_bytes(url)
                else:
                    figures["sqlite"] = tree_bytes(server.data)
        info = corpus.info()
        figures["raw"] = info["bytes"]
        figures["sessions"] = info["sessions"]
        months = CORPUS_DAYS / 30
        per_month = {k: v / months for k, v in figures.items() if isinstance(v, int) and k != "sessions"}
        print(json.dumps({"preset": args.preset, "figures": figures, "per_user_month": per_month}, indent=1))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0
