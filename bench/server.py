"""Figure 6: the sync server under 50 concurrent pushers, and its memory while one huge bundle arrives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from claude_sync.format import version, wire

from .context import Run
from .env import BenchEnv, fresh_dir
from .measure import RssSampler, cpu_seconds, percentile, rss_kb
from .report import Result
from .server_proc import ServerProcess

CHUNK = 4 << 20


def _transcript_text(ctx: Run) -> bytes:
    """Realistic transcript bytes to fill the bundles with (the corpus's largest transcripts, concatenated)."""
    files = sorted(ctx.corpus.claude.glob("projects/*/*.jsonl"), key=lambda p: -p.stat().st_size)
    out = b""
    for f in files:
        out += f.read_bytes()
        if len(out) > 8 * ctx.preset.pusher_bundle_bytes:
            break
    return out


def make_bundles(ctx: Run, count: int, size: int) -> list[tuple[str, bytes]]:
    """`count` bundles of distinct sessions, each about `size` bytes compressed; (sha256, bytes)."""
    from claude_sync.format.bundle import Bundle, Manifest

    text = _transcript_text(ctx)
    rng = random.Random(f"{ctx.seed}:pushers")

    def build(n: int) -> tuple[str, bytes]:
        sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        head = json.dumps({"type": "custom-title", "customTitle": f"bench {sid}", "sessionId": sid}).encode() + b"\n"
        body = text[:n]
        body = body[: body.rfind(b"\n") + 1]
        m = Manifest(
            session_id=sid, project_key=f"bench/p{rng.randint(0, 9)}", device="bench", title=f"bench {sid[:8]}"
        )
        data = Bundle.build(m, {"transcript.jsonl": head + body}).to_bytes()
        return hashlib.sha256(data).hexdigest(), data

    # Find how much text compresses to `size`, once; every bundle then holds that much.
    _sha, probe = build(len(text))
    n = min(len(text), int(len(text) * size / len(probe)))
    return [build(n) for _ in range(count)]


def huge_bundle(ctx: Run, size: int) -> tuple[Path, str]:
    """A bundle of about `size` bytes on disk (incompressible file-history content), cached between runs."""
    from claude_sync.format.bundle import FILES_PREFIX, MANIFEST, FileEntry, Manifest

    folder = ctx.out.parent / "bundles"
    path = folder / f"huge-{size}-seed{ctx.seed}.tar.gz"
    sha_file = path.with_suffix(".sha256")
    if path.exists() and sha_file.exists():
        return path, sha_file.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    sid = str(uuid.UUID(int=random.Random(f"{ctx.seed}:huge").getrandbits(128), version=4))
    name = "file-history/" + hashlib.sha256(sid.encode()).hexdigest()[:16] + "@v1"

    def chunks() -> object:
        rng = random.Random(f"{ctx.seed}:huge-content")
        left = size
        while left > 0:
            n = min(CHUNK, left)
            yield rng.randbytes(n)
            left -= n

    h = hashlib.sha256()
    for c in chunks():  # type: ignore[attr-defined]
        h.update(c)
    transcript = (
        json.dumps(
            {
                "type": "user",
                "sessionId": sid,
                "cwd": "/home/u/code/acme/huge",
                "message": {"role": "user", "content": "a big one"},
            }
        ).encode()
        + b"\n"
    )
    manifest = Manifest(
        session_id=sid,
        project_key="acme/huge",
        device="bench",
        title="huge",
        files=[
            FileEntry(path=name, size=size, sha256=h.hexdigest(), text=False),
            FileEntry(path="transcript.jsonl", size=len(transcript), sha256=hashlib.sha256(transcript).hexdigest()),
        ],
    )

    class Stream(io.RawIOBase):
        def __init__(self) -> None:
            self.it = iter(chunks())  # type: ignore[call-overload]
            self.buf = b""

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            while len(self.buf) < n:
                try:
                    self.buf += next(self.it)
                except StopIteration:
                    break
            out, self.buf = self.buf[:n], self.buf[n:]
            return out

    tmp = path.with_suffix(".part")
    with tarfile.open(tmp, "w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as tar:
        for member, size_, stream in (
            (MANIFEST, None, io.BytesIO(manifest.to_json())),
            (FILES_PREFIX + name, size, Stream()),
            (FILES_PREFIX + "transcript.jsonl", len(transcript), io.BytesIO(transcript)),
        ):
            info = tarfile.TarInfo(member)
            info.size = size_ if size_ is not None else len(manifest.to_json())
            info.mode, info.mtime = 0o644, 0
            tar.addfile(info, stream)  # type: ignore[arg-type]
    digest = hashlib.sha256()
    with open(tmp, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    tmp.rename(path)
    sha_file.write_text(digest.hexdigest())
    return path, digest.hexdigest()


def load(url: str, token: str, bundles: list[tuple[str, bytes]], pushers: int) -> tuple[list[float], float, int]:
    """Every pusher sends its share of the bundles one after another, all pushers at once; (latencies, wall, errors)."""
    share = [bundles[i::pushers] for i in range(pushers)]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(pushers + 1)

    def pusher(mine: list[tuple[str, bytes]]) -> None:
        headers = {"Authorization": f"Bearer {token}", wire.FORMAT: str(version.FORMAT_VERSION)}
        with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
            start.wait()
            for sha, data in mine:
                t = time.perf_counter()
                try:
                    r = client.post(
                        "/api/sessions/push",
                        content=data,
                        headers={"X-Bundle-SHA256": sha, "Content-Type": "application/gzip"},
                    )
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    errors[0] += not ok

    threads = [threading.Thread(target=pusher, args=(m,)) for m in share]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - t0, errors[0]


def run(ctx: Run) -> list[Result]:
    p = ctx.preset
    work = fresh_dir(ctx.out / "server")
    env = BenchEnv(work / "home", work / "home" / ".claude-sync-sessions").environ()
    total = p.pushers * p.pushes_each
    ctx.log(f"  building {total} bundles of {p.pusher_bundle_bytes // 1024} KB")
    bundles = make_bundles(ctx, total, p.pusher_bundle_bytes)
    sent = sum(len(d) for _s, d in bundles)
    mb = sent / 2**20

    with ServerProcess(work / "echo", env, command=[sys.executable, "-m", "bench.echo_server"]) as echo:
        load(echo.url, "x", bundles[: p.pushers], p.pushers)  # warm-up
        floor, floor_wall, _ = load(echo.url, "x", bundles, p.pushers)

    server = ServerProcess(work / "server-data", env, max_bundle_bytes=p.huge_bundle_bytes + (64 << 20))
    token = server.add_user("bench")
    with server:
        load50 = os.getloadavg()[0]
        cpu0 = cpu_seconds(server.pid)
        lat, wall, errors = load(server.url, token, bundles, p.pushers)
        server_cpu = cpu_seconds(server.pid) - cpu0
    ctx.log(
        f"  {p.pushers} pushers: p50 {percentile(lat, 50):.3f} s, p99 {percentile(lat, 99):.3f} s, "
        f"{mb / wall:.1f} MB/s ({errors} errors)"
    )

    # The throughput curve: the same bundles, spread over more or fewer pushers, each on a fresh server.
    curve = []
    for n in p.curve:
        server = ServerProcess(work / f"server-curve-{n}", env, max_bundle_bytes=p.huge_bundle_bytes + (64 << 20))
        token = server.add_user("bench")
        with server:
            load_avg = os.getloadavg()[0]
            cpu0 = cpu_seconds(server.pid)
            lat_n, wall_n, errors_n = load(server.url, token, bundles, n)
            cpu_n = cpu_seconds(server.pid) - cpu0
        curve.append((n, lat_n, wall_n, errors_n, cpu_n, load_avg))
        ctx.log(
            f"  {n} pushers: p50 {percentile(lat_n, 50):.3f} s, p99 {percentile(lat_n, 99):.3f} s, "
            f"{mb / wall_n:.1f} MB/s, {cpu_n / total * 1000:.0f} ms CPU a push ({errors_n} errors, load {load_avg:.1f})"
        )

    path, sha = huge_bundle(ctx, p.huge_bundle_bytes)
    size = path.stat().st_size
    server = ServerProcess(work / "server-data-huge", env, max_bundle_bytes=p.huge_bundle_bytes + (64 << 20))
    token = server.add_user("bench")
    with server:
        warm = make_bundles(ctx, 1, 256 * 1024)[0]
        headers = {"Authorization": f"Bearer {token}", wire.FORMAT: str(version.FORMAT_VERSION)}
        httpx.post(
            f"{server.url}/api/sessions/push",
            content=warm[1],
            timeout=60,
            headers={**headers, "X-Bundle-SHA256": warm[0], "Content-Type": "application/gzip"},
        ).raise_for_status()
        httpx.get(f"{server.url}/api/sessions", headers=headers, timeout=60).raise_for_status()
        time.sleep(0.5)
        idle = rss_kb(server.pid)
        hwm_before = rss_kb(server.pid, "VmHWM")
        with RssSampler(server.pid) as sampler, open(path, "rb") as f:
            t = time.perf_counter()
            r = httpx.post(
                f"{server.url}/api/sessions/push",
                content=f,
                timeout=1800,
                headers={
                    **headers,
                    "X-Bundle-SHA256": sha,
                    "Content-Type": "application/gzip",
                    "Content-Length": str(size),
                },
            )
            upload = time.perf_counter() - t
        hwm_after = rss_kb(server.pid, "VmHWM")
    stored = r.status_code == 200
    peak = hwm_after if hwm_after > hwm_before else sampler.peak_kb
    above = (max(peak, sampler.peak_kb) - idle) * 1024
    ctx.log(f"  {size / 2**20:.0f} MB bundle: idle {idle / 1024:.0f} MB, peak {peak / 1024:.0f} MB, stored: {stored}")
    conc = (
        f"{p.pushers} pushers × {p.pushes_each} bundles of {sent / total / 2**20:.2f} MB over loopback, "
        f"client threads on the same machine; {errors} failed; the server used {server_cpu:.1f} CPU s "
        f"({server_cpu / total * 1000:.0f} ms per push) in {wall:.1f} s; load average {load50:.1f}; baseline: the same load against uvicorn "
        f"with an app that only reads the body"
    )
    points = [
        Result(
            f"6{letter}",
            f"throughput at {n} concurrent pushers",
            mb / wall_n,
            "MB/s",
            note=(
                f"p50 {percentile(lat_n, 50):.3f} s, p99 {percentile(lat_n, 99):.3f} s; {total} pushes of "
                f"{sent / total / 2**20:.2f} MB shared among {n} pushers; server CPU {cpu_n / total * 1000:.0f} ms a push; "
                f"{errors_n} failed; load average {load_avg:.1f}"
            ),
        )
        for letter, (n, lat_n, wall_n, errors_n, cpu_n, load_avg) in zip("efgh", curve)
    ]
    return points + [
        Result(
            "6a",
            f"{p.pushers} concurrent pushers, latency p50",
            percentile(lat, 50),
            "s",
            "echo app p50",
            percentile(floor, 50),
            "",
            None,
            conc,
        ),
        Result(
            "6b",
            f"{p.pushers} concurrent pushers, latency p99",
            percentile(lat, 99),
            "s",
            "echo app p99",
            percentile(floor, 99),
            "p99 < 0.5 s",
            percentile(lat, 99) < 0.5 and errors == 0,
        ),
        Result(
            "6c",
            f"{p.pushers} concurrent pushers, throughput",
            mb / wall,
            "MB/s",
            "echo app",
            mb / floor_wall,
            "",
            None,
        ),
        Result(
            "6d",
            f"server memory above idle while receiving a {size / 2**20:.0f} MB bundle",
            above,
            "B",
            "idle RSS",
            idle * 1024,
            "< 100 MB above idle",
            above < 100 * 2**20 and stored,
            f"peak RSS from /proc VmRSS sampled every 5 ms and VmHWM; upload took {upload:.1f} s; "
            f"{'stored' if stored else f'NOT stored: {r.status_code} {r.text[:200]}'}",
        ),
    ]
