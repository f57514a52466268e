"""Turn a local session into a portable bundle, and a bundle into this device's files."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import queue
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, cast

from .claude_home import project_folder_name
from .discovery import LocalSession
from .forks import parents_in
from .format.bundle import BASE_FORMAT, REPO_TOKENS_FORMAT, Bundle, Manifest, Spilled, context_for
from .format.errors import BundleError, NotPortable, SyncError
from .format.layout import TRANSCRIPT, is_log
from .format.tokens import Context
from .project import DeviceLayout
from .transcript import count_messages

log = logging.getLogger(__name__)


def read_complete(path: Path, log: bool) -> bytes:
    """A file's bytes; for a log, only complete lines (the client may be mid-write)."""
    data = path.read_bytes()
    if log and data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else b""
    return data


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pack(session: LocalSession, layout: DeviceLayout, device: str) -> Bundle:
    """Read and tokenize every artifact of a session into a bundle."""
    cwd = session.meta.cwd
    if not cwd:
        raise NotPortable(f"session {session.session_id} records no working directory")
    key = layout.key_for(cwd)
    # The folder the session lives in is how the client spells the project in the paths it
    # writes (tool-results, background task output): it travels as ${PROJECT_FOLDER}.
    tokens = layout.tokens_for(cwd, session.project_dir.name or None, key)
    files: dict[str, bytes] = {}
    binary: set[str] = set()
    parents: set[str] = set()
    messages = session.meta.message_count
    read_sizes: dict[str, int] = {}
    for name, path in sorted(session.files.items()):
        data = read_complete(path, is_log(name))
        read_sizes[name] = len(data)
        if is_log(name):
            parents |= parents_in(data, session.session_id)
        if name == TRANSCRIPT:
            messages = count_messages(data)  # exact, while listing may have estimated it
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            files[name] = data  # carried verbatim, never rewritten
            binary.add(name)
            continue
        # Each copy of a large transcript is let go as soon as the next exists: at most two of
        # them are alive at once, not four (bytes, text, tokenized text, its bytes).
        del data
        tokenized = tokens.tokenize(text, context_for(name))
        del text
        files[name] = tokenized.encode("utf-8")
        del tokenized
    title = tokens.tokenize(session.meta.title, Context.RAW)
    uses_repo_tokens = any(_REPO_TOKEN in files[n] for n in files if n not in binary) or "${REPO_" in title
    last = session.meta.last_timestamp or _iso(session.transcript.stat().st_mtime)
    manifest = Manifest(
        format=REPO_TOKENS_FORMAT if uses_repo_tokens else BASE_FORMAT,
        session_id=session.session_id,
        project_key=key,
        device=device,
        source_flavour=layout.flavour,
        last_modified=last,
        first_timestamp=session.meta.first_timestamp,
        title=title,
        message_count=messages,
        depends_on=sorted(parents),
    )
    bundle = Bundle.build(manifest, files, binary)
    bundle.read_sizes = read_sizes
    return bundle


# Only an unescaped ${REPO_ROOT} or ${REPO_FOLDER} reads "${REPO_" (a literal one is "${$}{REPO_...").
_REPO_TOKEN = b"${REPO_"

_BRANCH_RE = re.compile(rb'"gitBranch":\s*"((?:[^"\\]|\\.){1,255})"')
_BRANCH_TAIL = 1024 * 1024  # the end of the transcript says where it is now


def session_branch(bundle: Bundle) -> str | None:
    """The branch the session last ran on (the client records it on every line), if any."""
    data = bundle.files.get(TRANSCRIPT, b"")
    tail = _BRANCH_TAIL
    if isinstance(data, Spilled):  # a large pulled transcript stays on disk: read only its end
        with open(data.path, "rb") as f:
            f.seek(max(0, data.size - tail))
            data = f.read()
    # The last record that names a branch, searched from the end: the lines before it do not matter.
    # (The transcript is checked JSON lines: every match of the key starts where a record's key does,
    # so no two matches overlap and the last one found this way is the last in the text.)
    start, end = max(0, len(data) - tail), len(data)
    while (at := data.rfind(b'"gitBranch"', start, end)) >= 0:
        found = _BRANCH_RE.match(data, at)
        if found is not None:
            try:
                return json.loads(b'"' + found.group(1) + b'"') or None
            except ValueError:
                return None
        end = at
    return None


def render(
    bundle: Bundle, layout: DeviceLayout, project_folder: str | None = None, cwd: str | None = None
) -> tuple[str, dict[str, bytes]]:
    """This device's working directory for the session, and its files with local paths.

    `project_folder`: the client's folder for the project on this device (default: the name
    the client computes from the working directory). `cwd`: where the session goes, when
    already worked out (default: from its project key).
    """
    key = bundle.manifest.project_key
    cwd = cwd or layout.cwd_for(key, session_branch(bundle))
    tokens = layout.tokens_for(cwd, project_folder or project_folder_name(cwd), key)
    source = (bundle.manifest.source_flavour, bundle.manifest.format)
    text = {e.path for e in bundle.manifest.files if e.text}
    checked = bundle.text_checked
    out: dict[str, bytes] = {}
    try:
        for name, data in bundle.files.items():
            if isinstance(data, Spilled):
                out[name] = _render_spilled(data, tokens, context_for(name), source, checked) if name in text else data  # type: ignore[assignment]
            elif name in text:
                if not checked:
                    _check_utf8(data, name)
                out[name] = tokens.detokenize_bytes(data, context_for(name), *source)
            else:
                out[name] = data
    except KeyError as e:  # a token this project has no path for (${REPO_ROOT} outside a repository)
        raise BundleError(f"session {bundle.manifest.session_id}: {e.args[0]}; nothing was written") from None
    return cwd, out


def _check_utf8(data: bytes, name: str | None) -> None:
    # Bundles are checked as they are read (Bundle.text_checked); one built another way (a delta
    # applied, a bundle made by hand) is checked here: whatever the path, never write one that is not UTF-8.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        what = f"file {name!r}" if name else "a file"
        raise BundleError(f"{what} is marked as text but is not UTF-8 ({e}); nothing was written") from e


def _render_spilled(data: Spilled, tokens, ctx: Context, source, checked: bool) -> Spilled:  # type: ignore[no-untyped-def]
    """render() of a large file, a batch of whole lines at a time, into a temp file beside it
    (no token spans a line: tokens and paths never hold a newline)."""
    out = data.path.with_name(data.path.name + ".rendered")
    digest, size, carry = hashlib.sha256(), 0, b""
    with open(out, "wb") as f:
        for chunk in data.chunks(_RENDER_BATCH):
            chunk = carry + chunk
            # Whole lines, or where a line of many MB can be cut (PathTokens.safe_cut): what is
            # carried to the next batch stays small whatever the file holds.
            cut = tokens.safe_cut(chunk, *source)
            carry = chunk[cut:]
            size += _render_lines(chunk[:cut], tokens, ctx, source, f, digest, checked)
        size += _render_lines(carry, tokens, ctx, source, f, digest, checked)
    return Spilled(out, size, digest.hexdigest())


def _render_lines(lines: bytes, tokens, ctx: Context, source, f: IO[bytes], digest, checked: bool) -> int:  # type: ignore[no-untyped-def]
    if not lines:
        return 0
    if not checked:
        _check_utf8(lines, None)
    rendered = tokens.detokenize_bytes(lines, ctx, *source)
    f.write(rendered)
    digest.update(rendered)
    return len(rendered)


_RENDER_BATCH = 4 * 1024 * 1024


def render_title(title: str, project_key: str, layout: DeviceLayout) -> str:
    """A remote entry's title with this device's paths (titles travel tokenized)."""
    try:
        cwd = layout.cwd_for(project_key)
        return layout.tokens_for(cwd, project_folder_name(cwd), project_key, on_disk=False).detokenize(title, Context.RAW)
    except (ValueError, KeyError, SyncError):
        return title


# -- packing many sessions ------------------------------------------------------

PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this, worker processes cost more than they save
AHEAD_BYTES = 64 * 1024 * 1024  # packed but not yet taken: bounds the memory a bulk push holds
_FRAME = struct.Struct("!Q")
_GREETING = b"claude-sync worker 1\n"  # a worker's first bytes on its stdout


class WorkerGarbled(OSError):
    """A worker's stdout did not start with its greeting: something else printed there."""


def _pack_result(
    session: LocalSession, layout: DeviceLayout, device: str, make: Callable[[Bundle], object] | None = None
) -> Bundle | tuple[str, str]:
    try:
        bundle = pack(session, layout, device)
    except OSError as e:
        return ("os", str(e))
    except SyncError as e:
        return ("sync", str(e))
    if make is not None:
        try:
            bundle.made_ahead = (make, make(bundle))
        except Exception as e:  # optional work: the backend makes it again, and reports what fails
            log.info("session %s: not made ahead (%s)", session.session_id, e)
    return bundle


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> object:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError("the packing worker went away")
    (n,) = _FRAME.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError("the packing worker went away")
    return pickle.loads(data)  # from our own child process


def _render_result(
    bundle: Bundle, layout: DeviceLayout, project_folder: str, cwd: str
) -> tuple[str, tuple[str, dict[str, bytes]] | str]:
    try:
        return ("ok", render(bundle, layout, project_folder, cwd))
    except OSError as e:
        return ("os", str(e))
    except SyncError as e:
        return ("sync", str(e))


def worker_main() -> None:
    """`python -m claude_sync.portable`: pack the sessions (or render the bundles) sent on stdin,
    answer on stdout, until EOF."""
    stdin = sys.stdin.buffer
    # The answers get stdout to themselves: whatever else writes there from now on (a library's
    # print, a C extension writing to fd 1) goes to stderr instead of into an answer's length.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Anything printed before this point (a sitecustomize) comes before the greeting: the parent
    # then stops trusting this worker instead of reading the bytes as an answer.
    stdout.write(_GREETING)
    stdout.flush()
    while True:
        try:
            job = _receive(stdin)
        except EOFError:
            return
        kind, args = cast("tuple[str, tuple[Any, ...]]", job)
        if kind == "render":
            _send(stdout, _render_result(*args))
        else:
            _send(stdout, _pack_result(*args))


class _Worker:
    """One worker process, fed one job at a time by its own thread."""

    def __init__(self, jobs: queue.Queue[tuple[Future[Bundle | tuple[str, str]], tuple] | None]) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "claude_sync.portable"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=root,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console window from the sidecar on Windows
        )
        self.jobs = jobs
        self.thread = threading.Thread(target=self._run, name="claude-sync-packer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        broken: BaseException | None = None
        try:
            greeting = self.proc.stdout.read(len(_GREETING))
            if not greeting:
                broken = EOFError("the packing worker went away before it started")
            elif greeting != _GREETING:
                broken = WorkerGarbled(f"the worker printed {greeting[:40]!r} on its stdout before its greeting")
        except OSError as e:
            broken = e
        while True:
            job = self.jobs.get()
            if job is None:
                return
            future, args = job
            if not future.set_running_or_notify_cancel():
                continue
            if broken is not None:  # a dead worker fails its jobs at once: they are packed in process
                future.set_exception(broken)
                continue
            try:
                _send(self.proc.stdin, args)
                future.set_result(_receive(self.proc.stdout))  # type: ignore[arg-type]
            except (OSError, EOFError, pickle.PickleError) as e:
                broken = e
                future.set_exception(e)

    def stop(self) -> None:
        # Workers only compute: one still busy is killed (its answer is no longer wanted).
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.thread.join()
        self.proc.stdout.close()  # type: ignore[union-attr]


class Packer:
    """Packs sessions in worker processes, in the order they will be asked for, a bounded amount ahead.

    Tokenizing is CPU-bound Python: a bulk push packs on every core while the main process
    decides and the backend compresses and sends. Few or small sessions are packed in process,
    as without a Packer, and so is a session whose worker failed. The workers are plain
    `python -m claude_sync.portable` processes over pipes (not multiprocessing, which would
    import the caller's main module again, and must not fork a threaded sidecar).
    """

    def __init__(self, layout: DeviceLayout, device: str, *, workers: int | None = None, ahead_bytes: int = AHEAD_BYTES) -> None:
        self.layout, self.device = layout, device
        self.workers = workers or os.cpu_count() or 1
        self.ahead_bytes = ahead_bytes
        self._queue: list[LocalSession] = []
        self._next = 0
        self._ahead = 0
        self._futures: dict[str, tuple[Future[Bundle | tuple[str, str]], int]] = {}
        self._jobs: queue.Queue[tuple[Future[Bundle | tuple[str, str]], tuple] | None] = queue.Queue()
        self._pool: list[_Worker] = []
        self._maker: Callable[[str], Callable[[Bundle], object] | None] | None = None

    def plan(
        self, sessions: list[LocalSession], maker: Callable[[str], Callable[[Bundle], object] | None] | None = None
    ) -> None:
        """The sessions that will be packed, in the order they will be asked for. `maker` (Backend.sealer):
        what a worker makes of a session's bundle once packed, asked as its job is sent."""
        self._queue, self._next, self._maker = list(sessions), 0, maker
        if self.workers > 1 and len(self._queue) > 1 and sum(s.size for s in self._queue) >= PARALLEL_MIN_BYTES:
            try:
                self._pool = [_Worker(self._jobs) for _ in range(self.workers)]
            except OSError as e:
                log.warning("cannot start packing workers (%s); packing here", e)
                self.close()
            self._fill()

    @property
    def parallel(self) -> bool:
        """Whether sessions are being packed in worker processes (a bulk push)."""
        return bool(self._pool)

    def _fill(self) -> None:
        while self._pool and self._next < len(self._queue) and self._ahead < self.ahead_bytes:
            s = self._queue[self._next]
            self._next += 1
            size = s.size
            future: Future[Bundle | tuple[str, str]] = Future()
            make = self._maker(s.session_id) if self._maker is not None else None
            self._jobs.put((future, ("pack", (s, self.layout, self.device, make))))
            self._futures[s.session_id] = (future, size)
            self._ahead += size

    def pack(self, session: LocalSession) -> Bundle:
        planned = self._futures.pop(session.session_id, None)
        if planned is None:
            return pack(session, self.layout, self.device)
        future, size = planned
        self._ahead -= size
        self._fill()
        try:
            got = future.result()
        except (OSError, EOFError, pickle.PickleError) as e:
            log.warning("a packing worker failed (%s); packing here", e)
            return pack(session, self.layout, self.device)
        if isinstance(got, tuple):
            kind, message = got
            raise OSError(message) if kind == "os" else SyncError(message)
        return got

    def close(self) -> None:
        for future, _size in self._futures.values():
            future.cancel()
        self._futures.clear()
        for _ in self._pool:
            self._jobs.put(None)
        for w in self._pool:
            w.stop()
        self._pool = []
        self._jobs = queue.Queue()

    def __enter__(self) -> Packer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Renderer:
    """Renders pulled bundles (this device's paths in their files) in worker processes.

    Rewriting paths is CPU-bound Python, as tokenizing is: a bulk pull renders the next sessions
    on another core while the engine checks and writes this one. The same workers as the Packer's.
    A bundle whose worker failed is rendered in process; a bundle that cannot be rendered fails
    as render() fails (BundleError, nothing written).
    """

    def __init__(self, layout: DeviceLayout, *, workers: int | None = None) -> None:
        self.layout = layout
        self._jobs: queue.Queue[tuple[Future[object], tuple] | None] = queue.Queue()
        self._pool: list[_Worker] = []
        count = workers or max(1, (os.cpu_count() or 1) - 1)  # the engine's own threads need a core
        try:
            self._pool = [_Worker(self._jobs) for _ in range(count)]  # type: ignore[arg-type]
        except OSError as e:
            log.warning("cannot start rendering workers (%s); rendering here", e)
            self.close()

    @property
    def parallel(self) -> bool:
        return bool(self._pool)

    def submit(self, bundle: Bundle, project_folder: str, cwd: str) -> Future[object]:
        """Start rendering `bundle` for `cwd` (see render()); result() gives what render() would."""
        future: Future[object] = Future()
        if self._pool:
            self._jobs.put((future, ("render", (bundle, self.layout, project_folder, cwd))))
        else:
            future.set_exception(EOFError("no rendering worker"))
        return future

    def result(self, future: Future[object], bundle: Bundle, project_folder: str, cwd: str) -> tuple[str, dict[str, bytes]]:
        try:
            got = future.result()
        except (OSError, EOFError, pickle.PickleError) as e:
            log.warning("a rendering worker failed (%s); rendering here", e)
            return render(bundle, self.layout, project_folder, cwd)
        kind, value = cast("tuple[str, Any]", got)
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        raise OSError(value) if kind == "os" else BundleError(value)

    def close(self) -> None:
        for _ in self._pool:
            self._jobs.put(None)
        for w in self._pool:
            w.stop()
        self._pool = []

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    worker_main()
