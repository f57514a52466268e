"""Git backend: sessions in a private repository, driven through the system `git`.

Layout of the repository (one folder per session, fanned out by id):

    sessions/<s0>/<s1>/<sid>/session.json        manifest header + content digest
    sessions/<s0>/<s1>/<sid>/files/<logical>      files (tasks, file history, meta)
    sessions/<s0>/<s1>/<sid>/logs/<logical>/<NNNNNN>   a JSONL log as append segments
    claude-sync-format.json                       {"format": N}: the format version (format/version.py)

Since format 6 each file and segment of a session whose session.json says `"blobs": "gzip"`
is one gzip member (format/gzblob.py): git stores and hashes a fifth of the bytes, and a new
device's fetch no longer inflates and hashes every byte of the transcripts on one core.
Sessions written before stay as they are (plain) and are read as such; the next push of one
writes it whole, gzip'd. Sealed sessions are not compressed (their frames are ciphertext).

A log that grew since the last push gets one new segment holding only the new
bytes, so a growing session adds objects proportional to what was appended
instead of a new compressed copy of the whole transcript. The session's files
are checked against the SHA-256 content digest in session.json before a pull
writes anything.

Commits are written with `git fast-import` on top of the fetched remote head and
pushed without force; when another device pushed meanwhile, we fetch, check that
none of our sessions moved under us (else report a conflict for them), and retry.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from git import Git, Repo

from .. import atomic
from ..format import gzblob, version
from ..format.bundle import (
    DEFAULT_MAX_BYTES,
    Bundle,
    ContentCheck,
    Manifest,
    content_digest,
    is_opaque,
)
from ..format.errors import BackendError, BundleError, SessionNotFound, SyncError
from ..format.layout import is_log, is_sealed, is_session_id
from ..format.wire import RemoteEntry
from ..jsonload import loads
from ..spill import SpillFolders, SpillSink
from .base import Backend, PushItem, PushResult

log = logging.getLogger(__name__)

SESSION_JSON = "session.json"
# A session.json holds a session's metadata and the names of its binary files: 16 MB is thousands of
# times what one needs. A listing reads them 64 MB at a time whatever a host makes them.
MAX_HEADER_BYTES = 16 * 1024 * 1024
HEADER_BATCH_BYTES = 64 * 1024 * 1024
FORMAT_FILE = "claude-sync-format.json"  # at the root; absent from repositories written before versions
SEGMENT_LIMIT = 64  # past this many segments a log is rewritten as one
PUSH_ATTEMPTS = 6
OUTGOING_REF = "refs/claude-sync/outgoing"
LISTING_CACHE = "claude-sync-listing.json"
BLOBS, GZIP = "blobs", "gzip"  # session.json: how its files are stored (absent: plain, before format 6)
# git's zlib level for a bulk push (staged sessions, or a commit of more than BULK_BYTES): none, as its
# files come gzip'd (or sealed: ciphertext does not compress); a small sync keeps git's default.
BULK_COMPRESSION = 0
BULK_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
_PIPE_BYTES = 1024 * 1024
_IN_FLIGHT = 256  # blobs asked of `git cat-file --batch` and not yet read, at most (about 10 KB of requests)
SPILL_DIR = "claude-sync-spill"
# git itself holds a whole object in memory below this size when it receives or reads one; above, it streams.
BIG_FILE = "core.bigFileThreshold=16m"
# git maps whole packs to send them (up to 1 GB resident): a push of the 2 GB corpus peaked at 504 MB
# in `git pack-objects`, 218 MB with these windows, and was no slower.
_PACK_WINDOWS = ("-c", "core.packedGitLimit=64m", "-c", "core.packedGitWindowSize=16m")
# Inherited from a surrounding git process, these would point git at the wrong repository.
_FOREIGN_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE")


def blob_id(data: bytes) -> str:
    """The id git gives a blob, computed without git."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def session_dir(sid: str) -> str:
    if not is_session_id(sid):
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

    def __init__(
        self,
        url: str,
        mirror: Path,
        *,
        branch: str = "main",
        device: str = "device",
        timeout: float = 300,
        max_bundle_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        for var in _FOREIGN_GIT_ENV:
            os.environ.pop(var, None)
        self.url, self.mirror, self.branch, self.device, self.timeout = url, mirror, branch, device, timeout
        self.max_bundle_bytes = max_bundle_bytes
        self.env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
        ssh_configured = self._ensure_mirror()
        self._g = Git(str(mirror))
        if "GIT_SSH_COMMAND" not in os.environ and "GIT_SSH" not in os.environ and not ssh_configured:
            # Fail at once on a missing key instead of prompting for a passphrase.
            self.env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
        self._head: str | None = self._rev(f"refs/remotes/origin/{branch}")
        self._listing: tuple[str | None, list[RemoteEntry]] | None = None
        self._unreadable: dict[str, str] = {}  # session id -> why its session.json cannot be read
        self._importer: _Importer | None = None  # holds what stage() wrote until the next push
        self._stage_lock = threading.Lock()
        self._staged: dict[str, tuple[str, dict[str, int]]] = {}  # session -> (content digest, blob marks)
        self._formats: dict[str, int | None] = {}  # commit -> the format version it records
        # The files of the sessions the last listing read, at its head: a pull of many sessions then
        # runs no `git ls-tree` per session. And one `git cat-file --batch` serves every fetch.
        self._files_at: tuple[str, dict[str, dict[str, tuple[str, int]]]] | None = None
        self._stream: _BlobStream | None = None
        self._spill = SpillFolders(self.mirror / SPILL_DIR)  # the large files of the sessions fetched
        self._stream_lock = threading.Lock()
        # A bulk push (hold()): commits written here on top of the remote head, pushed once by publish().
        self._holding = False
        self._held: dict[str, str | None] = {}  # session -> the remote version it replaces
        self._local: str | None = None  # the last commit holding them

    # -- plumbing ----------------------------------------------------------

    def _ensure_mirror(self) -> bool:
        """Create or adjust the mirror (its config is written only when it changes); True when an SSH command is configured."""
        if not (self.mirror / "HEAD").exists():
            self.mirror.mkdir(parents=True, exist_ok=True)
            repo = Repo.init(self.mirror, bare=True)
            repo.close()
        repo = Repo(self.mirror)
        try:
            wanted = {
                ('remote "origin"', "url"): self.url,
                ('remote "origin"', "fetch"): "+refs/heads/*:refs/remotes/origin/*",
                ("gc", "autoDetach"): "false",
            }
            with repo.config_reader("repository") as cr:
                stale = {k: v for k, v in wanted.items() if cr.get(*k, fallback=None) != v}
            if stale:
                with repo.config_writer() as cw:
                    for (section, option), value in stale.items():
                        cw.set_value(section, option, value)
            with repo.config_reader() as every_level:
                return bool(every_level.get("core", "sshCommand", fallback=""))
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
                    out[path.decode("utf-8", "replace")] = (oid.decode(), int(size))
        return out

    # -- Backend -----------------------------------------------------------

    def refresh(self) -> None:
        try:
            self._run("-c", BIG_FILE, "fetch", "--prune", "--quiet", "origin", timeout=self.timeout)
        except GitFailure as e:
            raise BackendError(f"cannot fetch from the Git repository {self.url}: {e.stderr.strip() or e}") from e
        self._head = self._rev(f"refs/remotes/origin/{self.branch}")

    def entries(self) -> list[RemoteEntry]:
        head = self._head
        if head is None:
            self._unreadable = {}
            return []
        if self._listing and self._listing[0] == head:
            return list(self._listing[1])
        known = self._load_listing()
        if known is not None and known[0] == head:
            entries, self._unreadable = known[1], known[2]
        else:
            by_id, self._unreadable = self._read_entries(head, known)
            entries = [by_id[sid] for sid in sorted(by_id)]
            self._save_listing(head, entries, self._unreadable)
        self._listing = (head, entries)
        return list(entries)

    def unreadable(self) -> dict[str, str]:
        self.entries()
        return dict(self._unreadable)

    def _read_entries(
        self, head: str, known: tuple[str, list[RemoteEntry], dict[str, str]] | None
    ) -> tuple[dict[str, RemoteEntry], dict[str, str]]:
        """The listing at `head` (and the sessions whose session.json cannot be read): from the one at an
        earlier commit plus the sessions changed since, else in full."""
        by_id: dict[str, RemoteEntry] = {}
        unreadable: dict[str, str] = {}
        sdirs: list[str] | None = None
        if known is not None:
            try:
                raw = self._run("diff-tree", "-r", "--name-only", "-z", known[0], head, "--", "sessions")
            except GitFailure:
                raw = None  # the old commit is gone (history rewritten): read everything
            if raw is not None:
                by_id, unreadable = {e.session_id: e for e in known[1]}, dict(known[2])
                changed = {"/".join(p.split("/")[:4]) for p in raw.decode("utf-8", "replace").split("\0") if p.count("/") >= 4}
                sdirs = sorted(changed)
        if sdirs is None:
            dirs = self._run("ls-tree", "-r", "-d", "--name-only", "-z", head, "--", "sessions").split(b"\0")
            sdirs = [d.decode("utf-8", "replace") for d in dirs if d.count(b"/") == 3]
        # What each session really holds (git's own object sizes), not what its session.json says.
        sizes: dict[str, int] = {}
        files: dict[str, dict[str, tuple[str, int]]] = {}
        for path, (oid, size) in self._tree(head, sdirs).items():
            d = "/".join(path.split("/")[:4])
            files.setdefault(d, {})[path] = (oid, size)
            if not path.endswith("/" + SESSION_JSON) or path.count("/") > 4:
                sizes[d] = sizes.get(d, 0) + size
        self._files_at = (head, files)
        for d, data in self._session_jsons(head, sdirs, files):
            sid = d.rsplit("/", 1)[-1]
            by_id.pop(sid, None)
            unreadable.pop(sid, None)
            if data is None:
                continue  # deleted
            if isinstance(data, int):
                unreadable[sid] = (
                    f"its {SESSION_JSON} in the Git repository is {data} bytes, more than any session's "
                    f"({MAX_HEADER_BYTES}); nothing was read"
                )
                continue
            try:
                if not is_session_id(sid) or d != session_dir(sid):
                    raise ValueError("not a session folder")
                e = RemoteEntry.model_validate(json.loads(data))
                if e.session_id != sid:
                    raise ValueError(f"it names session {e.session_id}")
            except (ValueError, SessionNotFound) as err:
                log.warning("unreadable %s/%s: %s", d, SESSION_JSON, err)
                unreadable[sid] = f"its {SESSION_JSON} in the Git repository cannot be read ({str(err)[:200]}); nothing was written"
                continue
            by_id[sid] = e.model_copy(update={"size": sizes.get(d, 0)})
        return by_id, unreadable

    def _session_jsons(
        self, head: str, sdirs: list[str], files: dict[str, dict[str, tuple[str, int]]]
    ) -> Iterator[tuple[str, bytes | int | None]]:
        """Each folder's session.json at `head`: its bytes, None when the folder is gone, or its size when
        that is past MAX_HEADER_BYTES (not read). The host decides their sizes: they are read
        HEADER_BATCH_BYTES at a time, each batch parsed before the next is read."""
        batch: list[str] = []
        held = 0

        def read() -> Iterator[tuple[str, bytes | None]]:
            got = self._cat([f"{head}:{d}/{SESSION_JSON}" for d in batch])
            for d in batch:
                yield d, got.pop(f"{head}:{d}/{SESSION_JSON}")

        for d in sdirs:
            found = files.get(d, {}).get(f"{d}/{SESSION_JSON}")
            size = found[1] if found else 0
            if size > MAX_HEADER_BYTES:
                yield d, size
                continue
            if batch and held + size > HEADER_BATCH_BYTES:
                yield from read()
                batch, held = [], 0
            batch.append(d)
            held += size
        if batch:
            yield from read()

    # The listing of the last head seen, kept in the mirror: a sync when nothing changed reads no session.json.
    def _listing_file(self) -> Path:
        return self.mirror / LISTING_CACHE

    def _load_listing(self) -> tuple[str, list[RemoteEntry], dict[str, str]] | None:
        try:
            raw = loads(self._listing_file().read_bytes())
            if raw.get("fields") != sorted(RemoteEntry.model_fields) or not isinstance(raw.get("head"), str):
                return None
            unreadable = raw.get("unreadable", {})
            if not isinstance(unreadable, dict):
                return None
            # Written by _save_listing from validated entries: constructing them again needs no validation.
            return raw["head"], [RemoteEntry.model_construct(**e) for e in raw["entries"]], unreadable
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def _save_listing(self, head: str, entries: list[RemoteEntry], unreadable: dict[str, str]) -> None:
        data = {
            "head": head,
            "fields": sorted(RemoteEntry.model_fields),
            "entries": [e.model_dump(mode="json") for e in entries],
            "unreadable": unreadable,
        }
        try:
            atomic.write_text(self._listing_file(), json.dumps(data, separators=(",", ":")))
        except OSError as e:
            log.info("cannot keep the remote listing in %s: %s", self._listing_file(), e)

    def fetch(self, session_id: str, have: Bundle | None = None) -> Bundle:
        # `have` is not needed: after a refresh the objects are in the local mirror, and a
        # fetch of a grown log brought only its new segment.
        head = self._head
        base = session_dir(session_id)
        if head and self._files_at is not None and self._files_at[0] == head and base in self._files_at[1]:
            files = dict(self._files_at[1][base])  # what the listing read at this head (git's own sizes)
        else:
            files = self._tree(head, [base]) if head else {}
        header = files.pop(f"{base}/{SESSION_JSON}", None)
        if header is None:
            raise SessionNotFound(f"session {session_id} is not in the Git repository")
        # Sizes from git's object headers, before a byte of content is read: a host cannot
        # declare a small session and send a large one.
        real = sum(size for _oid, size in files.values())
        if real > self.max_bundle_bytes:
            raise BundleError(
                f"session {session_id} holds {real} bytes in the Git repository, more than the limit of "
                f"{self.max_bundle_bytes} (max_bundle_bytes); nothing was read"
            )
        if header[1] > MAX_HEADER_BYTES:
            raise BundleError(f"session {session_id}: its {SESSION_JSON} is too large; nothing was read")
        parts: dict[str, list[tuple[str, str, int]]] = {}  # logical name -> (segment, blob id, size) in order
        for path, (oid, size) in files.items():
            rel = path[len(base) + 1 :]
            if rel.startswith("files/"):
                parts[rel[len("files/") :]] = [("", oid, size)]
            elif rel.startswith("logs/"):
                name, _, seg = rel[len("logs/") :].rpartition("/")
                parts.setdefault(name, []).append((seg, oid, size))
            else:
                raise BundleError(f"session {session_id}: unknown file {rel!r} in the Git repository; nothing was written")
        ordered = {n: [(oid, size) for _seg, oid, size in sorted(parts[n])] for n in sorted(parts)}
        self._spill.next()
        with self._stream_lock:
            blobs = self._blobs()
            # Every object of the session asked for at once: git reads the next ones while these are checked.
            blobs.ask([header[0], *(oid for p in ordered.values() for oid, _size in p)])
            try:
                meta = json.loads(b"".join(blobs.next(header[0])) or b"{}")
                if not isinstance(meta, dict):
                    raise ValueError("not an object")
                manifest = Manifest.model_validate({k: v for k, v in meta.items() if k in Manifest.model_fields})
                binary = set(meta.get("binary", []))
                stored_as = meta.get(BLOBS)
                if stored_as not in (None, GZIP):
                    raise ValueError(f"its files are stored as {str(stored_as)[:40]!r}, which this claude-sync cannot read (upgrade it?)")
            except (ValueError, TypeError) as e:
                raise BundleError(f"session {session_id}: its {SESSION_JSON} cannot be read ({str(e)[:200]}); nothing was written") from e
            if manifest.session_id != session_id:
                raise BundleError(f"session {session_id}: its {SESSION_JSON} names session {manifest.session_id}; nothing was written")
            opaque = is_opaque(manifest)
            if opaque:
                # Every file of a sealed session is binary (docs/encryption.md); session.json does not list them.
                binary = set(parts)
            content = self._read_checked(blobs, session_id, ordered, binary, opaque, stored_as == GZIP)
        bundle = Bundle.build(manifest, content, binary, contents_checked=True)
        if content_digest(bundle) != meta.get("content_sha256"):  # of the digests build() took: one pass over the bytes
            raise BundleError(f"session {session_id} in the Git repository does not match its checksum; nothing was written")
        return bundle

    def _read_checked(
        self, blobs: _BlobStream, session_id: str, parts: dict[str, list[tuple[str, int]]], binary: set[str],
        opaque: bool = False, gzipped: bool = False,
    ) -> dict[str, bytes]:
        """Each file's bytes (a log's segments joined, inflated when `gzipped`), in the order of `parts`,
        checked as they stream out of git (bundle.ContentCheck): a damaged file is refused at the first
        bad line, before the rest is read. Gzip'd, the session may not inflate past max_bundle_bytes."""
        content: dict[str, bytes] = {}
        budget = self.max_bundle_bytes
        for name, segments in parts.items():
            check = ContentCheck(name)
            text = name not in binary
            sink = SpillSink(self._spill, str(len(content)))
            try:
                for oid, _size in segments:
                    chunks = blobs.next(oid)
                    if gzipped:
                        chunks = gzblob.inflate(chunks, budget - sink.size, f"session {session_id}: {name}")
                    for chunk in chunks:
                        check.feed(chunk)
                        sink.add(chunk)
                        if not opaque and (check.log_problem or (text and not check.log and not check.utf8)):
                            break
                    why = None if opaque else check.problem(text)
                    if why:
                        raise BundleError(f"session {session_id}: refused: {why}; nothing was written")
                budget -= sink.size
            except BaseException:
                sink.drop()
                raise
            why = None if opaque else check.finish().problem(text)
            if why:
                sink.drop()
                raise BundleError(f"session {session_id}: refused: {why}; nothing was written")
            content[name] = sink.result()  # type: ignore[assignment]
        return content

    def _blobs(self) -> _BlobStream:
        """The `git cat-file --batch` this backend reads objects through (started again after a read left unfinished)."""
        if self._stream is not None and not self._stream.ready():
            self._stream.close()
            self._stream = None
        if self._stream is None:
            self._stream = _BlobStream(self.mirror, self.env)
        return self._stream

    def recorded_format(self, commit: str | None) -> int | None:
        """The format version the repository records at `commit` (None: none recorded)."""
        if commit is None:
            return None
        if commit not in self._formats:
            data = self._cat([f"{commit}:{FORMAT_FILE}"])[f"{commit}:{FORMAT_FILE}"]
            where = f"the Git repository {self.url}"
            if data is None:
                self._formats[commit] = None
            else:
                try:
                    recorded = json.loads(data).get("format")
                except (ValueError, AttributeError) as e:
                    raise SyncError(f"{where} has an unreadable {FORMAT_FILE}: {e}; nothing was written") from e
                self._formats[commit] = version.parse(recorded, where)
        return self._formats[commit]

    def _migrate(self, step: version.Migration) -> None:
        version.migrate_nothing_stored(step)  # each step so far adds kinds of objects or keys, changes none

    def hold(self) -> bool:
        # Each `git push` becomes a pack of its own on the remote, and a clone of a remote made of
        # several packs makes git compute deltas between them on every clone (56 of the 64 s a new
        # device took to pull 1,000 sessions). Held, a bulk push lands as one pack.
        self._holding, self._held, self._local = True, {}, None
        return True

    def _push_held(self, items: list[PushItem]) -> dict[str, PushResult]:
        current = {e.session_id: e.content_sha256 for e in self.entries()}  # the remote head's
        results: dict[str, PushResult] = {}
        todo = []
        for item in items:
            sid = item.bundle.session_id
            if current.get(sid) != item.base:
                results[sid] = PushResult.CONFLICT
            else:
                todo.append(item)
        if todo:
            self._local = self._write_commit(self._local or self._head, todo)
            for item in todo:
                self._held[item.bundle.session_id] = item.base
                results[item.bundle.session_id] = PushResult.HELD
        return results

    def publish(self) -> dict[str, PushResult]:
        held, local = self._held, self._local
        self._holding, self._held, self._local = False, {}, None
        results: dict[str, PushResult] = {}
        if local is None:
            return results
        for attempt in range(PUSH_ATTEMPTS):
            if self._push_commit(local, whole=True):
                self._head = local
                results.update({sid: PushResult.PUSHED for sid in held})
                return results
            # Another device pushed meanwhile: our sessions it did not change go on top of its commit.
            log.info("push rejected (attempt %d), fetching and retrying", attempt + 1)
            time.sleep(min(0.2 * (attempt + 1), 1.0))
            self.refresh()
            current = {e.session_id: e.content_sha256 for e in self.entries()}
            for sid, base in list(held.items()):
                if current.get(sid) != base:
                    results[sid] = PushResult.CONFLICT
                    del held[sid]
            if not held:
                return results
            local = self._replay(local, sorted(held))
        raise BackendError(f"the Git repository kept changing; gave up after {PUSH_ATTEMPTS} attempts")

    def _replay(self, commit: str, session_ids: list[str]) -> str:
        """A commit on the remote head with these sessions' folders as `commit` holds them."""
        dirs = [session_dir(sid) for sid in session_ids]
        trees: dict[str, str] = {}
        for i in range(0, len(dirs), 200):
            for rec in self._run("ls-tree", "-z", commit, "--", *dirs[i : i + 200]).split(b"\0"):
                if rec:
                    meta, path = rec.split(b"\t", 1)
                    trees[path.decode("utf-8", "replace")] = meta.split()[2].decode()
        recorded = self.recorded_format(self._head)
        target = version.upgrade(recorded, f"the Git repository {self.url}", self._migrate)
        self._run("update-ref", "-d", OUTGOING_REF)

        def write(w: Callable[[bytes], object]) -> None:
            msg = f"claude-sync: {len(session_ids)} session(s) from {self.device}"
            self._commit_header(w, msg, self._head, None if recorded == target else target)
            for d in dirs:
                w(f"M 040000 {trees[d]} {d}\n".encode() if d in trees else f"D {d}\n".encode())

        return self._import(_Importer(self.mirror, self.env, None), write)

    def _import(self, imp: _Importer, write: Callable[[Callable[[bytes], object]], None]) -> str:
        """Feed one commit to `imp` and return it (GitFailure when fast-import refused it)."""
        try:
            write(imp.w)
        except BrokenPipeError:
            pass  # fast-import stopped: finish() reports why
        except BaseException:
            imp.kill()
            raise
        return self._finish(imp)

    def push(self, items: list[PushItem]) -> dict[str, PushResult]:
        if self._holding:
            return self._push_held(items)
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

    def remove(self, bases: dict[str, str]) -> dict[str, PushResult]:
        results: dict[str, PushResult] = {}
        for attempt in range(PUSH_ATTEMPTS):
            current = {e.session_id: e.content_sha256 for e in self.entries()}
            gone = sorted(sid for sid, base in bases.items() if current.get(sid) == base)
            results = {sid: PushResult.CONFLICT for sid in bases if sid not in gone}
            if not gone:
                return results
            commit = self._remove_commit(self._head, gone)
            if self._push_commit(commit):
                self._head = commit
                results.update({sid: PushResult.PUSHED for sid in gone})
                return results
            log.info("compaction rejected (attempt %d), fetching and retrying", attempt + 1)
            self.refresh()
        raise BackendError(f"the Git repository kept changing; gave up after {PUSH_ATTEMPTS} attempts")

    def _remove_commit(self, parent: str | None, session_ids: list[str]) -> str:
        recorded = self.recorded_format(parent)
        target = version.upgrade(recorded, f"the Git repository {self.url}", self._migrate)
        self._run("update-ref", "-d", OUTGOING_REF)
        imp = _Importer(self.mirror, self.env, None)
        try:
            msg = f"claude-sync: {len(session_ids)} expired tombstone(s) removed by {self.device}"
            self._commit_header(imp.w, msg, parent, None if recorded == target else target)
            for sid in session_ids:
                imp.w(f"D {session_dir(sid)}\n".encode())
        except BaseException:
            imp.kill()
            raise
        return self._finish(imp)

    def _finish(self, imp: _Importer) -> str:
        imp.finish()
        commit = self._rev(OUTGOING_REF)
        assert commit
        return commit

    def _commit_header(self, w, message: str, parent: str | None, new_format: int | None) -> None:  # type: ignore[no-untyped-def]
        """The start of a fast-import commit on OUTGOING_REF, recording `new_format` when it changes."""
        msg = (message + "\n").encode()
        w(f"commit {OUTGOING_REF}\n".encode())
        w(f"committer claude-sync <{_safe(self.device)}@claude-sync> {int(time.time())} +0000\n".encode())
        w(b"data %d\n" % len(msg) + msg)
        if parent:
            w(f"from {parent}\n".encode())
        if new_format is not None:
            record = json.dumps({"format": new_format}).encode() + b"\n"
            w(f"M 100644 inline {FORMAT_FILE}\ndata {len(record)}\n".encode() + record + b"\n")

    def close(self) -> None:
        self._spill.clear()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        # Staged files that no push took: let git finish storing them (unreferenced, gc drops them).
        with self._stage_lock:
            imp, self._importer, self._staged = self._importer, None, {}
        if imp is not None:
            try:
                imp.finish()
            except GitFailure as e:
                log.info("%s", e)

    # -- writing -----------------------------------------------------------

    def stage(self, bundle: Bundle) -> None:
        """Start storing a session that is new on the remote before push() is asked to: git
        compresses its files while the next sessions are being packed. push() uses what was
        staged when the session is still new there, and writes it whole otherwise."""
        stored = {n: self._stored(bundle, d) for n, d in bundle.files.items()}  # outside the lock: ISA-L frees the GIL
        with self._stage_lock:  # the engine may push the previous batch from another thread meanwhile
            if self._importer is None:
                self._importer = _Importer(self.mirror, self.env, BULK_COMPRESSION)
            imp = self._importer
            self._staged[bundle.session_id] = (content_digest(bundle), {n: imp.blob(d) for n, d in stored.items()})

    @staticmethod
    def _gzipped(bundle: Bundle) -> bool:
        """Whether this session's files are stored gzip'd: all but sealed ones (ciphertext does not compress)."""
        return not is_opaque(bundle.manifest)

    def _stored(self, bundle: Bundle, data: bytes) -> bytes:
        """The blob that stores `data`, a file (or a log's segment) of `bundle`."""
        return gzblob.compress(data) if self._gzipped(bundle) else data

    def _write_commit(self, parent: str | None, items: list[PushItem]) -> str:
        recorded = self.recorded_format(parent)
        target = version.upgrade(recorded, f"the Git repository {self.url}", self._migrate)
        bases = [session_dir(i.bundle.session_id) for i in items]
        existing = self._tree(parent, bases) if parent else {}
        held = {p.rsplit("/", 1)[0] for p in existing if p.endswith("/" + SESSION_JSON)}
        headers = self._cat([f"{parent}:{b}/{SESSION_JSON}" for b in bases if b in held]) if parent else {}
        gzipped = {b for b in bases if _says_gzip(headers.get(f"{parent}:{b}/{SESSION_JSON}"))}
        self._run("update-ref", "-d", OUTGOING_REF)
        with self._stage_lock:
            imp, staged = self._importer, self._staged
            self._importer, self._staged = None, {}
        if imp is None:
            size = sum(len(d) for i in items for d in i.bundle.files.values())
            imp = _Importer(self.mirror, self.env, BULK_COMPRESSION if size > BULK_BYTES else None)

        def write(w: Callable[[bytes], object]) -> None:
            msg = f"claude-sync: {len(items)} session(s) from {self.device}"
            self._commit_header(w, msg, parent, None if recorded == target else target)
            for item, base in zip(items, bases):
                marks = staged.get(item.bundle.session_id)
                new = not any(p.startswith(base + "/") for p in existing)
                use = marks[1] if marks is not None and new and marks[0] == content_digest(item.bundle) else None
                self._write_session(w, base, item.bundle, existing, use, base in gzipped)

        return self._import(imp, write)

    def _write_session(  # type: ignore[no-untyped-def]
        self, w, base: str, bundle: Bundle, existing: dict[str, tuple[str, int]], marks: dict[str, int] | None = None,
        was_gzipped: bool = False,
    ) -> None:
        """The commands that make `base` hold `bundle`, given what it holds now (`existing`, stored gzip'd
        when `was_gzipped`): only new segments for logs that grew, only files that changed."""

        def put(path: str, data: bytes) -> None:
            w(f"M 100644 inline {_cquote(path)}\ndata {len(data)}\n".encode())
            w(data)
            w(b"\n")

        if marks is not None:  # new on the remote, its files already in the importer
            for name in sorted(bundle.files):
                where = f"{base}/logs/{name}/000000" if is_log(name) else f"{base}/files/{name}"
                w(f"M 100644 :{marks[name]} {_cquote(where)}\n".encode())
            put(f"{base}/{SESSION_JSON}", self._header(bundle))
            return

        def delete(path: str) -> None:
            w(f"D {_cquote(path)}\n".encode())

        mine = {p[len(base) + 1 :]: v for p, v in existing.items() if p.startswith(base + "/")}
        if mine and was_gzipped != self._gzipped(bundle):
            delete(base)  # stored the other way (plain before format 6, or sealed since): written again whole
            mine = {}
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
                held = self._held_prefix(segs, data, was_gzipped) if segs else None
                if held is not None and len(segs) < SEGMENT_LIMIT:
                    if held < len(data):
                        put(f"{base}/logs/{name}/{int(segs[-1][0]) + 1:06d}", self._stored(bundle, data[held:]))
                else:
                    if segs:
                        delete(f"{base}/logs/{name}")
                    put(f"{base}/logs/{name}/000000", self._stored(bundle, data))
            else:
                stored = self._stored(bundle, data)
                old = old_files.get(name)
                # Unchanged: the same gzip bytes (one compressor is deterministic), or, written by
                # another one (ISA-L or zlib: the extension's bundled client has no ISA-L), the same
                # content once inflated.
                if old != blob_id(stored) and not (old is not None and was_gzipped and self._inflates_to(old, data)):
                    put(f"{base}/files/{name}", stored)
        for name in old_logs:
            if name not in bundle.files:
                delete(f"{base}/logs/{name}")
        for name in old_files:
            if name not in bundle.files:
                delete(f"{base}/files/{name}")
        put(f"{base}/{SESSION_JSON}", self._header(bundle))

    def _inflates_to(self, oid: str, data: bytes) -> bool:
        """Whether the gzip'd blob `oid` holds exactly `data`."""
        return self._held_prefix([("", oid, 0)], data, True) == len(data)

    def _held_prefix(self, segs: list[tuple[str, str, int]], data: bytes, gzipped: bool) -> int | None:
        """How many bytes of `data` the stored segments of a log hold, when they hold its start; else None."""
        if not gzipped:
            off = 0
            for _seg, oid, size in segs:
                if off + size > len(data) or blob_id(data[off : off + size]) != oid:
                    return None
                off += size
            return off
        # Gzip'd segments are compared by what they inflate to (what the mirror holds, not what
        # session.json claims), a chunk at a time; the first difference ends the comparison.
        view, off = memoryview(data), 0
        with self._stream_lock:
            blobs = self._blobs()
            blobs.ask([oid for _seg, oid, _size in segs])
            try:
                for _seg, oid, _size in segs:
                    for chunk in gzblob.inflate(blobs.next(oid), len(data) - off, f"segment {oid}"):
                        if view[off : off + len(chunk)] != chunk:
                            return None
                        off += len(chunk)
            except BundleError as e:
                log.info("rewriting a log whose stored segments cannot be compared: %s", e)
                return None
        return off

    @classmethod
    def _header(cls, bundle: Bundle) -> bytes:
        header = bundle.manifest.model_dump(mode="json", exclude={"files"})
        header.update(
            content_sha256=content_digest(bundle),
            size=sum(len(d) for d in bundle.files.values()),
            binary=[]
            if is_sealed(bundle.session_id, bundle.manifest.project_key)
            else sorted(e.path for e in bundle.manifest.files if not e.text),
        )
        if cls._gzipped(bundle):
            header[BLOBS] = GZIP
        return json.dumps(header, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")

    def _push_commit(self, commit: str, whole: bool = False) -> bool:
        """True when pushed; False when the remote moved on (not a fast-forward). `whole`: what
        several fast-imports stored goes as it is (git would otherwise look for deltas between them)."""
        window = ["-c", "pack.window=0"] if whole else []
        try:
            self._run(*window, *_PACK_WINDOWS, "push", "origin", f"{commit}:refs/heads/{self.branch}", timeout=self.timeout)
        except GitFailure as e:
            text = e.stderr
            if any(s in text for s in ("[rejected]", "non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref")):
                return False
            raise BackendError(f"cannot push to the Git repository {self.url}: {text.strip() or e}") from e
        self._run("update-ref", f"refs/remotes/origin/{self.branch}", commit)
        return True


def _widen_pipe(fd: int) -> None:
    """Let git write up to 1 MB ahead into the pipe (Linux; 64 KB by default): each read that
    finds the pipe empty makes this thread give up the GIL and wait for it again behind the
    threads that write files, so fewer, larger reads make the whole pull faster."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except (ImportError, OSError):
        pass  # not Linux, or above the system's limit for pipes: the default works, slower


class _BlobStream:
    """One `git cat-file --batch` for many blobs, each read in chunks (never one whole output buffer):
    a pull of thousands of sessions starts one git, not one per session. The blobs of a session are
    asked for together (`ask`), so git reads the next while the caller checks this one."""

    def __init__(self, mirror: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["git", "-c", BIG_FILE, "cat-file", "--batch"], cwd=mirror, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env={**os.environ, **env}, bufsize=_PIPE_BYTES,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # Read as much as git has written at a time (not 8 KB): the header and content of many small
        # objects come out of one read, and each read is a syscall that lets another thread take the GIL.
        self._in, self._out = self.proc.stdin, self.proc.stdout
        _widen_pipe(self._out.fileno())
        self._left = 0  # bytes of the current blob not yet read
        self._broken = False  # a blob was not read to its end (or git went away): start another git
        self._asked: collections.deque[str] = collections.deque()  # sent to git, answer not yet read
        self._to_ask: collections.deque[str] = collections.deque()  # to send once fewer are in flight

    def ready(self) -> bool:
        # No poll() of the process per blob: a git that went away fails the next read or write.
        return not self._broken and not self._left and not self._asked and not self._to_ask and self.proc.returncode is None

    def ask(self, oids: list[str]) -> None:
        """Blobs that will be read next, in this order, each with next()."""
        self._to_ask.extend(oids)
        self._send()

    def _send(self) -> None:
        # At most _IN_FLIGHT requests unanswered: they always fit in the pipe to git, which may be
        # blocked writing answers nobody reads yet (else both sides would wait on each other).
        if len(self._asked) > _IN_FLIGHT // 2 or not self._to_ask:
            return
        batch = [self._to_ask.popleft() for _ in range(min(len(self._to_ask), _IN_FLIGHT - len(self._asked)))]
        try:
            self._in.write("".join(oid + "\n" for oid in batch).encode("ascii"))
            self._in.flush()
        except (BrokenPipeError, UnicodeEncodeError) as e:
            self._broken = True
            raise BundleError(f"cannot read git objects: {e}") from e
        self._asked.extend(batch)

    def next(self, oid: str) -> Iterator[bytes]:
        """The content of blob `oid`, in chunks; read each whole before asking for the next."""
        if self._broken or self._left:
            raise BundleError("the previous git object was not read to its end")
        if not self._asked and not self._to_ask:
            self.ask([oid])
        self._send()
        if not self._asked or self._asked[0] != oid:
            self._broken = True
            raise BundleError(f"git object {oid} was read out of the order it was asked for")
        self._asked.popleft()
        self._broken = True  # until this blob is read to its end
        header = self._out.readline(256).decode("ascii", "replace").split()
        if len(header) != 3 or header[0] != oid or header[1] != "blob":
            raise BundleError(f"git object {oid} is missing or not a file")
        self._left = int(header[2])
        while self._left:
            chunk = self._out.read(min(_CHUNK, self._left))
            if not chunk:
                raise BundleError(f"git object {oid} is cut short")
            self._left -= len(chunk)
            yield chunk
        self._out.read(1)  # the newline after each object
        self._broken = False

    def close(self) -> None:
        for f in (self._in, self._out):
            try:
                f.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class _Importer:
    """A `git fast-import` into the mirror, fed through a pipe: git compresses while Python writes on."""

    def __init__(self, mirror: Path, env: dict[str, str], level: int | None) -> None:
        self.err = tempfile.TemporaryFile()
        # No deltas (a log grows by new segments, not by deltas; trying costs as much as compressing)
        # and, for a bulk push, a fast zlib level: fast-import runs on one core and bounds the push.
        config = ["-c", f"pack.compression={level}"] if level is not None else []
        self.proc = subprocess.Popen(
            ["git", *config, "fast-import", "--quiet", "--force", "--depth=0"],
            cwd=mirror, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.err,
            env={**os.environ, **env}, bufsize=1 << 20,
        )
        assert self.proc.stdin is not None
        self.w = self.proc.stdin.write
        self.marks = 0
        self.w(b"feature done\n")

    def blob(self, data: bytes) -> int:
        self.marks += 1
        self.w(b"blob\nmark :%d\ndata %d\n" % (self.marks, len(data)))
        self.w(data)
        self.w(b"\n")
        return self.marks

    def finish(self) -> None:
        """End the stream; raise GitFailure when git refused it."""
        try:
            self.w(b"done\n")
            self.proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        status = self.proc.wait()
        self.err.seek(0)
        message = self.err.read().decode("utf-8", "replace")
        self.err.close()
        if status != 0:
            raise GitFailure(["fast-import"], status, message)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.err.close()


def _says_gzip(header: bytes | None) -> bool:
    """Whether a session.json (as the mirror holds it, untrusted) says its files are gzip'd."""
    try:
        meta = json.loads(header) if header else None
    except ValueError:
        return False
    return isinstance(meta, dict) and meta.get(BLOBS) == GZIP


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "device"
