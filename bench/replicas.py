"""The sync server at team scale: replicas on one PostgreSQL beside one SQLite process, under many clients.

    .venv/bin/python -m bench replicas [--clients 50,100] [--rounds 4] [--write]

Every configuration starts fresh: a new database (or data dir), new server processes.
Each client is one device of a team (five devices per user); all run at once, each:

* pushes its own session whole (a transcript of `--session-kb` KB, gzip'd in the bundle),
* then, `--rounds` times: appends 10 KB to it (a delta against the stored copy), appends
  one line to the session its user's five devices share (on 409 it downloads what the
  server holds, adds its line to that, and tries again: what `claude-sync push` does after
  re-deciding), and pulls another device's session whole.

Clients talk to the replicas in turn (client i to replica i mod n: a load balancer's
round robin). Afterwards every session is read back through another replica and checked:
the bundle's SHA-256 matches the listing, each own session is exactly what its device
last stored, and every line a shared session acknowledged is in it once. Figures:
writes per second, MB/s uploaded, p50/p99 of the writes, CPU of the servers and of
PostgreSQL. PostgreSQL comes from devtools/postgres.py (a cluster of its own).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from claude_sync.format import version, wire

from .measure import cores, cpu_seconds, percentile
from .report import Result, markdown, update_benchmarks
from .server_proc import ServerProcess

GROUP = 5  # devices per user: they share one session
APPEND_BYTES = 10 * 1024
_WORDS = (
    "the a to of and in is it that for on with as this was be are by at or from file test function "
    "return error value list server session push pull delta bundle replica database token user device"
).split()


def _lines(rng: random.Random, n_bytes: int, tag: str) -> bytes:
    """JSON lines of about `n_bytes`, compressible like real transcripts (about 4x)."""
    out = bytearray()
    n = 0
    while len(out) < n_bytes:
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 60)))
        out += json.dumps({"type": "assistant", "tag": tag, "n": n, "message": {"content": text}}).encode() + b"\n"
        n += 1
    return bytes(out)


def _bundle(sid: str, transcript: bytes) -> object:
    from claude_sync.format.bundle import Bundle, Manifest

    return Bundle.build(
        Manifest(session_id=sid, project_key="team/app", device="bench"), {"transcript.jsonl": transcript}
    )


@dataclass
class Client:
    index: int
    user: str
    token: str
    url: str
    own: str  # session id
    shared: str
    transcript: bytes  # what the server should hold of `own`
    # The bundle of `own` the device last stored: as a device remembers the manifest of what it
    # pushed (backends/http.py), it diffs against this instead of building the old version again.
    stored: Any = None
    full: bytes = b""  # the first push, built before the clock starts
    acknowledged: list[bytes] = field(default_factory=list)  # lines stored in `shared`
    latencies: list[float] = field(default_factory=list)  # every write, retries included
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    uploaded: int = 0


def _append(c: Client, http: httpx.Client, sid: str, have: Any, want: Any, base: str) -> httpx.Response:
    """POST the delta from the bundle `have` (what the device knows the server holds) to `want`."""
    from claude_sync.format import delta

    planned = delta.diff(have.manifest.files, want, logs_must_extend=False)
    assert planned is not None
    body = delta.encode(*planned)
    c.uploaded += len(body)
    return http.post(
        f"/api/sessions/{sid}/append",
        content=body,
        params={"base": base},
        headers={"X-Delta-SHA256": hashlib.sha256(body).hexdigest(), "Content-Type": "application/gzip"},
    )


def _digest(bundle: Any) -> str:
    from claude_sync.format.bundle import content_digest

    return content_digest(bundle)


def _work(c: Client, rounds: int, peers: list[str], start: threading.Barrier, seed: int) -> None:
    rng = random.Random(f"{seed}:{c.index}")
    # What the device's Claude Code writes between its pushes: made before the clock starts.
    appended = [_lines(rng, APPEND_BYTES, f"{c.index}/{n}") for n in range(rounds)]
    as_device = {"Authorization": f"Bearer {c.token}", wire.FORMAT: str(version.FORMAT_VERSION)}
    with httpx.Client(base_url=c.url, timeout=300, headers=as_device) as http:
        start.wait()

        def write(fn):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            r = fn()
            c.latencies.append(time.perf_counter() - t)
            return r

        r = write(
            lambda: http.post(
                "/api/sessions/push",
                content=c.full,
                headers={"X-Bundle-SHA256": hashlib.sha256(c.full).hexdigest(), "Content-Type": "application/gzip"},
            )
        )
        c.uploaded += len(c.full)
        if r.status_code != 200:
            c.errors.append(f"push: {r.status_code} {r.text[:200]}")
            return
        for n in range(rounds):
            more = c.transcript + appended[n]
            # Timed from reading the session as it is now (its bundle) to the server's answer.
            t = time.perf_counter()
            want = _bundle(c.own, more)
            r = _append(c, http, c.own, c.stored, want, _digest(c.stored))
            c.latencies.append(time.perf_counter() - t)
            if r.status_code == 200:
                c.transcript, c.stored = more, want
            else:
                c.errors.append(f"append: {r.status_code} {r.text[:200]}")
            line = json.dumps({"type": "user", "device": c.index, "round": n, "pad": "x" * 1500}).encode() + b"\n"
            for _attempt in range(50):  # until it lands on top of whatever the others stored
                got = http.get(f"/api/sessions/{c.shared}")
                held = _bundle_of(got) if got.status_code == 200 else None  # verified, as a device pulls
                base = got.headers.get("X-Content-SHA256") if got.status_code == 200 else None
                if held is None or base is None:
                    data = _bundle(c.shared, line).to_bytes()  # type: ignore[attr-defined]
                    c.uploaded += len(data)
                    r = write(
                        lambda data=data: http.post(
                            "/api/sessions/push",
                            content=data,
                            headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()},
                        )
                    )
                else:
                    r = write(
                        lambda held=held, base=base, line=line: _append(
                            c, http, c.shared, held, _bundle(c.shared, held.files["transcript.jsonl"] + line), base
                        )
                    )
                if r.status_code == 200:
                    c.acknowledged.append(line)
                    break
                if r.status_code != 409:
                    c.errors.append(f"shared append: {r.status_code} {r.text[:200]}")
                    break
                c.conflicts += 1
            other = rng.choice(peers)
            got = http.get(f"/api/sessions/{other}")
            if got.status_code == 200 and hashlib.sha256(got.content).hexdigest() != got.headers["X-Bundle-SHA256"]:
                c.errors.append(f"pull of {other}: checksum mismatch")


def _bundle_of(resp: httpx.Response) -> Any:
    from claude_sync.format.bundle import Bundle

    return Bundle.from_bytes(resp.content, resp.headers["X-Bundle-SHA256"])


def _transcript_of(resp: httpx.Response) -> bytes:
    return bytes(_bundle_of(resp).files["transcript.jsonl"])


def _verify(clients: list[Client], url_of: dict[str, str]) -> tuple[int, int]:
    """(sessions checked, problems): read everything back through another replica than the writer's."""
    problems = 0
    checked = 0
    by_user: dict[str, list[Client]] = {}
    for c in clients:
        by_user.setdefault(c.user, []).append(c)
    for user, group in by_user.items():
        token = group[0].token
        as_device = {"Authorization": f"Bearer {token}", wire.FORMAT: str(version.FORMAT_VERSION)}
        with httpx.Client(base_url=url_of[user], timeout=300, headers=as_device) as http:
            listed = {e["session_id"]: e for e in http.get("/api/sessions", params={"limit": 1000}).json()["sessions"]}
            for c in group:
                got = http.get(f"/api/sessions/{c.own}")
                checked += 1
                ok = (
                    got.status_code == 200
                    and hashlib.sha256(got.content).hexdigest() == listed[c.own]["sha256"]
                    and _transcript_of(got) == c.transcript
                )
                problems += not ok
            shared = group[0].shared
            got = http.get(f"/api/sessions/{shared}")
            checked += 1
            text = _transcript_of(got) if got.status_code == 200 else b""
            lines = text.splitlines(keepends=True)
            for c in group:
                for line in c.acknowledged:
                    problems += lines.count(line) != 1
    return checked, problems


def _postgres_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster and its children (the backends, the WAL writer, ...)."""
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(d.name), int(fields[1])
        if pid == postmaster or ppid == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Outcome:
    config: str
    clients: int
    writes: int
    wall: float
    mb: float
    p50: float
    p99: float
    conflicts: int
    errors: int
    checked: int
    problems: int
    server_cpu: float
    pg_cpu: float | None
    client_cpu: float  # the load generator's own threads, on the same cores
    load: float  # the machine's 1-minute load average at the end (other work shares the cores)

    @property
    def writes_per_s(self) -> float:
        return self.writes / self.wall


def run_config(
    work: Path, clients_n: int, rounds: int, session_kb: int, seed: int, *, replicas: int, cluster: object | None
) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_")}
    env["HOME"] = str(work / "home")
    (work / "home").mkdir(parents=True, exist_ok=True)
    database = cluster.create_database(f"bench{uuid.uuid4().hex[:8]}") if cluster else None  # type: ignore[attr-defined]
    servers = [
        ServerProcess(work / f"server{i}", env, max_bundle_bytes=256 << 20, database=database) for i in range(replicas)
    ]
    rng = random.Random(seed)
    for s in servers:
        s.start()
    try:
        users = [f"team{g}" for g in range((clients_n + GROUP - 1) // GROUP)]
        tokens = {u: servers[0].add_user(u) for u in users}
        shared = {u: str(uuid.UUID(int=rng.getrandbits(128), version=4)) for u in users}
        clients = []
        for i in range(clients_n):
            user = users[i // GROUP]
            sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            text = _lines(rng, session_kb * 1024, f"{i}")
            c = Client(i, user, tokens[user], servers[i % replicas].url, sid, shared[user], text)
            c.stored = _bundle(sid, text)
            c.full = c.stored.to_bytes()
            clients.append(c)
        peers = {u: [c.own for c in clients if c.user == u] for u in users}
        start = threading.Barrier(clients_n + 1)
        threads = [threading.Thread(target=_work, args=(c, rounds, peers[c.user], start, seed)) for c in clients]
        for t in threads:
            t.start()
        cpu0 = sum(cpu_seconds(s.pid) for s in servers)
        pg0 = _postgres_cpu(cluster.postmaster_pid()) if cluster else None  # type: ignore[attr-defined]
        start.wait()
        t0, c0 = time.perf_counter(), time.process_time()
        for t in threads:
            t.join()
        wall, client_cpu = time.perf_counter() - t0, time.process_time() - c0
        load = os.getloadavg()[0]
        server_cpu = sum(cpu_seconds(s.pid) for s in servers) - cpu0
        pg_cpu = _postgres_cpu(cluster.postmaster_pid()) - pg0 if cluster and pg0 is not None else None  # type: ignore[attr-defined]
        # read back through another replica than each client wrote to
        url_of = {u: servers[(users.index(u) + 1) % replicas].url for u in users}
        checked, problems = _verify(clients, url_of)
    finally:
        for s in servers:
            s.stop()
    lat = [x for c in clients for x in c.latencies]
    return Outcome(
        f"{replicas} replica{'s' if replicas > 1 else ''} on PostgreSQL" if cluster else "1 process on SQLite",
        clients_n,
        len(lat),
        wall,
        sum(c.uploaded for c in clients) / 2**20,
        percentile(lat, 50),
        percentile(lat, 99),
        sum(c.conflicts for c in clients),
        sum(len(c.errors) for c in clients),
        checked,
        problems,
        server_cpu,
        pg_cpu,
        client_cpu,
        load,
    )


def results(outcomes: list[Outcome], target_clients: tuple[int, int]) -> list[Result]:
    out: list[Result] = []
    at, high = target_clients
    sqlite = {o.clients: o for o in outcomes if "SQLite" in o.config}
    for o in outcomes:
        base = sqlite.get(o.clients) if "PostgreSQL" in o.config else None
        key = f"7{'p' if base else 's'}{o.clients}"
        note = (
            f"{o.writes} writes ({o.conflicts} answered 409 and retried) in {o.wall:.1f} s, {o.mb:.1f} MB up; "
            f"p50 {o.p50:.3f} s; CPU: servers {o.server_cpu:.1f} s ({o.server_cpu / o.writes * 1000:.0f} ms a write)"
            + (f", PostgreSQL {o.pg_cpu:.1f} s" if o.pg_cpu is not None else "")
            + f", the clients {o.client_cpu:.1f} s, of {cores()} cores × {o.wall:.1f} s; load average {o.load:.1f}"
            + f"; read back {o.checked} sessions: {o.problems} lost or wrong; {o.errors} errors"
        )
        throughput_target = ""
        met: bool | None = None
        if base is not None and o.clients == at:
            throughput_target = "≥ SQLite's"
            met = o.writes_per_s >= base.writes_per_s and o.problems == 0 and o.errors == 0
        out.append(
            Result(
                key + "t",
                f"{o.config}, {o.clients} clients: writes/s",
                o.writes_per_s,
                "writes/s",
                "1 SQLite process" if base else "",
                base.writes_per_s if base else None,
                throughput_target,
                met,
                note,
            )
        )
        p99_target = "p99 < 1 s" if o.clients >= high and base is not None else ""
        out.append(
            Result(
                key + "l",
                f"{o.config}, {o.clients} clients: write latency p99",
                o.p99,
                "s",
                "1 SQLite process" if base else "",
                base.p99 if base else None,
                p99_target,
                (o.p99 < 1.0 and o.problems == 0) if p99_target else None,
            )
        )
    return out


def main(argv: list[str]) -> int:
    from devtools.postgres import PostgresCluster, find_bindir

    p = argparse.ArgumentParser(prog="python -m bench replicas", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", default="50,100", help="comma-separated client counts (default 50,100)")
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4, help="rounds of append, shared append and pull per client")
    p.add_argument("--session-kb", type=int, default=300, help="each client's transcript before its appends")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--write", action="store_true", help="put the results table into BENCHMARKS.md")
    args = p.parse_args(argv)
    counts = [int(x) for x in args.clients.split(",")]
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL is not installed (scripts/setup.sh installs it as root)", file=sys.stderr)
        return 2
    cluster = PostgresCluster(bindir).start()
    work = Path(tempfile.mkdtemp(prefix="claude-sync-bench-replicas-"))
    outcomes: list[Outcome] = []
    try:
        for n in counts:
            for replicas, on_pg in ((1, False), (args.replicas, True)):
                o = run_config(
                    work / f"{n}-{replicas}-{on_pg}", n, args.rounds, args.session_kb, args.seed,
                    replicas=replicas, cluster=cluster if on_pg else None,
                )  # fmt: skip
                outcomes.append(o)
                print(
                    f"{o.config}, {n} clients: {o.writes_per_s:.1f} writes/s, {o.mb / o.wall:.1f} MB/s, "
                    f"p50 {o.p50:.3f} s, p99 {o.p99:.3f} s, {o.conflicts} conflicts, {o.errors} errors, "
                    f"{o.problems} lost/wrong of {o.checked}; CPU server {o.server_cpu:.0f} s"
                    + (f", postgres {o.pg_cpu:.0f} s" if o.pg_cpu is not None else "")
                    + f", clients {o.client_cpu:.0f} s; load {o.load:.1f}",
                    flush=True,
                )
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = results(outcomes, (counts[0], counts[-1]))
    command = ".venv/bin/python -m bench replicas " + " ".join(argv)
    md = (
        markdown(f"replicas-{args.replicas}", args.seed, command.strip(), {}, table, {})
        + f"\n{cores()} cores shared by the clients, the servers and PostgreSQL.\n"
    )
    print(md)
    if args.write:
        update_benchmarks(Path(__file__).resolve().parents[1] / "BENCHMARKS.md", f"replicas-{args.replicas}", md)
    lost = sum(o.problems for o in outcomes)
    return 1 if lost else 0
