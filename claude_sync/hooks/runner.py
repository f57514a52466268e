"""What the Claude Code hooks run: SessionEnd queues a push, SessionStart pulls the project.

Run as `python -m claude_sync.hook_runner` (the name installed launchers use, see launcher.py):

    python -m claude_sync.hook_runner --data DIR session-end | session-start   (payload on stdin)
    python -m claude_sync.hook_runner --data DIR worker [--pull-cwd CWD] [--report]
    python -m claude_sync.hook_runner --data DIR check

The client gives all SessionEnd hooks 1.5 s together and kills slower ones, so SessionEnd only
writes the session id into the outbox and starts a detached worker. The worker does the real
work under a lock: it pushes every session in the outbox, removes those that went through and
keeps the others for the next hook run. SessionStart starts a worker that first pulls the sessions
of the client's project, waits for that pull a few seconds at most, and never fails the client.
Everything is logged to hook.log; nothing reaches stdout but an opt-in one-line note for the model.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .. import atomic
from ..format.layout import is_session_id

# Module-level imports stay this small on purpose: the SessionEnd path must not load pydantic,
# git or httpx (the engine's imports alone take longer than the target for the whole hook), and
# the launcher runs SessionEnd with `python -S`, so only the standard library is at hand.
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import IO, Any

HOOK_LOG = "hook.log"
LOG_LIMIT = 1024 * 1024  # past this the log is rotated to hook.log.1
HOOK_LOCK = "hook.lock"
# How long a pulling worker waits for another hook worker before leaving the pull to it.
PULL_LOCK_WAIT = 120.0
_PAYLOAD_LIMIT = 1024 * 1024


class HookLog:
    """Appends one line per event to hook.log: small appends from several processes stay whole."""

    def __init__(self, data: Path) -> None:
        self.path = data / HOOK_LOG

    def write(self, event: str, message: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{stamp} [{os.getpid()}] {event}: {message}".replace("\n", " ") + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError:
            pass  # a hook never fails because of its log

    def rotate(self) -> None:
        try:
            if self.path.stat().st_size > LOG_LIMIT:
                os.replace(self.path, self.path.with_name(HOOK_LOG + ".1"))
        except OSError:
            pass


# -- outbox -----------------------------------------------------------------


class OutboxEntry:
    """One request in the outbox: the file it lives in and what it says."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    @property
    def session_id(self) -> str:
        return str(self.data.get("session_id", ""))

    @property
    def nonce(self) -> str:
        return str(self.data.get("nonce", self.path.name))


class Outbox:
    """Sessions waiting to be pushed: `<sid>.json` per request, `<sid>.inflight` while a worker has it.

    A hook only ever writes `<sid>.json`; the worker renames it to `.inflight` before pushing, so a
    session that ends again during the push queues a fresh request instead of being lost.
    """

    def __init__(self, data: Path) -> None:
        self.dir = data / "outbox"

    def add(self, payload: dict[str, Any]) -> OutboxEntry:
        sid = str(payload["session_id"]).lower()
        now = time.time()
        data = {
            "session_id": sid,
            "cwd": payload.get("cwd"),
            "transcript_path": payload.get("transcript_path"),
            "reason": payload.get("reason"),
            "queued_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds"),
            "nonce": f"{time.time_ns():x}-{os.getpid()}",
            "attempts": 0,
        }
        path = self.dir / f"{sid}.json"
        atomic.write_text(path, json.dumps(data))
        return OutboxEntry(path, data)

    def pending(self) -> list[OutboxEntry]:
        """Every request, oldest first; a left-over `.inflight` (its worker died) counts too."""
        out = []
        try:
            paths = [p for p in self.dir.iterdir() if p.suffix in (".json", ".inflight")]
        except OSError:
            return []
        for p in paths:
            try:
                data = json.loads(p.read_text("utf-8"))
            except (OSError, ValueError):
                continue  # vanished meanwhile, or being replaced
            if isinstance(data, dict) and is_session_id(str(data.get("session_id", ""))):
                out.append(OutboxEntry(p, data))
        return sorted(out, key=lambda e: (str(e.data.get("queued_at", "")), e.path.name))

    def claim(self, entry: OutboxEntry) -> OutboxEntry | None:
        target = self.dir / f"{entry.session_id}.inflight"
        if entry.path != target:
            try:
                os.replace(entry.path, target)
            except OSError:  # gone meanwhile, or (Windows) open elsewhere: next time
                return None
        return OutboxEntry(target, entry.data)

    def done(self, entry: OutboxEntry) -> None:
        try:
            entry.path.unlink()
        except FileNotFoundError:
            pass

    def keep(self, entry: OutboxEntry, error: str) -> None:
        """Put a failed request back for the next run, unless a newer one was queued meanwhile."""
        data = dict(entry.data, attempts=int(entry.data.get("attempts", 0)) + 1, last_error=error)
        data["last_attempt"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        queued = self.dir / f"{entry.session_id}.json"
        if not queued.exists():
            atomic.write_text(queued, json.dumps(data))
        self.done(entry)


# -- payload and worker process ---------------------------------------------


def package_root() -> Path:
    """The folder `claude_sync` is imported from (site-packages, a bundle, or a checkout)."""
    return Path(__file__).resolve().parents[2]


def device_paths(data: Path) -> Any:
    """This device's Paths, with the data dir the launcher names (imports pydantic: not for SessionEnd)."""
    from ..config import Paths, claude_config_dir, home_dir

    return Paths(data=data, claude=claude_config_dir(), home=home_dir())


def read_payload(stream: IO[bytes]) -> dict[str, Any]:
    """The hook's JSON payload. Stops at the first complete object: no waiting for an EOF that may not come."""
    buf = b""
    decoder = json.JSONDecoder()
    while len(buf) < _PAYLOAD_LIMIT:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        buf += chunk
        try:
            value, _end = decoder.raw_decode(buf.decode("utf-8").lstrip())
        except (ValueError, UnicodeDecodeError):
            continue
        return value if isinstance(value, dict) else {}
    text = buf.decode("utf-8", "replace").strip()
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _detached() -> dict[str, Any]:
    """Popen arguments that let the worker outlive the hook and escape the client's kill."""
    if sys.platform == "win32":
        import subprocess

        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS | subprocess.CREATE_NO_WINDOW
        return {"creationflags": flags}
    return {"start_new_session": True}


def spawn_worker(data: Path, args: Iterable[str] = (), *, report: bool = False) -> Any:
    """Start a worker that no longer belongs to the hook; its stdout is a pipe only for a report."""
    import subprocess

    env = dict(os.environ)
    root = str(package_root())
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([*parts, root])
    data.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "claude_sync.hook_runner", "--data", str(data), "worker", *args]
    if report:
        cmd.append("--report")
    with open(data / HOOK_LOG, "ab") as log:  # a crash's traceback lands in the log
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if report else subprocess.DEVNULL,
            stderr=log,
            close_fds=True,
            cwd=str(data),
            env=env,
            **_detached(),
        )


def _wait_for_line(stream: IO[bytes], timeout: float) -> bytes | None:
    """The first line of `stream`, or None when it does not come within `timeout` seconds."""
    import threading

    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else None


# -- the two hooks ----------------------------------------------------------


def session_end(data: Path, payload: dict[str, Any], started: float) -> int:
    """Queue the session and hand it to a detached worker; back to the client at once."""
    log = HookLog(data)
    sid = str(payload.get("session_id") or "")
    if not is_session_id(sid):
        log.write("session-end", f"no usable session id in the payload ({sid!r}); nothing to push")
        return 0
    Outbox(data).add(payload)
    worker = spawn_worker(data)
    ms = (time.perf_counter() - started) * 1000
    log.write("session-end", f"{sid} queued; worker {worker.pid}; hook took {ms:.1f} ms")
    return 0


def session_start(data: Path, payload: dict[str, Any], out: IO[str], started: float) -> int:
    """Pull the project's sessions, waiting a few seconds at most; print nothing unless asked to."""
    from ..config import load_config
    from ..format.errors import ConfigError

    log = HookLog(data)
    cwd = payload.get("cwd")
    source = payload.get("source")
    try:
        config = load_config(device_paths(data))
    except ConfigError as e:
        log.write("session-start", f"not pulling: {e}")
        return 0
    if not isinstance(cwd, str) or not cwd or source == "compact":
        # A compaction is the same session going on: nothing new to pull, just retry the outbox.
        if Outbox(data).pending():
            spawn_worker(data)
        return 0
    worker = spawn_worker(data, ["--pull-cwd", cwd], report=True)
    line = _wait_for_line(worker.stdout, config.hook_pull_timeout)
    ms = (time.perf_counter() - started) * 1000
    if line is None:
        log.write("session-start", f"pull for {cwd} still running after {ms:.0f} ms; left to worker {worker.pid}")
        return 0
    try:
        report = json.loads(line) if line.strip() else {"error": "the worker ended without a report"}
    except ValueError:
        report = {"error": f"unreadable report {line[:200]!r}"}
    log.write("session-start", f"{cwd}: {report.get('line') or report.get('error')}; hook took {ms:.0f} ms")
    pulled = int(report.get("pulled") or 0)
    if config.hook_note and pulled:
        out.write(note_for_model(pulled, str(report.get("project") or "")) + "\n")
    return 0


def note_for_model(pulled: int, project: str) -> str:
    n = "1 session" if pulled == 1 else f"{pulled} sessions"
    return f"claude-sync: {n} of project {project} arrived from other devices; `claude --resume` lists them."


# -- the worker -------------------------------------------------------------


class Worker:
    """Pulls one project (when asked) and drains the outbox, one worker at a time."""

    def __init__(self, data: Path, report: Callable[[dict[str, Any]], None] | None = None) -> None:
        from ..config import load_config
        from ..engine import SyncEngine

        self.data = data
        self.log = HookLog(data)
        self.outbox = Outbox(data)
        self.report = report
        paths = device_paths(data)
        self.engine = SyncEngine(load_config(paths), paths)

    def run(self, pull_cwd: str | None) -> None:
        from ..format.locking import Busy, exclusive

        tried: set[str] = set()
        wait = PULL_LOCK_WAIT if pull_cwd else 0.0
        try:
            while True:
                try:
                    with exclusive(self.data / HOOK_LOCK, wait):
                        self.log.rotate()
                        if pull_cwd:
                            self.pull(pull_cwd)
                            pull_cwd = None
                        self.drain(tried)
                except Busy:
                    # Another worker holds the lock: it drains what we queued before it lets go.
                    if pull_cwd:
                        self._report({"pulled": 0, "error": "another hook worker kept the lock"})
                    return
                wait = 0.0
                # Requests queued after our last look but before we let go are ours to push.
                if not any(e.nonce not in tried for e in self.outbox.pending()):
                    return
        finally:
            self.engine.close()

    def _report(self, report: dict[str, Any]) -> None:
        if self.report is not None:
            self.report(report)
            self.report = None

    def pull(self, cwd: str) -> None:
        from ..engine import DONE, FAILED, Selection
        from ..format.errors import NotPortable, SyncError

        try:
            key = self.engine.layout.key_for(cwd)
        except (NotPortable, ValueError) as e:
            self.log.write("pull", f"nothing to pull for {cwd}: {e}")
            self._report({"pulled": 0, "line": "not a portable project"})
            return
        try:
            # The folder, not its key: it selects through every remote of its checkout and its old key.
            summary = self.engine.pull(Selection(project=os.path.realpath(cwd) if os.path.isdir(cwd) else key))
        except SyncError as e:
            self.log.write("pull", f"{key}: failed: {e}")
            self._report({"pulled": 0, "project": key, "error": str(e)})
            return
        for o in summary.outcomes:
            if o.status in (DONE, FAILED):
                self.log.write("pull", f"{o.session_id} ({key}): {o.status}: {o.reason}")
        self.log.write("pull", f"{key}: {summary.line()}")
        self._report({"pulled": summary.count(DONE), "failed": summary.count(FAILED), "project": key, "line": summary.line()})

    def drain(self, tried: set[str]) -> None:
        while True:
            fresh = [e for e in self.outbox.pending() if e.nonce not in tried]
            if not fresh:
                return
            tried.update(e.nonce for e in fresh)
            self.push(fresh)

    def push(self, entries: list[OutboxEntry]) -> None:
        from ..engine import DONE, FAILED, Selection
        from ..format.errors import SyncError

        ready: dict[str, OutboxEntry] = {}
        for entry in entries:
            claimed = self.outbox.claim(entry)
            if claimed is None:
                continue
            why = self._unpushable(claimed)
            if why:
                self.log.write("push", f"{claimed.session_id}: dropped, {why}")
                self.outbox.done(claimed)
            else:
                ready[claimed.session_id] = claimed  # the newest request of a session wins
        if not ready:
            return
        try:
            summary = self.engine.push(Selection(ids=tuple(ready)))
        except (SyncError, OSError) as e:
            for entry in ready.values():
                self.outbox.keep(entry, str(e))
            self.log.write("push", f"{len(ready)} session(s) kept in the outbox: {e}")
            return
        for o in summary.outcomes:
            if o.session_id not in ready:
                continue
            settled = ready.pop(o.session_id)
            if o.status == FAILED:
                self.outbox.keep(settled, o.reason)
                attempt = int(settled.data.get("attempts", 0)) + 1
                self.log.write("push", f"{o.session_id}: failed, kept in the outbox (attempt {attempt}): {o.reason}")
            else:
                self.outbox.done(settled)
                verb = "pushed" if o.status == DONE else "not pushed"
                self.log.write("push", f"{o.session_id} ({o.project_key}): {verb}: {o.reason}")
        for entry in ready.values():
            self.outbox.keep(entry, "the push gave no outcome for it")

    def _unpushable(self, entry: OutboxEntry) -> str | None:
        """Why a request can never succeed (so retrying it would be pointless), else None."""
        from ..format.errors import NotPortable

        transcript = entry.data.get("transcript_path")
        if isinstance(transcript, str) and transcript and not os.path.exists(transcript):
            return f"its transcript {transcript} is gone"
        cwd = entry.data.get("cwd")
        if isinstance(cwd, str) and cwd:
            try:
                self.engine.layout.key_for(cwd)
            except (NotPortable, ValueError) as e:
                return f"not portable: {e}"
        return None


def run_worker(data: Path, pull_cwd: str | None, report: bool) -> int:
    import logging

    log = HookLog(data)
    # The engine's own warnings go to stderr, which is the hook log here: give them its shape.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s [%(process)d] %(name)s: %(message)s"
    )

    def send(r: dict[str, Any]) -> None:
        # The hook reads one line, then stops listening: detach stdout so nothing else can block on it.
        try:
            sys.stdout.write(json.dumps(r) + "\n")
            sys.stdout.flush()
        except OSError:
            pass  # the hook gave up waiting and exited
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, sys.stdout.fileno())
            os.close(null)
        except OSError:
            pass

    try:
        worker = Worker(data, send if report else None)
    except Exception as e:  # noqa: BLE001 - a worker reports every failure to the log, never to the client
        log.write("worker", f"cannot start: {e}")
        if report:
            send({"pulled": 0, "error": str(e)})
        return 0
    try:
        worker.run(pull_cwd)
    except Exception as e:  # noqa: BLE001
        import traceback

        log.write("worker", f"failed: {e!r}: {traceback.format_exc()}")
        worker._report({"pulled": 0, "error": repr(e)})
    return 0


def check() -> int:
    """What `hooks install` runs through the launcher: can this interpreter load the whole tool?"""
    from .. import engine  # noqa: F401 - importing is the check
    from ..backends import git  # noqa: F401

    print("ok")
    return 0


def run_hook(event: str, data: Path, stdin: IO[bytes], stdout: IO[str], started: float | None = None) -> int:
    """Run one hook; whatever happens, the client sees exit 0 and an empty stdout."""
    started = time.perf_counter() if started is None else started
    log = HookLog(data)
    try:
        payload = read_payload(stdin)
        if event == "session-end":
            return session_end(data, payload, started)
        if event == "session-start":
            return session_start(data, payload, stdout, started)
        log.write("hook", f"unknown hook event {event!r}")
    except BaseException as e:  # noqa: BLE001 - even KeyboardInterrupt must not fail the client
        log.write(event, f"failed: {e!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[0] != "--data":
        print("usage: python -m claude_sync.hook_runner --data DIR session-start|session-end|worker|check", file=sys.stderr)
        return 2
    data, command, rest = Path(args[1]), args[2], args[3:]
    if command in ("session-start", "session-end"):
        return run_hook(command, data, sys.stdin.buffer, sys.stdout, started)
    if command == "worker":
        pull_cwd = rest[rest.index("--pull-cwd") + 1] if "--pull-cwd" in rest else None
        return run_worker(data, pull_cwd, "--report" in rest)
    if command == "check":
        return check()
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2
