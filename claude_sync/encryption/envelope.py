"""How a session is sealed: AEAD frames, padded sizes, opaque names, a sealed header.

A sealed session is an ordinary bundle (format/bundle.py) that only the key holder can read,
so both backends and the server store, append and check it as they do any other:

    manifest    session_id, times: clear; project_key: "e2e/" + blind index; device: clear only
                when the user allows it; title: the sealed listing (title, project key, device,
                message count, content digest, generation); every file binary.
    session/header                 one frame: the real manifest without its file list, the content
                                   digest of the plain session (every logical name and SHA-256), the
                                   generation
    session/e2e/<h>/<h>/<30 hex>.jsonl  a log: one frame per push that appended to it (so appends stay appends)
    session/e2e/<h>/<h>/<30 hex>   any other file: one frame

The first frame of every file starts with its logical name, so the header stays small (it is
rewritten by every push) and the content digest in it binds every file of the version.

A frame is `u32 length | 0x02 | key id (8) | nonce (12) | AES-256-GCM(plaintext) + tag (16)`,
its plaintext `u32 n | zlib stream of the payload (n bytes) | zeros`, padded to the Padmé length
(at most 12% more, and leaks O(log log size) bits). Associated data binds the envelope
version, the kind (log, file, header, listing), the session id, the object's name and the
frame's index, so no frame can be moved to another place, session, log or version without
failing authentication. Keys are per session (HKDF of the account key and the session id).
Nonces are synthetic: HMAC-SHA256 of the associated data and the plaintext under a second
per-session key (the SIV construction). A nonce repeats only for the very same frame, which
then encrypts to the very same bytes: that is what lets a device re-seal a log whose
earlier frames the remote holds and send only the new frame.

The same frame comes out the same only from the same compressor, fed the same way, so the header
records the codec that deflated the session's frames ("zlib", "isal-joined <version>", or the first
ISA-L codec, "isal <version>"): opening ignores it (every codec writes a zlib stream), re-sealing
follows it when this device has it (see codec_for).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..format import gzblob
from ..format.bundle import MEMORY_KIND, Bundle, Manifest, content_digest
from ..format.errors import BundleError
from ..format.layout import SEALED_PROJECT_PREFIX, check_logical, is_log
from .keys import derive, key_id

ENVELOPE = 2  # the version byte of every frame, bound into its associated data
SEALED_DIR = "session/e2e/"
HEADER = "session/header"  # beside, not in, the folder of opaque files: Git rewrites only small trees on an append
LISTING_PREFIX = "e2e2."  # a sealed listing in the manifest's title
# With zlib, frames from this size (bulk content) are deflated at its level 1, smaller ones (appends) at its 6.
# 16 KB: level 6 on the many small files of a full push was a third of an encrypted push's sealing time.
FAST_FROM = 16 * 1024
ZLIB = "zlib"  # every client has it (the extension's bundled one has no ISA-L)
# ISA-L's level 2 for every frame: 4x zlib's level 1 on transcripts at a better ratio, 4.5x zlib's level 6 on
# the small files of file history; an append's frame comes out 7% larger than with zlib's level 6.
try:
    import isal
    from isal import isal_zlib

    # The C library's version: another one may deflate differently. Fed a frame's few bytes of name on
    # their own first, ISA-L deflates the whole frame 9-15% larger: this codec feeds them together with the
    # start of the payload. The first ISA-L codec (ISAL_SPLIT) fed them apart; it is still made again for
    # the sessions sealed with it, so their appends stay appends.
    ISAL: str | None = f"isal-joined {isal.ISAL_VERSION}"
    ISAL_SPLIT: str | None = f"isal {isal.ISAL_VERSION}"
except ImportError:  # pragma: no cover - a platform without an isal wheel
    ISAL = ISAL_SPLIT = None
MAX_CODEC = 64  # characters of a recorded codec's name
MAX_FRAMES = 64  # a log with more frames is sealed again as one (the Git backend rewrites it then too)
_AD = b"claude-sync/e2e/%d\0%s\0%s\0%s\0%d"
_FRAME_HEAD = struct.Struct(">IB8s12s")  # length of the rest, version, key id, nonce


class Tampered(BundleError):
    """A sealed object failed authentication or does not fit its header: nothing was written."""

    code = "tampered"


def sealed_id(account_key: bytes, manifest: Manifest) -> str:
    """The id a version is stored under: the session id; for a project's memory object (whose own id
    is an unkeyed hash of the project key, so a host could test guesses) a keyed one."""
    if manifest.kind != MEMORY_KIND:
        return manifest.session_id
    mac = hmac.new(derive(account_key, "memory ids"), manifest.project_key.encode("utf-8"), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=mac[:16], version=4))


def blind_index(account_key: bytes, project_key: str) -> str:
    """The project's keyed blind index: equal for equal projects, meaningless without the key."""
    mac = hmac.new(derive(account_key, "blind index"), project_key.encode("utf-8"), hashlib.sha256)
    return SEALED_PROJECT_PREFIX + mac.hexdigest()[:32]


def padme(n: int) -> int:
    """Padmé (Nikitin et al., 2019): the padded length of `n` bytes, at most 12% more."""
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def codec_for(previous: str | None) -> str:
    """The codec to seal a session with. `previous`: the codec of the frames the remote holds and this
    device means to keep (None: no frames to keep, a whole new seal).

    The remote's codec when this device has it, so those frames come out as the remote holds them;
    zlib when it has not (they are all rewritten then anyway), which every client has, so a session
    that two clients append to settles on zlib instead of being rewritten whole at each change of
    client; for a whole new seal the fastest at hand."""
    if previous is None:
        return ISAL or ZLIB
    return previous if can_reproduce(previous) else ZLIB


def can_reproduce(codec: str) -> bool:
    """Whether this device deflates as `codec` did (and so can rebuild frames sealed with it)."""
    return codec in (ZLIB, ISAL, ISAL_SPLIT)


_JOINED = 64 * 1024  # bytes of payload fed together with a frame's name (a copy that small, not of the payload)


def _deflate(head: bytes, payload: bytes, codec: str) -> bytes:
    """One zlib stream of `head + payload`, the payload not copied to put the name in front (zlib's
    stream is the same however its input is cut, tests/test_encryption.py; ISA-L's is not: see ISAL)."""
    c: Any
    if codec in (ISAL, ISAL_SPLIT):
        c = isal_zlib.compressobj(2)
    elif codec == ZLIB:
        c = zlib.compressobj(6 if len(head) + len(payload) < FAST_FROM else 1)
    else:
        raise ValueError(f"cannot seal with codec {codec!r}")
    view = memoryview(payload)
    cut = 0 if codec == ISAL_SPLIT else _JOINED
    return b"".join((c.compress(head + view[:cut]), c.compress(view[cut:]), c.flush()))


class _SessionKeys:
    def __init__(self, account_key: bytes, session_id: str) -> None:
        material = derive(account_key, f"session {session_id}", 96)
        self.aead = AESGCM(material[:32])
        self.nonce_key = material[32:64]
        self.name_key = material[64:]
        self.key_id = bytes.fromhex(key_id(account_key))
        self.session_id = session_id

    def name(self, logical: str) -> str:
        # Fanned out by two hex digits, so an append rewrites three small Git trees, not one listing every log.
        h = hmac.new(self.name_key, logical.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        return f"{SEALED_DIR}{h[0]}/{h[1]}/{h[2:]}" + (".jsonl" if is_log(logical) else "")

    def ad(self, kind: str, name: str, index: int) -> bytes:
        return _AD % (ENVELOPE, kind.encode(), self.session_id.encode(), name.encode("utf-8"), index)

    def seal(self, kind: str, name: str, index: int, payload: bytes, codec: str = ZLIB, head: bytes = b"") -> bytes:
        """The frame of `head + payload` (`head`: the logical name that starts a file's first frame)."""
        # Deflated as chosen by the codec and size alone, so the same frame seals the same again. The
        # plaintext is built in one buffer, and the nonce's HMAC reads it where it is.
        packed = _deflate(head, payload, codec)
        plaintext = bytearray(padme(4 + len(packed)))  # zeros: the padding
        struct.pack_into(">I", plaintext, 0, len(packed))
        plaintext[4 : 4 + len(packed)] = packed
        del packed
        return self.encrypt(kind, name, index, plaintext)

    def encrypt(self, kind: str, name: str, index: int, plaintext: bytes | bytearray) -> bytes:
        """The frame of a plaintext (`u32 n | zlib stream | zeros`, as seal() builds it), its nonce synthetic."""
        ad = self.ad(kind, name, index)
        mac = hmac.new(self.nonce_key, ad + b"\0", hashlib.sha256)
        mac.update(plaintext)
        nonce = mac.digest()[:12]
        ct = self.aead.encrypt(nonce, plaintext, ad)
        return _FRAME_HEAD.pack(1 + 8 + 12 + len(ct), ENVELOPE, self.key_id, nonce) + ct

    def open(self, kind: str, name: str, index: int, frame: bytes | memoryview, max_bytes: int) -> bytes:
        if len(frame) < _FRAME_HEAD.size + 16:
            raise Tampered(f"sealed {kind} of session {self.session_id} is cut short; nothing was written")
        _n, ver, kid, nonce = _FRAME_HEAD.unpack_from(frame)
        if ver != ENVELOPE:
            raise Tampered(f"sealed {kind} of session {self.session_id} has envelope version {ver}, not {ENVELOPE}")
        if kid != self.key_id:
            raise Tampered(
                f"session {self.session_id} is sealed with another key ({kid.hex()}) than this device's "
                f"({self.key_id.hex()}); nothing was written"
            )
        try:
            plaintext = self.aead.decrypt(nonce, bytes(frame[_FRAME_HEAD.size :]), self.ad(kind, name, index))
        except InvalidTag:
            raise Tampered(
                f"a sealed {kind} of session {self.session_id} fails authentication (tampered with, "
                "moved from another session or place, or sealed with another key); nothing was written"
            ) from None
        (n,) = struct.unpack_from(">I", plaintext)
        if n > len(plaintext) - 4 or plaintext.count(0, 4 + n) != len(plaintext) - 4 - n:  # the padding: zeros
            raise Tampered(f"sealed {kind} of session {self.session_id} is malformed")
        d = gzblob.decompressobj(15)  # a zlib stream, whatever codec deflated it; ISA-L inflates 2.7x as fast
        try:
            out = d.decompress(memoryview(plaintext)[4 : 4 + n], max_bytes + 1)
        except (zlib.error, gzblob.INFLATE_ERROR) as e:
            raise Tampered(f"sealed {kind} of session {self.session_id} is malformed: {e}") from e
        if len(out) > max_bytes:
            raise BundleError(f"session {self.session_id} expands past the limit of {max_bytes} bytes; refused")
        if not d.eof:
            raise Tampered(f"sealed {kind} of session {self.session_id} is malformed: its stream is cut short")
        return out


def split_frames(data: bytes | memoryview, session_id: str) -> list[memoryview]:
    view, frames, pos = memoryview(data), [], 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise Tampered(f"a sealed log of session {session_id} ends in the middle of a frame")
        (n,) = struct.unpack_from(">I", view, pos)
        end = pos + 4 + n
        if n < _FRAME_HEAD.size - 4 + 16 or end > len(view):
            raise Tampered(f"a sealed log of session {session_id} ends in the middle of a frame")
        frames.append(view[pos:end])
        pos = end
    return frames


def frame_cuts(data: bytes, previous: list[int] | None) -> list[int]:
    """Lengths of the frames of a log: the remote's frames again when they still fit, plus one for what is new.

    There is always a first frame (it carries the name), even for an empty log."""
    if previous and len(previous) < MAX_FRAMES and sum(previous) <= len(data) and all(n >= 0 for n in previous):
        rest = len(data) - sum(previous)
        return list(previous) + ([rest] if rest else [])
    return [len(data)]


def _name_head(logical: str) -> bytes:
    """What starts the payload of a file's first frame: its logical name."""
    name = logical.encode("utf-8")
    return struct.pack(">H", len(name)) + name


def _unnamed(payload: bytes, session_id: str) -> tuple[str, bytes]:
    if len(payload) < 2:
        raise Tampered(f"a sealed file of session {session_id} is malformed")
    (n,) = struct.unpack_from(">H", payload)
    if 2 + n > len(payload):
        raise Tampered(f"a sealed file of session {session_id} is malformed")
    try:
        return payload[2 : 2 + n].decode("utf-8"), payload[2 + n :]
    except UnicodeDecodeError as e:
        raise Tampered(f"a sealed file of session {session_id} is malformed: {e}") from e


@dataclass
class Opened:
    bundle: Bundle  # the plain session
    generation: int
    frames: dict[str, list[int]] = field(default_factory=dict)  # logical log -> frame lengths
    codec: str = ZLIB  # what deflated the frames (headers written before it was recorded: zlib)


@dataclass
class Listing:
    """What a sealed session's listing says, once opened (RemoteEntry fields the host must not read)."""

    session_id: str  # the plain id (another than the stored one for a project's memory object)
    title: str
    project_key: str
    device: str
    message_count: int
    content_sha256: str  # of the plain session
    generation: int


def seal(
    bundle: Bundle,
    account_key: bytes,
    *,
    generation: int,
    previous: tuple[dict[str, list[int]], str] | None = None,
    show_device: bool = False,
) -> Opened:
    """The sealed bundle of a plain one (`Opened.bundle` is the sealed one here; frames as cut).

    `previous`: how the remote's copy was cut into frames (per log) and what deflated them, to seal
    those frames again as they are there (codec_for)."""
    sid = sealed_id(account_key, bundle.manifest)
    keys = _SessionKeys(account_key, sid)
    previous_frames = previous[0] if previous else {}
    codec = codec_for(previous[1] if previous and previous_frames else None)
    files: dict[str, bytes] = {}
    frames: dict[str, list[int]] = {}
    for logical, data in bundle.files.items():
        opaque = keys.name(logical)
        if is_log(logical):
            cuts = frame_cuts(data, previous_frames.get(logical))
            frames[logical] = cuts
            out, pos = [], 0
            for i, n in enumerate(cuts):
                chunk = data[pos : pos + n]
                out.append(keys.seal("log", opaque, i, chunk, codec, _name_head(logical) if i == 0 else b""))
                pos += n
            files[opaque] = b"".join(out)
        else:
            files[opaque] = keys.seal("file", opaque, 0, data, codec, _name_head(logical))
    plain = bundle.manifest.model_dump(mode="json", exclude={"files"})
    plain_digest = content_digest(bundle)
    header = {
        "v": ENVELOPE,
        "generation": generation,
        "manifest": plain,
        "content_sha256": plain_digest,
        "binary": sorted(e.path for e in bundle.manifest.files if not e.text),
        "codec": codec,
    }
    files[HEADER] = keys.seal("header", HEADER, 0, json.dumps(header, sort_keys=True).encode(), codec)
    m = bundle.manifest
    # Built before its listing, which names its content digest: the sealed files are hashed once.
    sealed = Bundle.build(
        Manifest(
            session_id=sid,
            project_key=blind_index(account_key, m.project_key),
            device=m.device if show_device else "",
            last_modified=m.last_modified,
            first_timestamp=m.first_timestamp,
        ),
        files,
        binary=set(files),
    )
    digest = content_digest(sealed)
    listing = {
        "v": ENVELOPE,
        "generation": generation,
        "title": bundle.manifest.title,
        "project_key": bundle.manifest.project_key,
        "device": bundle.manifest.device,
        "message_count": bundle.manifest.message_count,
        "content_sha256": plain_digest,
        "session_id": bundle.session_id,
    }
    sealed_listing = keys.seal("listing", digest, 0, json.dumps(listing, sort_keys=True).encode())
    sealed.manifest = sealed.manifest.model_copy(
        update={"title": LISTING_PREFIX + base64.urlsafe_b64encode(sealed_listing).decode()}
    )
    return Opened(sealed, generation, frames, codec)


@dataclass(frozen=True)
class Sealer:
    """seal() with its parameters, as a value: a packing worker seals a session as soon as it has packed
    it (tokenizing and sealing both on its own core, not in the engine's process), and the backend uses
    that copy only when it would seal with these very parameters (sealing is deterministic)."""

    key: bytes = field(repr=False)  # the account key: never in a log line or a traceback's locals
    generation: int
    previous: tuple[dict[str, list[int]], str] | None
    show_device: bool

    def __call__(self, bundle: Bundle) -> Opened:
        return seal(bundle, self.key, generation=self.generation, previous=self.previous, show_device=self.show_device)


def is_sealed(manifest_or_project_key: Manifest | str) -> bool:
    key = manifest_or_project_key if isinstance(manifest_or_project_key, str) else manifest_or_project_key.project_key
    return key.startswith(SEALED_PROJECT_PREFIX)


def open_listing(session_id: str, content_sha256: str, title: str, account_key: bytes) -> Listing:
    """The listing of a sealed session, bound to the very version (sealed content digest) it describes."""
    if not title.startswith(LISTING_PREFIX):
        raise Tampered(f"the listing of session {session_id} is not sealed")
    try:
        frame = base64.urlsafe_b64decode(title[len(LISTING_PREFIX) :])
    except ValueError as e:
        raise Tampered(f"the sealed listing of session {session_id} is malformed") from e
    raw = _SessionKeys(account_key, session_id).open("listing", content_sha256, 0, frame, 1024 * 1024)
    try:
        d = json.loads(raw)
        return Listing(
            session_id=str(d.get("session_id", session_id)), title=str(d["title"]), project_key=str(d["project_key"]), device=str(d["device"]),
            message_count=int(d["message_count"]), content_sha256=str(d["content_sha256"]),
            generation=int(d["generation"]),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise Tampered(f"the sealed listing of session {session_id} is malformed: {e}") from e


def open_sealed(sealed: Bundle, account_key: bytes, *, max_bytes: int) -> Opened:
    """The plain session inside a sealed bundle, every frame authenticated; Tampered otherwise."""
    sid = sealed.session_id
    keys = _SessionKeys(account_key, sid)
    if HEADER not in sealed.files:
        raise Tampered(f"session {sid} on the remote is not sealed (no header); nothing was written")
    try:
        header = json.loads(keys.open("header", HEADER, 0, sealed.files[HEADER], 64 * 1024**2))
        manifest = Manifest.model_validate(header["manifest"])
        digest = str(header["content_sha256"])
        binary = {str(n) for n in header["binary"]}
        generation = int(header["generation"])
        codec = header.get("codec", ZLIB)
        if not isinstance(codec, str) or not 0 < len(codec) <= MAX_CODEC:
            raise ValueError(f"its codec is {str(codec)[:MAX_CODEC]!r}")
    except (ValueError, KeyError, TypeError) as e:
        raise Tampered(f"the sealed header of session {sid} is malformed: {e}") from e
    if sealed_id(account_key, manifest) != sid:
        raise Tampered(f"the sealed header of session {sid} belongs to session {manifest.session_id}; nothing was written")
    files: dict[str, bytes] = {}
    frames: dict[str, list[int]] = {}
    total = 0
    for opaque, data in sealed.files.items():
        if opaque == HEADER:
            continue
        kind = "log" if opaque.endswith(".jsonl") else "file"
        parts = split_frames(data, sid) if kind == "log" else [memoryview(data)]
        if not parts:
            raise Tampered(f"a sealed log of session {sid} has no frames; nothing was written")
        plain_parts = []
        for i, f in enumerate(parts):
            payload = keys.open(kind, opaque, i, f, max_bytes - total + 65_536)
            if i == 0:
                logical, payload = _unnamed(payload, sid)
            plain_parts.append(payload)
        check_logical(logical)
        if keys.name(logical) != opaque or logical in files:
            raise Tampered(f"sealed file {opaque!r} of session {sid} names another file; nothing was written")
        files[logical] = b"".join(plain_parts)
        total += len(files[logical])
        if total > max_bytes:
            raise BundleError(f"session {sid} expands past the limit of {max_bytes} bytes; refused")
        if kind == "log":
            frames[logical] = [len(p) for p in plain_parts]
    plain = Bundle.build(manifest, files, binary=binary & set(files))
    if content_digest(plain) != digest:  # of the digests build() took: the files are hashed once
        raise Tampered(
            f"the files of session {sid} are not the version its sealed header names (dropped, truncated or "
            "mixed with another version); nothing was written"
        )
    return Opened(plain, generation, {k: v for k, v in frames.items() if k in files}, codec)
