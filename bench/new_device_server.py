"""Figure 12: a new device pulls everything from the sync server, against downloading the same bytes.

The corpus is pushed to a fresh `claude-sync serve` (SQLite), then, alternating twice:

* the baseline's transport: a plain HTTP client (http.client, one keep-alive connection) lists the
  sessions and downloads every bundle, reading the bodies and doing nothing else;
* `claude-sync pull --all` as a process, on a new device (its own empty HOME), from the same server.

The local work's baseline is `tar xzf` of a tarball of what the pull wrote (the same sessions, as
they land on disk), into an empty folder. Target (issue #20): pull ≤ 2× the download plus
2× `tar xzf`, i.e. pull ≤ 2× (download + tar xzf).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from urllib.parse import urlsplit

from claude_sync.format import version, wire

from .context import Run
from .env import BenchEnv, fresh_dir
from .full_push import _run_measured
from .measure import cores
from .report import Result
from .server_proc import ServerProcess


def plain_download(url: str, token: str) -> tuple[float, int, int]:
    """List the sessions and download every bundle with a plain HTTP client; (seconds, bundles, bytes)."""
    parts = urlsplit(url)
    headers = {"Authorization": f"Bearer {token}", wire.FORMAT: str(version.FORMAT_VERSION)}
    t = time.perf_counter()
    con = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
    try:
        ids: list[str] = []
        cursor = ""
        while True:
            con.request("GET", wire.SESSIONS + "?limit=1000" + (f"&cursor={cursor}" if cursor else ""), headers=headers)
            page = json.loads(con.getresponse().read())
            ids += [s["session_id"] for s in page["sessions"]]
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        got = 0
        for sid in ids:
            con.request("GET", wire.SESSION.format(prefix=sid), headers=headers)
            resp = con.getresponse()
            if resp.status != 200:
                raise RuntimeError(f"GET {sid}: {resp.status}")
            while chunk := resp.read(1 << 20):
                got += len(chunk)
    finally:
        con.close()
    return time.perf_counter() - t, len(ids), got


def run(ctx: Run) -> list[Result]:
    from claude_sync import credentials

    work = fresh_dir(ctx.out / "new-device-server")
    src = ctx.corpus_env("new-device-server-src")
    server = ServerProcess(work / "server-data", src.environ(), max_bundle_bytes=1 << 30)
    token = server.add_user("bench")
    rounds = 1 if ctx.preset.name == "tiny" else 2
    with server:
        src.configure(backend="server", server_url=server.url)
        credentials.set_token(server.url, token, src.paths)
        wall, _cpu, _rss, code = _run_measured(src.cli_command("push", "--all", "--json"), src.environ(), work / "push.out")
        if code not in (0, 1):
            raise RuntimeError(f"push --all failed: {(work / 'push.err').read_text()[-2000:]}")
        ctx.log(f"  pushed the corpus to the server in {wall:.1f} s")
        downloads: list[tuple[float, int, int]] = []
        pulls: list[tuple[float, float, int]] = []
        loads: list[float] = []
        device: BenchEnv | None = None
        for i in range(rounds):
            loads.append(os.getloadavg()[0])
            downloads.append(plain_download(server.url, token))
            ctx.log(f"  plain download: {downloads[-1][0]:.2f} s, {downloads[-1][1]} bundles, {downloads[-1][2] / 2**20:.1f} MB")
            home = fresh_dir(work / f"device{i}")
            device = BenchEnv(home / "home", home / "home" / ".claude-sync-sessions")
            device.configure(device=f"new{i}", backend="server", server_url=server.url)
            credentials.set_token(server.url, token, device.paths)
            out_file = work / f"pull{i}.out"
            wall, cpu, rss, code = _run_measured(device.cli_command("pull", "--all", "--json"), device.environ(), out_file)
            if code not in (0, 1):
                raise RuntimeError(f"pull --all failed: {out_file.with_suffix('.err').read_text()[-2000:]}")
            text = out_file.read_text()
            summary = json.loads(text[text.index("{") :])
            pulls.append((wall, cpu, rss))
            ctx.log(f"  pull --all: {wall:.2f} s (CPU {cpu:.1f} s, load {loads[-1]:.1f}), {summary.get('done')} pulled")
    assert device is not None
    # The local work's baseline: unpack what the pull wrote, from a tarball of it.
    tarball = work / "pulled.tar.gz"
    subprocess.run(["tar", "czf", str(tarball), "-C", str(device.home), ".claude"], check=True)
    untars = []
    for i in range(rounds):
        into = fresh_dir(work / f"untar{i}")
        t = time.perf_counter()
        subprocess.run(["tar", "--warning=no-timestamp", "-xzf", str(tarball), "-C", str(into)], check=True)
        untars.append(time.perf_counter() - t)
    download, bundles, got = min(downloads)
    pull, cpu, rss = min(pulls)
    untar = min(untars)
    runs = ", ".join(f"{d[0]:.2f}/{p[0]:.2f} s (load {ld:.1f})" for d, p, ld in zip(downloads, pulls, loads))
    note = (
        f"{bundles} bundles, {got / 2**20:.1f} MB; best of {rounds} alternating runs (download/pull: {runs}); "
        f"pull CPU {cpu:.1f} s on {cores()} cores, peak RSS {rss / 1024:.0f} MB; `tar xzf` of what the pull wrote "
        f"({tarball.stat().st_size / 2**20:.1f} MB): {untar:.2f} s; server and client on the same machine"
    )
    return [
        Result(
            "12a",
            "new device, server backend: `pull --all`",
            pull,
            "s",
            "plain HTTP download of the same bundles + `tar xzf`",
            download + untar,
            "≤ 2× (download + `tar xzf`)",
            pull <= 2 * (download + untar),
            note,
        ),
        Result("12b", "the same pull's work after the transport (pull − download)", pull - download, "s",
               "`tar xzf` of what it wrote", untar, "", None),
    ]
