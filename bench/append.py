"""Figure 4: append 10 KB to a 50 MB session and push it again: what the remote takes in, against gzip of the 10 KB."""

from __future__ import annotations

import gzip
import json
import random
import uuid

import httpx

from .context import Run
from .corpus import append_turn, write_session
from .env import BenchEnv, bare_remote, fresh_dir
from .measure import timed, tree_bytes
from .report import Result
from .server_proc import ServerProcess


class CountingTransport(httpx.HTTPTransport):
    """Counts what the client sends: request lines, headers and bodies."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        head = len(request.method) + len(str(request.url.raw_path)) + 12
        head += sum(len(k) + len(v) + 4 for k, v in request.headers.raw)
        self.sent += head + len(body)
        return super().handle_request(request)


def filler(claude, cwd: str, count: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    """Small sessions that give the repository the fan-out trees of a real one."""
    from claude_sync.claude_home import project_folder_name

    rng = random.Random(f"{seed}:filler")
    folder = claude / "projects" / project_folder_name(cwd)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        recs = [
            {
                "type": "user",
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "parentUuid": None,
                "cwd": cwd,
                "sessionId": sid,
                "timestamp": f"2026-06-01T10:00:{i % 60:02d}.000Z",
                "message": {"role": "user", "content": f"question {i} about {cwd}/src/app.py"},
            },
            {
                "type": "assistant",
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "cwd": cwd,
                "sessionId": sid,
                "timestamp": f"2026-06-01T10:01:{i % 60:02d}.000Z",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "answer " * 20}]},
            },
        ]
        (folder / f"{sid}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def run(ctx: Run) -> list[Result]:
    return measure(ctx)


def measure(ctx: Run, *, encrypted: bool = False, figure: str = "4") -> list[Result]:
    """The append figures; `encrypted`: with end-to-end encryption on for both remotes (figure 10)."""
    from claude_sync import credentials
    from claude_sync.backends.http import HttpBackend
    from claude_sync.encryption import setup
    from claude_sync.engine import DONE, Selection

    p = ctx.preset
    work = fresh_dir(ctx.out / ("append-encrypted" if encrypted else "append"))
    env = BenchEnv(work / "home", work / "home" / ".claude-sync-sessions")
    remote = bare_remote(work / "remote.git")
    env.configure(git_url=str(remote))
    if encrypted:
        env.cli("encryption", "init")
    cwd = env.projects_root / "acme" / "big"
    cwd.mkdir(parents=True)
    sid, transcript = write_session(env.claude, str(cwd), p.big_session_bytes, ctx.seed)
    filler(env.claude, str(env.projects_root / "acme" / "other"), p.sessions, ctx.seed)
    big = sum(f.stat().st_size for f in env.claude.rglob("*") if f.is_file() and sid in str(f))  # all its files
    ts = transcript.stat().st_size

    server = ServerProcess(work / "server-data", env.environ())
    token = server.add_user("bench")
    with server:
        counting = CountingTransport()
        http_env = BenchEnv(env.home, work / "server-client", claude=env.claude, projects_root=env.projects_root)
        http_env.configure(backend="server", server_url=server.url)
        if encrypted:
            credentials.set_token(server.url, token, http_env.paths)
            setup.init(http_env.config, http_env.paths)  # type: ignore[arg-type]

        def server_backend():  # type: ignore[no-untyped-def]
            inner = HttpBackend(server.url, lambda: token, transport=counting)
            return setup.wrap(inner, http_env.config, http_env.paths) if encrypted else inner  # type: ignore[arg-type]

        def push_git() -> int:
            engine = env.engine()
            try:
                return engine.push(Selection(ids=(sid,))).count(DONE)
            finally:
                engine.close()

        def push_server() -> int:
            engine = http_env.engine(server_backend())
            try:
                return engine.push(Selection(ids=(sid,))).count(DONE)
            finally:
                engine.close()

        engine = env.engine()
        try:
            engine.push(Selection(all=True))  # the whole repository first, untimed
        finally:
            engine.close()
        assert push_server() == 1
        first_bundle = counting.sent

        appended = append_turn(transcript, sid, str(cwd), p.append_bytes, ctx.seed)
        before = tree_bytes(remote / "objects")
        git_time, pushed = timed(push_git)
        growth = tree_bytes(remote / "objects") - before
        counting.sent = 0
        server_time, pushed_server = timed(push_server)
        sent = counting.sent
    assert pushed == 1 and pushed_server == 1, "the appended session was not pushed"
    gz = len(gzip.compress(appended, 6, mtime=0))
    ctx.log(f"  appended {len(appended)} B (gzip {gz} B): git +{growth} B in {git_time:.2f} s; server sent {sent} B")
    base = f"gzip of the {len(appended) / 1024:.1f} KB appended"
    sealed = ", end-to-end encrypted" if encrypted else ""
    return [
        Result(
            f"{figure}a",
            f"Git repository growth after appending to a {big / 2**20:.0f} MB session ({ts / 2**20:.0f} MB transcript){sealed}",
            growth,
            "B",
            base,
            gz,
            "≤ 3× gzip",
            growth <= 3 * gz,
            f"the incremental push took {git_time:.2f} s; the repository also holds {p.sessions} small sessions",
        ),
        Result(
            f"{figure}b",
            f"bytes sent to the server after appending to the same session{sealed}",
            sent,
            "B",
            base,
            gz,
            "≤ 3× gzip",
            sent <= 3 * gz,
            f"the first push sent {first_bundle / 2**20:.1f} MB; this one took {server_time:.2f} s"
            + (
                ""
                if sent <= 3 * gz
                else "; the server protocol sent the whole bundle again (only what is new "
                "travels with the append protocol of the log/delta issue)"
            ),
        ),
    ]
