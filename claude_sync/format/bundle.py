"""The bundle: one session, path-tokenized, as a deterministic tar.gz with a manifest.

Same content gives the same bytes, so a SHA-256 of the whole bundle identifies a
version of a session on every device and backend. Reading a bundle verifies that
checksum first, then every member against the manifest, and refuses anything
unsafe (links, absolute or escaping names, unknown members, oversize) before a
single byte reaches the user's disk.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json as _from_json

from . import gzblob
from .errors import BundleError
from .layout import CONTROL_CHARACTER, MEMORY, TOMBSTONE, check_logical, check_owned, is_log, is_sealed
from .tarheaders import canonical_members
from .tokens import Context, Flavour
from .tombstone import TOMBSTONE_FILE, TOMBSTONE_KIND

# ISA-L inflates bundles 1.7x faster than zlib, same results: verifying bundles is the server's main
# cost. gzblob picks it where it is installed (pyproject.toml), zlib elsewhere.
_decompressobj: Callable[[int], Any] = gzblob.decompressobj
_INFLATE_ERROR: type[Exception] = gzblob.INFLATE_ERROR

# Checking that every line of a log is JSON was the largest part of verifying a bundle (10 ms of the
# 20 for a 1 MB bundle of 5 MB of transcript): both parsers build every object of the line. msgspec
# decoding into `Raw` checks the syntax without building anything, 5x faster; UTF-8 is checked
# apart. What it refuses (NaN, a BOM, lone surrogate escapes) still goes through them. Optional:
# the extension's bundled client leaves it out (scripts/package-extension.sh).
_json_syntax: Callable[[bytes], Any] | None
_JsonSyntaxError: type[Exception]
try:
    import msgspec

    _json_syntax, _JsonSyntaxError = msgspec.json.Decoder(msgspec.Raw).decode, msgspec.DecodeError
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    _json_syntax, _JsonSyntaxError = None, ValueError

FORMAT = 2  # the newest bundle format this tool reads
# Format 2: files may hold ${REPO_ROOT} and ${REPO_FOLDER} (format/tokens.py). A bundle is
# written as format 2 only when it uses them, so older devices still read every other one.
BASE_FORMAT = 1
REPO_TOKENS_FORMAT = 2
MANIFEST = "manifest.json"
FILES_PREFIX = "files/"
MAX_MEMBERS = 100_000
DEFAULT_MAX_BYTES = 4 * 1024**3


class FileEntry(BaseModel):
    path: str
    size: int
    sha256: str
    text: bool = True  # False: carried verbatim (not UTF-8), never rewritten


SESSION_KIND = "session"
# A project's memory: its own object per project, stored beside the sessions under memory_object_id(key).
MEMORY_KIND = "project-memory"
_MEMORY_NAMESPACE = uuid.UUID("6f1d2a8e-6c57-4f5e-9d0b-1c3f0a7e5b21")


@functools.lru_cache(maxsize=4096)  # asked for every remote entry of every sync; a few dozen projects
def memory_object_id(project_key: str) -> str:
    """The id under which a project's memory is stored beside its sessions (one per project key)."""
    return str(uuid.uuid5(_MEMORY_NAMESPACE, "project-memory:" + project_key))


class Manifest(BaseModel):
    format: int = BASE_FORMAT
    kind: str = SESSION_KIND  # or MEMORY_KIND (see check_kind)
    session_id: str
    project_key: str
    device: str
    source_flavour: Flavour = Flavour.POSIX
    last_modified: str | None = None
    first_timestamp: str | None = None
    title: str = ""
    message_count: int = 0
    # Sessions this one cannot be resumed without (the parent of a fork): they travel as their own sessions.
    depends_on: list[str] = []
    files: list[FileEntry] = []

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")


def check_kind(manifest: Manifest, names: Iterable[str]) -> None:
    """A session carries only names it owns; a memory object only memory files, under its project's id."""
    names = list(names)
    memory = [n for n in names if n.split("/", 1)[0] == MEMORY]
    tombstone = [n for n in names if n.split("/", 1)[0] == TOMBSTONE]
    if manifest.kind == SESSION_KIND:
        if memory:
            raise BundleError(f"a session bundle may not carry project memory ({memory[0]!r})")
        if tombstone:
            raise BundleError(f"a session bundle may not carry a tombstone ({tombstone[0]!r})")
    elif manifest.kind == TOMBSTONE_KIND:
        if names != [TOMBSTONE_FILE]:
            raise BundleError(f"a tombstone bundle carries exactly {TOMBSTONE_FILE!r}")
    elif manifest.kind == MEMORY_KIND:
        if len(memory) != len(names):
            raise BundleError("a project memory bundle may carry only memory files")
        if manifest.session_id != memory_object_id(manifest.project_key):
            raise BundleError(f"{manifest.session_id} is not the memory object of project {manifest.project_key!r}")
    else:
        raise BundleError(f"unknown bundle kind {manifest.kind!r}")


def sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def content_digest(files: dict[str, bytes] | Bundle) -> str:
    """Identity of a session version: its tokenized files, not who pushed it or when."""
    if isinstance(files, Bundle):
        pairs = [(e.path, e.sha256) for e in files.manifest.files]
    else:
        pairs = sorted((n, file_sha256(d)) for n, d in files.items())
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def parse_time(ts: str | None) -> float:
    """A manifest's ISO 8601 time as seconds since the epoch; 0.0 when absent or unreadable."""
    if not ts:
        return 0.0
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def context_for(logical: str) -> Context:
    return Context.JSON if logical.endswith((".jsonl", ".json")) else Context.RAW


def check_files(manifest: Manifest, files: Iterable[str]) -> None:
    """Refuse a bundle that carries a name it does not own: a session only names of its own part of
    the layout (layout.check_owned), a project memory object only its memory files (check_kind)."""
    names = list(files)
    try:
        check_kind(manifest, names)
        for name in names:
            if manifest.kind == SESSION_KIND:
                check_owned(manifest.session_id, name)
            else:
                check_logical(name)
    except BundleError as e:
        raise BundleError(f"session {manifest.session_id}: {e}; nothing was written") from e


def _loads_line(line: bytes) -> None:
    if _json_syntax is not None:
        try:
            _json_syntax(line)  # valid JSON (RFC 8259), checked without building the objects
            if not line.isascii():
                line.decode("utf-8")  # which that check does not look at
            return
        except (_JsonSyntaxError, UnicodeDecodeError, RecursionError):
            pass  # refused: the parsers below decide, as they do without msgspec
    try:
        _from_json(line)
    except ValueError:
        try:
            json.loads(line)  # what the Rust parser refuses and json takes (lone surrogate escapes)
        except RecursionError:  # a host's line nested deeper than Python's stack: refused like any bad line
            raise ValueError("nested too deeply") from None


class ContentCheck:
    """What a file's bytes must be, checked as they stream past, at about the cost of inflating them.

    Every file is checked to be UTF-8 (it must be, when the manifest marks it as text) and a
    log (`*.jsonl`) to be JSON lines ending with a newline: a log cut short by a host that also
    recomputed its checksums would otherwise be written as the session.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.log = is_log(name)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.utf8 = True
        self.log_problem: str | None = None
        self._carry = b""
        self._line = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.log:
            if self.log_problem is None:
                self._lines(chunk)
        elif self.utf8:
            try:
                self._utf8.decode(chunk)
            except UnicodeDecodeError:
                self.utf8 = False

    def _lines(self, chunk: bytes | memoryview) -> None:
        data = self._carry + chunk if self._carry else bytes(chunk)
        end = data.rfind(b"\n") + 1
        start = 0
        while start < end:
            nl = data.index(b"\n", start)
            self._line += 1
            try:
                _loads_line(data[start:nl])
            except ValueError as e:  # UnicodeDecodeError included
                self.log_problem = f"line {self._line} is not a JSON record ({str(e)[:80]})"
                self._carry = b""
                return
            start = nl + 1
        self._carry = data[end:]

    def finish(self) -> ContentCheck:
        if self.log and self.log_problem is None and self._carry:
            self.log_problem = "it does not end with a newline (cut short?)"
        elif not self.log and self.utf8:
            try:
                self._utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8 = False
        return self

    def problem(self, text: bool) -> str | None:
        """Why this file may not be carried, given whether the manifest marks it as text."""
        if self.log and not text:
            return f"log {self.name!r} is not text"
        if self.log and self.log_problem:
            return f"log {self.name!r} is damaged: {self.log_problem}"
        if text and not self.utf8:
            return f"file {self.name!r} is marked as text but is not UTF-8"
        return None


def is_opaque(manifest: Manifest) -> bool:
    """A sealed session's files are ciphertext (docs/encryption.md): nobody but a device holding the
    key can check their content, so the content checks run there, on the unsealed bundle."""
    return is_sealed(manifest.session_id, manifest.project_key)


def check_content(name: str, data: bytes | memoryview, text: bool) -> ContentCheck:
    """A whole file through ContentCheck; BundleError when it may not be carried."""
    check = ContentCheck(name)
    if check.log and text:
        check._lines(data)
    elif text:
        check.feed(data)
    check.finish()
    why = check.problem(text)
    if why:
        raise BundleError(f"refused: {why}")
    return check


@dataclass(frozen=True)
class Spilled:
    """A file of a pulled session too large to hold in memory, kept in a temp file of the backend's.

    The backends make them (spill.py) as they read a session one file at a time; they pass through
    render and restore as files, so a pull's memory does not grow with the session. Comparing and
    merging need bytes: `Bundle.in_memory()` reads them back.
    """

    path: Path
    size: int
    sha256: str

    def __len__(self) -> int:
        return self.size

    def read(self) -> bytes:
        return self.path.read_bytes()

    def chunks(self, n: int = 1024 * 1024) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while chunk := f.read(n):
                yield chunk


Content = bytes | Spilled


class MemberSink(Protocol):
    """Where a file of a bundle read from a stream goes (spill.SpillSink: memory, or a temp file when large)."""

    def add(self, chunk: bytes) -> None: ...
    def result(self) -> Content: ...
    def drop(self) -> None: ...


def file_sha256(data: Content) -> str:
    return data.sha256 if isinstance(data, Spilled) else sha256(data)


@dataclass
class Bundle:
    manifest: Manifest
    files: dict[str, bytes]  # logical name -> tokenized content (a Spilled file where a backend spilled it)
    # Of a bundle packed from local files: how many bytes of each file it holds, as read from disk.
    # A writer of those files then knows which lines the client appended after they were read.
    read_sizes: dict[str, int] = field(default_factory=dict, compare=False)
    # Every file the manifest marks as text was checked to be UTF-8 when the bundle was built
    # (ContentCheck, by build() or by the reader that streamed it): render() need not decode it again.
    text_checked: bool = field(default=False, compare=False)
    # Of a bundle packed by a worker of a bulk push: what the backend asked the worker to make of it
    # ahead (Backend.sealer: the maker and what it made), taken by stage() or push() if still wanted.
    made_ahead: tuple[object, object] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        manifest: Manifest,
        files: dict[str, bytes],
        binary: set[str] = frozenset(),  # type: ignore[assignment]
        *,
        contents_checked: bool = False,
    ) -> Bundle:
        """A bundle of these files; BundleError for a name the session does not own or a file that is
        not what it is marked as (ContentCheck, skipped when the caller checked while reading them)."""
        check_files(manifest, files)
        for name, data in files.items() if not (contents_checked or is_opaque(manifest)) else ():
            try:
                check_content(name, data, name not in binary)
            except BundleError as e:
                raise BundleError(f"session {manifest.session_id}: {e}") from e
        manifest = manifest.model_copy(
            update={
                "files": [
                    FileEntry(path=n, size=len(d), sha256=file_sha256(d), text=n not in binary)
                    for n, d in sorted(files.items())
                ]
            }
        )
        return cls(manifest, dict(files), text_checked=not is_opaque(manifest))

    @property
    def session_id(self) -> str:
        return self.manifest.session_id

    def in_memory(self) -> Bundle:
        """This bundle with every spilled file read back into memory (to compare or merge it)."""
        if not any(isinstance(d, Spilled) for d in self.files.values()):
            return self
        files = {n: d.read() if isinstance(d, Spilled) else d for n, d in self.files.items()}
        return Bundle(self.manifest, files, self.read_sizes, self.text_checked)

    def to_bytes(self, level: int = 6) -> bytes:
        raw = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=level) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                _add(tar, MANIFEST, self.manifest.to_json())
                for entry in self.manifest.files:
                    _add(tar, FILES_PREFIX + entry.path, self.files[entry.path])
        return raw.getvalue()

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        expected_sha256: str | None,
        *,
        session_id: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep: Callable[[str], MemberSink] | None = None,
    ) -> Bundle:
        """Verify and read a bundle; raises BundleError and has no side effects (but what `keep`'s
        sinks spill: with them, a bundle that unpacks past 32 MB streams each file to its sink)."""
        if expected_sha256 is not None:
            _check_sha(sha256(data), expected_sha256)
        tar = _inflate_small(data, max_bytes)
        members: dict[str, bytes] = {}
        if tar is not None:
            members = {name: content.tobytes() for name, content in _tar_members(tar, max_bytes)}
        elif keep is not None:
            checked, kept = _read_streaming(io.BytesIO(data), None, session_id=session_id, max_bytes=max_bytes, keep=keep)
            return cls(checked, kept, text_checked=not is_opaque(checked))  # type: ignore[arg-type]
        else:  # larger ones stream past, as in verify_file: no buffer ever holds more than 32 MB of tar
            with _malformed_as_bundle_error():
                for name, f in _streamed_members(io.BytesIO(data), max_bytes):
                    members[name] = f.read()
        manifest_bytes = members.pop(MANIFEST, None)
        manifest = _checked_manifest(manifest_bytes, {n: _seen(n, d) for n, d in members.items()}, session_id)
        # _checked_manifest checked every file's content (unless sealed): its text is UTF-8.
        files = {name[len(FILES_PREFIX) :]: d for name, d in members.items()}
        return cls(manifest, files, text_checked=not is_opaque(manifest))

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        expected_sha256: str | None,
        *,
        keep: Callable[[str], MemberSink],
        session_id: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Bundle:
        """Verify and read a bundle downloaded to a file, as from_bytes does, with memory that does not
        grow with it: a bundle of up to 8 MB is read whole, a larger one streams past and each file goes
        where `keep(logical name)` says (a spill sink: memory, or a Spilled file when large)."""
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size <= _IN_MEMORY_PACKED:
                return cls.from_bytes(f.read(), expected_sha256, session_id=session_id, max_bytes=max_bytes, keep=keep)
            manifest, files = _read_streaming(f, expected_sha256, session_id=session_id, max_bytes=max_bytes, keep=keep)
        return cls(manifest, files, text_checked=not is_opaque(manifest))  # type: ignore[arg-type]


class _MemberCheck:
    """What every member of a bundle must be as it is read: a regular file with a safe, known name,
    there once, the manifest at most MAX_MANIFEST_BYTES, all of them together within `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.seen: set[str] = set()
        self.total = 0

    def __call__(self, info: tarfile.TarInfo) -> str:
        """The member's name; BundleError for anything a bundle may not hold."""
        return self.member(info.name, info.size, regular=info.isfile() and not info.issparse())

    def member(self, name: str, size: int, *, regular: bool) -> str:
        if len(self.seen) >= MAX_MEMBERS:
            raise BundleError(f"bundle has more than {MAX_MEMBERS} files")
        if not regular:
            raise BundleError(f"refusing bundle member {name!r}: not a regular file")
        if size < 0:  # tarfile reads a size field of 0xff... as a negative number
            raise BundleError(f"refusing bundle member {name!r}: its size is negative")
        if name != MANIFEST:
            if not name.startswith(FILES_PREFIX):
                raise BundleError(f"refusing unknown bundle member {name!r}")
            check_logical(name[len(FILES_PREFIX) :])
        elif size > MAX_MANIFEST_BYTES:
            raise BundleError("bundle manifest is too large")
        if name in self.seen:
            raise BundleError(f"bundle member {name!r} appears twice")
        self.seen.add(name)
        self.total += size
        if self.total > self.max_bytes:
            raise BundleError(f"bundle expands past the limit of {self.max_bytes} bytes; refused")
        return name


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


MAX_MANIFEST_BYTES = 64 * 1024**2
_CHUNK = 1024 * 1024


class _HashingReader:
    """A read-only file wrapper that hashes every byte read through it."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


_INFLATE_IN = 256 * 1024  # compressed bytes fed to the inflater at a time
_TAR_BUFSIZE = 256 * 1024  # decompressed bytes tarfile asks for at a time
_MAX_TRAILER = 1024**2  # what may follow the end-of-archive blocks unread (tar pads to 10 KB records)
_TAR_OVERHEAD = 64 * 1024**2  # tar headers and padding on top of the files' bytes, at most
_IN_MEMORY_PACKED = 8 * 1024**2  # bundles up to this size are verified in memory ...
_IN_MEMORY_UNPACKED = 32 * 1024**2  # ... if they unpack to at most this much (a 1 MB bundle of transcripts: 5 MB)


class _Inflater:
    """A gzip file read as its decompressed bytes, at most `n` per read.

    tarfile's own gzip reader inflates 10 KB at a time through Python and skips the
    gzip CRC; this one feeds ISA-L (or zlib) 256 KB at a time (those 10 KB reads were 4 of the 22 ms
    the server spent verifying a 1 MB bundle), bounds every read's output (a bomb cannot
    balloon one read), and checks the CRC and length trailer when the stream ends.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._d = _decompressobj(31)  # gzip container: header, CRC-32 and size checked
        self._raw_done = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = _CHUNK
        out: list[bytes] = []
        have = 0
        while have < n and not self._d.eof:
            src = self._d.unconsumed_tail
            if not src and not self._raw_done:
                src = self._raw.read(_INFLATE_IN)
                self._raw_done = not src
            if not src and self._raw_done:
                piece = self._d.decompress(b"", n - have)  # output the inflater still holds
                if not piece and not self._d.eof:
                    raise EOFError("the compressed stream ends early")
            else:
                piece = self._d.decompress(src, n - have)
            out.append(piece)
            have += len(piece)
        return b"".join(out)

    def finish(self) -> None:
        """Read to the end of the stream (CRC and length checked there); nothing may follow the gzip trailer."""
        extra = 0
        while piece := self.read(_CHUNK):
            extra += len(piece)
            if extra > _MAX_TRAILER:
                raise BundleError("bundle is malformed: data after the end of the archive")
        if self._d.unused_data or self._raw.read(1):
            raise BundleError("bundle is malformed: bytes after the end of the compressed stream")


# What reading a damaged gzip'd tar can raise, whichever inflater reads it.
DAMAGED_STREAM: tuple[type[Exception], ...] = (tarfile.TarError, OSError, EOFError, zlib.error, _INFLATE_ERROR)


def open_tar_stream(raw: BinaryIO) -> tarfile.TarFile:
    """A gzip'd tar (a stored bundle the caller trusts as far as it checks it), read forward only,
    inflated by ISA-L 256 KB at a time rather than by tarfile's zlib 10 KB at a time."""
    return tarfile.open(fileobj=_Inflater(raw), mode="r|", bufsize=_TAR_BUFSIZE)  # type: ignore[call-overload,no-any-return]


def verify_file(
    path: str | os.PathLike[str],
    expected_sha256: str | None = None,
    *,
    session_id: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Manifest:
    """Verify a bundle on disk as `Bundle.from_bytes` does; returns its manifest, raises BundleError.

    A bundle of up to 8 MB that unpacks to at most 32 MB (the gzip trailer says how much,
    which is only trusted as far as the inflater's limit) is checked in memory: one
    inflate call, every member hashed in place. Anything larger streams past, one chunk
    at a time, so memory stays flat whatever the size.
    """
    if os.path.getsize(path) <= _IN_MEMORY_PACKED:
        with open(path, "rb") as f:
            data = f.read()
        if expected_sha256 is not None:
            _check_sha(sha256(data), expected_sha256)
            expected_sha256 = None
        tar = _inflate_small(data, max_bytes)
        if tar is not None:
            manifest_bytes, seen = None, {}
            for name, content in _tar_members(tar, max_bytes):
                if name == MANIFEST:
                    manifest_bytes = content.tobytes()
                else:
                    seen[name] = _seen(name, content)
            return _checked_manifest(manifest_bytes, seen, session_id)
    return _verify_streaming(path, expected_sha256, session_id=session_id, max_bytes=max_bytes)


def _verify_streaming(
    path: str | os.PathLike[str], expected_sha256: str | None, *, session_id: str | None, max_bytes: int
) -> Manifest:
    """verify_file for any size: members are hashed as they stream past and checked at the end."""
    with open(path, "rb") as raw:
        return _read_streaming(raw, expected_sha256, session_id=session_id, max_bytes=max_bytes, keep=None)[0]


def _read_streaming(
    raw: BinaryIO,
    expected_sha256: str | None,
    *,
    session_id: str | None,
    max_bytes: int,
    keep: Callable[[str], MemberSink] | None,
) -> tuple[Manifest, dict[str, Content]]:
    """Members hashed and checked as they stream past, one chunk in memory at a time; the manifest,
    checked against them, and with `keep` each file's content as its sink (by logical name) made it.

    A checksum mismatch is reported in preference to any damage it explains.
    """
    seen: dict[str, tuple[int, str, ContentCheck]] = {}
    kept: dict[str, Content] = {}
    manifest_bytes: bytes | None = None
    reader: BinaryIO | _HashingReader = raw if expected_sha256 is None else _HashingReader(raw)
    try:
        with _malformed_as_bundle_error():
            for name, f in _streamed_members(reader, max_bytes):  # type: ignore[arg-type]
                if name == MANIFEST:
                    manifest_bytes = f.read()
                    continue
                logical = name[len(FILES_PREFIX) :]
                h, n = hashlib.sha256(), 0
                content = ContentCheck(logical)
                sink = keep(logical) if keep is not None else None
                try:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        content.feed(chunk)
                        n += len(chunk)
                        if sink is not None:
                            sink.add(chunk)
                except BaseException:
                    if sink is not None:
                        sink.drop()
                    raise
                seen[name] = (n, h.hexdigest(), content.finish())
                if sink is not None:
                    kept[logical] = sink.result()
    except BundleError:
        _check_whole(reader, expected_sha256)  # a transport error explains any damage: report that
        raise
    _check_whole(reader, expected_sha256)
    return _checked_manifest(manifest_bytes, seen, session_id), kept


@contextlib.contextmanager
def _malformed_as_bundle_error() -> Iterator[None]:
    """What reading a damaged archive raises, as the BundleError every caller handles."""
    try:
        yield
    except (tarfile.TarError, OSError, EOFError, _INFLATE_ERROR) as e:
        raise BundleError(f"bundle is truncated or malformed: {e}") from e


def _streamed_members(raw: BinaryIO, max_bytes: int) -> Iterator[tuple[str, BinaryIO]]:
    """Each member of a gzip'd bundle as (name, a reader of its content), one chunk in memory at a time.

    Read each before asking for the next; the gzip trailer (CRC, size) is checked after the last.
    """
    check = _MemberCheck(max_bytes)
    inflater = _Inflater(raw)
    with tarfile.open(fileobj=inflater, mode="r|", bufsize=_TAR_BUFSIZE) as tar:  # type: ignore[call-overload]
        for info in tar:
            name = check(info)
            f = tar.extractfile(info)
            assert f is not None
            yield name, f  # type: ignore[misc]
    inflater.finish()


def _inflate_small(data: bytes, max_bytes: int) -> bytes | None:
    """The tar of a bundle that unpacks to at most 32 MB (CRC and length checked), or None: stream it."""
    if len(data) > _IN_MEMORY_PACKED:
        return None
    limit = min(max_bytes + _TAR_OVERHEAD, _IN_MEMORY_UNPACKED)
    if int.from_bytes(data[-4:], "little") > limit:  # gzip ISIZE: the unpacked size, mod 4 GiB
        return None
    d = _decompressobj(31)
    with _malformed_as_bundle_error():
        out = d.decompress(data, limit + 1)
    if len(out) > limit:  # the trailer lied small: stream it all the same
        return None
    if not d.eof:
        raise BundleError("bundle is truncated or malformed: the compressed stream ends early")
    if d.unused_data:
        raise BundleError("bundle is malformed: bytes after the end of the compressed stream")
    return out


def _tar_members(tar: bytes, max_bytes: int) -> Iterator[tuple[str, memoryview]]:
    """Each member of an unpacked bundle as (name, content), content a view into `tar` (no copies)."""
    simple = canonical_members(tar, _MAX_TRAILER)
    if simple is None:  # not only headers as this tool writes them: tarfile reads it
        yield from _tarfile_members(tar, max_bytes)
        return
    view = memoryview(tar)
    check = _MemberCheck(max_bytes)
    for name, start, size in simple:
        yield check.member(name, size, regular=True), view[start : start + size]


def _tarfile_members(tar: bytes, max_bytes: int) -> Iterator[tuple[str, memoryview]]:
    """_tar_members through tarfile, for any archive."""
    view = memoryview(tar)
    check = _MemberCheck(max_bytes)
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
            while (info := archive.next()) is not None:
                name = check(info)
                end = info.offset_data + info.size
                if end > len(view):
                    raise BundleError(f"bundle is truncated or malformed: member {name!r} is cut short")
                yield name, view[info.offset_data : end]
            rest = view[archive.offset :]
    except (tarfile.TarError, EOFError, OverflowError) as e:  # Overflow: an offset past any file
        raise BundleError(f"bundle is truncated or malformed: {e}") from e
    if len(rest) > _MAX_TRAILER:
        raise BundleError("bundle is malformed: data after the end of the archive")


def _seen(member: str, data: bytes | memoryview) -> tuple[int, str, ContentCheck]:
    """What _checked_manifest needs of a member read whole: its size, SHA-256 and content check."""
    content = ContentCheck(member[len(FILES_PREFIX) :])
    content.feed(data)
    return len(data), sha256(data), content.finish()


def _checked_manifest(
    manifest_bytes: bytes | None, files: dict[str, tuple[int, str, ContentCheck]], session_id: str | None
) -> Manifest:
    """The bundle's manifest, checked against its files: (size, sha256, content check) by member name.

    Every name must be owned by the bundle's session and every file be what the manifest says
    it is (layout.check_owned, ContentCheck).
    """
    if manifest_bytes is None:
        raise BundleError("bundle has no manifest")
    try:
        manifest = Manifest.model_validate(json.loads(manifest_bytes))
    except (ValueError, ValidationError) as e:
        raise BundleError(f"bundle manifest is malformed: {e}") from e
    if manifest.format > FORMAT:
        raise BundleError(f"bundle format {manifest.format} is newer than this tool understands ({FORMAT}); upgrade")
    if session_id is not None and manifest.session_id != session_id:
        raise BundleError(f"bundle holds session {manifest.session_id}, not {session_id}")
    if CONTROL_CHARACTER.search(manifest.project_key):
        raise BundleError(f"bundle names the project key {manifest.project_key!r}, which holds a control character")
    listed = {FILES_PREFIX + e.path: e for e in manifest.files}
    if set(listed) != set(files):
        raise BundleError("bundle files do not match its manifest")
    for name, (size, digest, _content) in files.items():
        entry = listed[name]
        if size != entry.size or digest != entry.sha256:
            raise BundleError(f"bundle file {name[len(FILES_PREFIX) :]!r} does not match its manifest checksum")
    check_files(manifest, (e.path for e in manifest.files))
    for name, (_size, _digest, content) in files.items() if not is_opaque(manifest) else ():
        why = content.problem(listed[name].text)
        if why:
            raise BundleError(f"session {manifest.session_id}: {why}; nothing was written")
    return manifest


def _check_whole(reader: BinaryIO | _HashingReader, expected: str | None) -> None:
    if isinstance(reader, _HashingReader) and expected is not None:
        reader.drain()
        _check_sha(reader.digest.hexdigest(), expected)


def _check_sha(actual: str, expected: str) -> None:
    if actual != expected:
        raise BundleError(
            f"bundle checksum mismatch (expected {expected[:12]}…, got {actual[:12]}…): "
            "it was corrupted or truncated in transit; nothing was written"
        )
