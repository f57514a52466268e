"""A real PostgreSQL server of the tests' own: a throw-away cluster on a free port on 127.0.0.1.

`initdb` refuses to run as root, so as root the cluster belongs to the `postgres` user
that Debian's package creates (`runuser -u postgres`). The binaries are looked for on
PATH, then where Debian (/usr/lib/postgresql/N/bin) and source builds put them.
No pytest here: the benchmarks use it too.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from devtools.server_process import free_port

_TOOLS = ("initdb", "pg_ctl", "pg_dump", "pg_restore")


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl, pg_dump and pg_restore, or None."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
        candidates.append(Path(on_path).parent)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0), reverse=True)
    candidates += [Path(p) for p in versions]
    candidates += [Path("/usr/local/pgsql/bin"), Path("/opt/homebrew/bin"), Path("/usr/local/bin")]
    for d in candidates:
        if all((d / t).is_file() and os.access(d / t, os.X_OK) for t in _TOOLS):
            return d
    return None


class PostgresCluster:
    """initdb, start, stop; databases created on demand; `url(db)` to connect as the superuser."""

    def __init__(self, bindir: Path, *, durable: bool = True) -> None:
        self.bindir = bindir
        # Tests never crash the machine: without fsync their cluster is faster; benchmarks keep it.
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="claude-sync-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._as_postgres = os.geteuid() == 0 if hasattr(os, "geteuid") else False
        self._names = itertools.count(1)

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = list(cmd)
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=check, stdin=subprocess.DEVNULL, timeout=120)

    def start(self) -> PostgresCluster:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        for _attempt in range(5):  # another process may take the free port first
            self.port = free_port()
            opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
            if not self.durable:
                opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            r = self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                opts,
                "-l",
                str(self.root / "log"),
                "-w",
                "start",
                check=False,
            )
            if r.returncode == 0:
                return self
        raise RuntimeError(f"PostgreSQL did not start: {r.stderr}\n{self.log()}")

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def log(self) -> str:
        p = self.root / "log"
        return p.read_text("utf-8", "replace") if p.exists() else ""

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"test{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # our own name
        return self.url(name)

    def tool(self, name: str) -> str:
        return str(self.bindir / name)
