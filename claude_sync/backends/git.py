"""Git backend: sessions in a private repository, driven through the system `git`.

Layout of the repository (one folder per session, fanned out by id):

    sessions/<s0>/<s1>/<sid>/session.json        manifest header + content digest
    sessions/<s0>/<s1>/<sid>/files/<logical>      plain files (tasks, file history, meta)
    sessions/<s0>/<s1>/<sid>/logs/<logical>/<NNNNNN>   a JSONL log as append segments

A log that grew since the last push gets one new segment holding only the new
bytes, so a growing session adds objects proportional to what was appended
(git's zlib on a small blob) instead of a new compressed copy of the whole
transcript. The session's files are checked against the SHA-256 content digest
in session.json before a pull writes anything.

Commits are written with `git fast-import` on top of the fetched remote head and
pushed without force; when another device pushed meanwhile, we fetch, check that
none of our sessions moved under us (else report a conflict for them), and retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path

from git import Git, Repo

from ..bundle import Bundle, Manifest
from ..errors import BackendError, BundleError, SessionNotFound
from ..portable import content_digest
from ..sessions import is_log
from .base import Backend, PushItem, PushResult, RemoteEntry

log = logging.getLogger(__name__)

SESSION_JSON = "session.json"
SEGMENT_LIMIT = 64  # past this many segments a log is rewritten as one
PUSH_ATTEMPTS = 6
OUTGOING_REF = "refs/claude-sync/outgoing"
_UUID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")
# Inherited from a surrounding git process, these would point git at the wrong repository.
_FOREIGN_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE")


def blob_id(data: bytes) -> str:
    """The id git gives a blob, computed without git."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def session_dir(sid: str) -> str:
    if not _UUID_RE.match(sid):
        raise SessionNotFound(f"not a session id: {sid!r}")
    return f"sessions/{sid[0]}/{sid[1]}/{sid}"


def _cquote(path: str) -> str:
    if not any(c in path for c in '"\\\n') and path.isascii():
        return path
    out = []
    for b in path.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


class GitFailure(BackendError):
    def __init__(self, args: list[str], status: int, stderr: str) -> None:
        self.status, self.stderr = status, stderr
        tail = " ".join(stderr.strip().splitlines()[-3:]) or f"exit {status}"
        super().__init__(f"git {args[0]} failed: {tail}")


class GitBackend(Backend):
    name = "git"

    def __init__(self, url: str, mirror: Path, *, branch: str = "main", device: str = "device", timeout: float = 300) -> None:
        for var in _FOREIGN_GIT_ENV:
            os.environ.pop(var, None)
        self.url, self.mirror, self.branch, self.device, self.timeout = url, mirror, branch, device, timeout
        self.env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
        self._ensure_mirror()
        self._g = Git(str(mirror))
        if "GIT_SSH_COMMAND" not in os.environ and "GIT_SSH" not in os.environ:
            if not self._git_ok("config", "--get", "core.sshCommand"):
                # Fail at once on a missing key instead of prompting for a passphrase.
                self.env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
        self._head: str | None = self._rev(f"refs/remotes/origin/{branch}")
        self._listing: tuple[str | None, list[RemoteEntry]] | None = None

    # -- plumbing ----------------------------------------------------------

    def _ensure_mirror(self) -> None:
        if not (self.mirror / "HEAD").exists():
            self.mirror.mkdir(parents=True, exist_ok=True)
            repo = Repo.init(self.mirror, bare=True)
            repo.close()
        repo = Repo(self.mirror)
        try:
            with repo.config_writer() as cw:
                if not cw.has_section('remote "origin"') or cw.get_value('remote "origin"', "url", "") != self.url:
                    cw.set_value('remote "origin"', "url", self.url)
                    cw.set_value('remote "origin"', "fetch", "+refs/heads/*:refs/remotes/origin/*")
                cw.set_value("gc", "autoDetach", "false")
        finally:
            repo.close()

    def _run(self, *args: str, stdin: Path | None = None, timeout: float | None = None) -> bytes:
        cmd = ["git", *args]
        f = open(stdin, "rb") if stdin else None
        try:
            status, out, err = self._g.execute(
                cmd,
                istream=f,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                env=self.env,
                kill_after_timeout=timeout,
            )
        finally:
            if f:
                f.close()
        if status != 0:
            raise GitFailure(list(args), status, err if isinstance(err, str) else err.decode("utf-8", "replace"))
        return out

    def _git_ok(self, *args: str) -> bool:
        try:
            self._run(*args)
            return True
        except GitFailure:
            return False

    def _rev(self, ref: str) -> str | None:
        try:
            return self._run("rev-parse", "--verify", "-q", ref + "^{commit}").decode().strip() or None
        except GitFailure:
            return None

    def _cat(self, specs: list[str]) -> dict[str, bytes | None]:
        """Contents of many objects in one `git cat-file --batch`."""
        if not specs:
            return {}
        with tempfile.NamedTemporaryFile("wb", delete=False) as tf:
            tf.write(("\n".join(specs) + "\n").encode("utf-8"))
        try:
            out = self._run("cat-file", "--batch", stdin=Path(tf.name))
        finally:
            os.unlink(tf.name)
        result: dict[str, bytes | None] = {}
        pos = 0
        for spec in specs:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].decode()
            pos = nl + 1
            if header.endswith(" missing") or header.endswith(" ambiguous"):
                result[spec] = None
                continue
            size = int(header.rsplit(" ", 1)[1])
            result[spec] = out[pos : pos + size]
            pos += size + 1
        return result

    def _tree(self, commit: str, paths: list[str]) -> dict[str, tuple[str, int]]:
        """path -> (blob id, size) of every file under `paths` at `commit`."""
        out: dict[str, tuple[str, int]] = {}
        for i in range(0, len(paths), 200):
            raw = self._run("ls-tree", "-r", "-l", "-z", commit, "--", *paths[i : i + 200])
            for rec in raw.split(b"\0"):
                if not rec:
                    continue
                meta, path = rec.split(b"\t", 1)
                _mode, kind, oid, size = meta.split()
                if kind == b"blob":
                    out[path.decode("utf-8")] = (oid.decode(), int(size))
        return out

    # -- Backend -----------------------------------------------------------

    def refresh(self) -> None:
        try:
            self._run("fetch", "--prune", "--quiet", "origin", timeout=self.timeout)
        except GitFailure as e:
            raise BackendError(f"cannot fetch from the Git repository {self.url}: {e.stderr.strip() or e}") from e
        self._head = self._rev(f"refs/remotes/origin/{self.branch}")

    def entries(self) -> list[RemoteEntry]:
        head = self._head
        if head is None:
            return []
        if self._listing and self._listing[0] == head:
            return list(self._listing[1])
        dirs = self._run("ls-tree", "-r", "-d", "--name-only", "-z", head, "--", "sessions").split(b"\0")
        sdirs = [d.decode() for d in dirs if d.count(b"/") == 3]
        blobs = self._cat([f"{head}:{d}/{SESSION_JSON}" for d in sdirs])
        entries = []
        for spec, data in blobs.items():
            if data is None:
                continue
            try:
                entries.append(RemoteEntry.model_validate(json.loads(data)))
            except ValueError as e:
                log.warning("skipping unreadable %s: %s", spec, e)
        entries.sort(key=lambda e: e.session_id)
        self._listing = (head, entries)
        return list(entries)

    def fetch(self, session_id: str) -> Bundle:
        head = self._head
        base = session_dir(session_id)
        files = self._tree(head, [base]) if head else {}
        if f"{base}/{SESSION_JSON}" not in files:
            raise SessionNotFound(f"session {session_id} is not in the Git repository")
        blobs = self._cat([oid for oid, _ in files.values()])
        meta = json.loads(blobs[files[f"{base}/{SESSION_JSON}"][0]] or b"{}")
        logs: dict[str, list[tuple[str, bytes]]] = {}
        content: dict[str, bytes] = {}
        for path, (oid, _size) in files.items():
            rel = path[len(base) + 1 :]
            data = blobs[oid]
            if data is None:
                raise BundleError(f"git object {oid} of session {session_id} is missing")
            if rel.startswith("files/"):
                content[rel[len("files/") :]] = data
            elif rel.startswith("logs/"):
                name, _, seg = rel[len("logs/") :].rpartition("/")
                logs.setdefault(name, []).append((seg, data))
        for name, segs in logs.items():
            content[name] = b"".join(d for _, d in sorted(segs))
        if content_digest(content) != meta.get("content_sha256"):
            raise BundleError(f"session {session_id} in the Git repository does not match its checksum; nothing was written")
        manifest = Manifest.model_validate({k: v for k, v in meta.items() if k in Manifest.model_fields})
        return Bundle.build(manifest, content, set(meta.get("binary", [])))

    def push(self, items: list[PushItem]) -> dict[str, PushResult]:
        results: dict[str, PushResult] = {}
        pending = list(items)
        for attempt in range(PUSH_ATTEMPTS):
            current = {e.session_id: e.content_sha256 for e in self.entries()}
            todo: list[PushItem] = []
            for item in pending:
                if current.get(item.bundle.session_id) != item.base:
                    results[item.bundle.session_id] = PushResult.CONFLICT
                else:
                    todo.append(item)
            if not todo:
                return results
            commit = self._write_commit(self._head, todo)
            if self._push_commit(commit):
                self._head = commit
                for item in todo:
                    results[item.bundle.session_id] = PushResult.PUSHED
                return results
            # Another device pushed first: take its commits and try again.
            log.info("push rejected (attempt %d), fetching and retrying", attempt + 1)
            time.sleep(min(0.2 * (attempt + 1), 1.0))
            self.refresh()
            pending = todo
        raise BackendError(f"the Git repository kept changing; gave up after {PUSH_ATTEMPTS} attempts")

    # -- writing -----------------------------------------------------------

    def _write_commit(self, parent: str | None, items: list[PushItem]) -> str:
        bases = [session_dir(i.bundle.session_id) for i in items]
        existing = self._tree(parent, bases) if parent else {}
        with tempfile.NamedTemporaryFile("wb", delete=False, suffix=".fi") as out:
            w = out.write
            now = int(time.time())
            msg = f"claude-sync: {len(items)} session(s) from {self.device}\n".encode()
            w(b"feature done\n")
            w(f"commit {OUTGOING_REF}\n".encode())
            w(f"committer claude-sync <{_safe(self.device)}@claude-sync> {now} +0000\n".encode())
            w(b"data %d\n" % len(msg) + msg)
            if parent:
                w(f"from {parent}\n".encode())
            for item, base in zip(items, bases):
                self._write_session(w, base, item.bundle, existing)
            w(b"done\n")
        try:
            self._run("update-ref", "-d", OUTGOING_REF)
            self._run("fast-import", "--quiet", "--force", stdin=Path(out.name))
        finally:
            os.unlink(out.name)
        commit = self._rev(OUTGOING_REF)
        assert commit
        return commit

    def _write_session(self, w, base: str, bundle: Bundle, existing: dict[str, tuple[str, int]]) -> None:  # type: ignore[no-untyped-def]
        def put(path: str, data: bytes) -> None:
            w(f"M 100644 inline {_cquote(path)}\n".encode() + b"data %d\n" % len(data) + data + b"\n")

        def delete(path: str) -> None:
            w(f"D {_cquote(path)}\n".encode())

        mine = {p[len(base) + 1 :]: v for p, v in existing.items() if p.startswith(base + "/")}
        old_logs: dict[str, list[tuple[str, str, int]]] = {}
        old_files: dict[str, str] = {}
        for rel, (oid, size) in mine.items():
            if rel.startswith("logs/"):
                name, _, seg = rel[len("logs/") :].rpartition("/")
                old_logs.setdefault(name, []).append((seg, oid, size))
            elif rel.startswith("files/"):
                old_files[rel[len("files/") :]] = oid
        for name, data in sorted(bundle.files.items()):
            if is_log(name):
                segs = sorted(old_logs.get(name, []))
                off, prefix = 0, bool(segs)
                for _seg, oid, size in segs:
                    if off + size > len(data) or blob_id(data[off : off + size]) != oid:
                        prefix = False
                        break
                    off += size
                if prefix and len(segs) < SEGMENT_LIMIT:
                    if off < len(data):
                        put(f"{base}/logs/{name}/{int(segs[-1][0]) + 1:06d}", data[off:])
                else:
                    if segs:
                        delete(f"{base}/logs/{name}")
                    put(f"{base}/logs/{name}/000000", data)
            elif old_files.get(name) != blob_id(data):
                put(f"{base}/files/{name}", data)
        for name in old_logs:
            if name not in bundle.files:
                delete(f"{base}/logs/{name}")
        for name in old_files:
            if name not in bundle.files:
                delete(f"{base}/files/{name}")
        header = bundle.manifest.model_dump(mode="json", exclude={"files"})
        header.update(
            content_sha256=content_digest(bundle),
            size=sum(len(d) for d in bundle.files.values()),
            binary=sorted(e.path for e in bundle.manifest.files if not e.text),
        )
        put(f"{base}/{SESSION_JSON}", json.dumps(header, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8"))

    def _push_commit(self, commit: str) -> bool:
        """True when pushed; False when the remote moved on (not a fast-forward)."""
        try:
            self._run("push", "origin", f"{commit}:refs/heads/{self.branch}", timeout=self.timeout)
        except GitFailure as e:
            text = e.stderr
            if any(s in text for s in ("[rejected]", "non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref")):
                return False
            raise BackendError(f"cannot push to the Git repository {self.url}: {text.strip() or e}") from e
        self._run("update-ref", f"refs/remotes/origin/{self.branch}", commit)
        return True


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "device"
