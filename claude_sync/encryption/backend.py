"""Every backend as the engine sees it: sealed on the way out, opened and checked on the way in.

The engine speaks plain bundles and plain content digests; the remote holds sealed bundles
(envelope.py). This wrapper maps one onto the other: it lists sessions by opening their sealed
listings, seals what is pushed (re-using the frames the remote holds, so an append stays an
append on both backends), opens and authenticates what is fetched, and keeps per session the
highest version (generation) this device has seen, refusing to go back (rollback).

The remote's key record (keys.KeyRecord) travels as a session with the reserved id
KEY_RECORD_ID. With a record on the remote and no key here, nothing is pushed and nothing
listed: the device has to join first. With a key here and no record there, nothing is pushed
either: a host that drops the record cannot make a joined device write plaintext.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from ..backends.base import Backend, PushItem, PushResult
from ..format.bundle import Bundle, Manifest, content_digest
from ..format.errors import BundleError, SyncError
from ..format.layout import KEY_RECORD_ID
from ..format.tombstone import TOMBSTONE_KIND
from ..format.wire import RemoteEntry
from . import envelope
from .keys import KeyRecord, WrongKey, key_id, matches, plain_allowed

log = logging.getLogger(__name__)

RECORD_FILE = "tasks/key-record.json"  # the one file of the key record's bundle
RECORD_PROJECT = "claude-sync/key-record"


class NotJoined(SyncError):
    """The remote is end-to-end encrypted and this device holds no key for it."""

    exit_code = 2
    code = "encryption_required"


class Rollback(BundleError):
    code = "rollback"


def record_bundle(record: KeyRecord) -> Bundle:
    data = json.dumps(record.model_dump(mode="json"), indent=1, sort_keys=True).encode() + b"\n"
    manifest = Manifest(session_id=KEY_RECORD_ID, project_key=RECORD_PROJECT, device="", title="key record")
    return Bundle.build(manifest, {RECORD_FILE: data})


def parse_record(bundle: Bundle) -> KeyRecord:
    try:
        return KeyRecord.model_validate_json(bundle.files[RECORD_FILE])
    except (KeyError, ValueError) as e:
        raise SyncError(f"the remote's encryption key record is unreadable: {e}; nothing was written") from e


@dataclass(frozen=True)
class Mark:
    """What this device knows of one sealed session the remote holds (see Marks)."""

    generation: int
    frames: dict[str, list[int]]
    plain_digest: str
    sealed_digest: str
    codec: str  # what deflated the frames (envelope.codec_for)


class Marks:
    """Per session, what this device last saw of it on an encrypted remote: the generation (the
    high-water mark against rollback), the plain and sealed digests, each log's frames and their codec."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, dict] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            self.data = {}
        self.dirty = False

    def get(self, sid: str) -> dict:
        value = self.data.get(sid)
        return value if isinstance(value, dict) else {}

    def generation(self, sid: str) -> int:
        g = self.get(sid).get("generation", 0)
        return g if isinstance(g, int) else 0

    def frames(self, sid: str) -> tuple[dict[str, list[int]], str] | None:
        """The frames of the version this device last saw, and their codec (marks kept before the
        codec was recorded: zlib, the only one then); None when it never saw the session sealed."""
        mark = self.get(sid)
        frames, codec = mark.get("frames"), mark.get("codec", envelope.ZLIB)
        if not isinstance(frames, dict) or not frames or not isinstance(codec, str):
            return None
        return frames, codec

    def record(self, sid: str, mark: Mark) -> None:
        if mark.generation < self.generation(sid):
            return  # never lower a high-water mark
        self.data[sid] = {
            "generation": mark.generation, "plain": mark.plain_digest, "sealed": mark.sealed_digest, "frames": mark.frames,
            "codec": mark.codec,
        }
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(self.path, json.dumps(self.data, separators=(",", ":")), mode=0o600)
            self.dirty = False


def forged_tombstone(session_id: str) -> envelope.Tampered:
    """A tombstone in plain on an encrypted remote: no device that holds the key writes one (deletes
    are sealed like everything else), so it is the host's, and is never obeyed."""
    return envelope.Tampered(
        f"the remote holds a delete (tombstone) of session {session_id} that is not sealed: on an end-to-end "
        "encrypted remote only a device that holds the key can delete, so this one was written by someone "
        "else (the host?); refused, nothing was written. A device that holds the session puts it back with "
        f"`claude-sync push --force {session_id}`"
    )


def unvouched_plain(session_id: str) -> envelope.Tampered:
    """A plain session on an encrypted remote that was not there when encryption was turned on."""
    return envelope.Tampered(
        f"session {session_id} is in plain on an end-to-end encrypted remote, and was not among the sessions "
        "it held in plain when encryption was turned on: only a device that holds the key writes to it, and "
        "it seals what it writes, so this one came from someone else (the host?); refused, nothing was written"
    )


def marks_file(data_dir: Path, remote: str) -> Path:
    return data_dir / "encryption" / (hashlib.sha256(remote.encode()).hexdigest()[:16] + ".json")


class EncryptedBackend(Backend):
    def __init__(
        self,
        inner: Backend,
        remote: str,
        key: bytes | None,
        marks: Marks,
        *,
        show_device: bool = False,
        max_bytes: int = 4 * 1024**3,
    ) -> None:
        self.inner, self.remote, self.key, self.marks = inner, remote, key, marks
        self.name = inner.name
        self.show_device, self.max_bytes = show_device, max_bytes
        self.record: KeyRecord | None = None
        self._record_digest: str | None = None
        self._listings: dict[tuple[str, str], envelope.Listing] = {}  # (sid, sealed digest) -> opened listing
        self._sealed_of: dict[str, tuple[str, str]] = {}  # sid -> (plain digest, sealed digest) as listed
        self._staged: dict[str, tuple[str, Future[envelope.Opened]]] = {}
        # Sealed sessions the inner backend holds until publish() (stored id -> plain id and the marks to
        # record once they landed; not the sealed bundles, which the inner backend already stored).
        self._held: dict[str, tuple[str, Mark]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._raw: dict[str, RemoteEntry] = {}  # the inner backend's entries, as last listed
        self._stored_id: dict[str, str] = {}  # plain id -> the id the remote stores it under (memory objects)
        self._unlisted: dict[str, str] = {}  # stored id -> why its sealed listing cannot be opened
        self._vouched: dict[str, str] | None = None  # the record's plain sessions at the start, once checked
        self._loaded = False

    # -- the key record ----------------------------------------------------

    @property
    def encrypted(self) -> bool:
        return self.record is not None

    def _load_record(self) -> None:
        entry = next((e for e in self.inner.entries() if e.session_id == KEY_RECORD_ID), None)
        if entry is None:
            self.record, self._record_digest = None, None
        elif entry.content_sha256 != self._record_digest:
            self.record = parse_record(self.inner.fetch(KEY_RECORD_ID).in_memory())
            self._record_digest = entry.content_sha256
        self._loaded = True
        self._vouched = None
        if self.record is not None and self.key is not None and not matches(self.record, self.key):
            raise WrongKey(
                f"the encryption key stored on this device (key {key_id(self.key)}) is not the key of {self.remote} "
                f"(key {self.record.current}): run `claude-sync encryption join` again; nothing was written"
            )
        if self.record is not None and hasattr(self.inner, "device") and not self.show_device:
            self.inner.device = "device"  # Git commits name the device: not on an encrypted remote

    def _need_record(self) -> bool:
        """Read the remote's key record once; whether there is one."""
        if not self._loaded:
            self._load_record()
        return self.record is not None

    def _usable_key(self) -> bytes | None:
        """The key to seal with: None on a plain remote; NotJoined when this device cannot."""
        self._need_record()
        if self.record is None:
            if self.key is not None:
                raise SyncError(
                    f"this device holds an encryption key for {self.remote}, but the remote has no key record "
                    "(removed, or another remote at the same address): refusing to write to it; "
                    "see docs/encryption.md"
                )
            return None
        if self.key is None:
            raise NotJoined(
                f"{self.remote} is end-to-end encrypted and this device has not joined: run "
                "`claude-sync encryption join` (it reads the recovery phrase or passphrase from stdin)"
            )
        return self.key

    # -- Backend -----------------------------------------------------------

    def refresh(self) -> None:
        self.inner.refresh()
        self._load_record()

    def entries(self) -> list[RemoteEntry]:
        key = self._usable_key() if self._need_record() else None
        out: list[RemoteEntry] = []
        self._sealed_of = {}
        self._unlisted = {}
        self._raw = {e.session_id: e for e in self.inner.entries()}
        for e in self._raw.values():
            if e.session_id == KEY_RECORD_ID:
                continue
            if not envelope.is_sealed(e.project_key):
                self._sealed_of[e.session_id] = (e.content_sha256, e.content_sha256)
                out.append(e)
                continue
            if key is None:
                log.warning("session %s on the remote is sealed, and the remote has no key record: skipped", e.session_id)
                continue
            try:
                listing = self._listing(e, key)
            except BundleError as err:
                log.warning("%s; skipped", err)
                self._unlisted[e.session_id] = str(err)  # pulls and pushes of it fail by name (unreadable())
                continue
            self._sealed_of[listing.session_id] = (listing.content_sha256, e.content_sha256)
            self._stored_id[listing.session_id] = e.session_id
            out.append(
                e.model_copy(
                    update={
                        "session_id": listing.session_id,
                        "project_key": listing.project_key,
                        "title": listing.title,
                        "device": listing.device,
                        "message_count": listing.message_count,
                        "content_sha256": listing.content_sha256,
                    }
                )
            )
        return out

    def _listing(self, e: RemoteEntry, key: bytes) -> envelope.Listing:
        cached = self._listings.get((e.session_id, e.content_sha256))
        if cached is None:
            cached = envelope.open_listing(e.session_id, e.content_sha256, e.title, key)
            self._listings[(e.session_id, e.content_sha256)] = cached
        return cached

    def fetch(self, session_id: str, have: Bundle | None = None) -> Bundle:
        key = self._usable_key()
        if key is None:
            got = self.inner.fetch(session_id, have)
            if envelope.is_sealed(got.manifest):
                # Its content was not checked (a sealed session's is checked once opened) and cannot be opened.
                raise envelope.Tampered(
                    f"session {session_id} claims to be sealed, but the remote is not end-to-end encrypted (it "
                    "holds no key record): refused; nothing was written"
                )
            return got
        sealed = self.inner.fetch(self._stored_id.get(session_id, session_id), self._resealed(session_id, have, key))
        sealed = sealed.in_memory()  # frames are opened from bytes: a large file the backend spilled is read back
        if not envelope.is_sealed(sealed.manifest):
            if self._vouched_plain(key).get(session_id) != content_digest(sealed):
                raise forged_tombstone(session_id) if sealed.manifest.kind == TOMBSTONE_KIND else unvouched_plain(session_id)
            return sealed  # there in plain when encryption was turned on, not sealed yet: the next push seals it
        opened = envelope.open_sealed(sealed, key, max_bytes=self.max_bytes)
        if opened.bundle.session_id != session_id:
            raise envelope.Tampered(f"the remote served {opened.bundle.session_id} for {session_id}; nothing was written")
        mark = self.marks.get(session_id)
        digest = content_digest(opened.bundle)
        seen = self.marks.generation(session_id)
        if opened.generation < seen or (opened.generation == seen and mark.get("plain") not in (None, digest)):
            raise Rollback(
                f"the remote serves an older version of session {session_id} (version {opened.generation}) than "
                f"this device has seen (version {seen}): refused as a rollback; nothing was written"
            )
        self.marks.record(session_id, Mark(opened.generation, opened.frames, digest, content_digest(sealed), opened.codec))
        return opened.bundle

    def _resealed(self, session_id: str, have: Bundle | None, key: bytes) -> Bundle | None:
        """The sealed copy the remote held when this device last saw the session, rebuilt from the
        plain copy here, so that a backend that takes deltas downloads only the new frames.

        Sealing is deterministic (synthetic nonces): the same plain log cut into the same frames
        seals to the same bytes, so the logs come out as the remote holds them. Only the header
        differs (it names the device that pushed), and the server sends that one whole. Nothing
        here is trusted: the downloaded result is verified against the listed digest, then opened
        and authenticated frame by frame like any download. None: download it whole."""
        if have is None or not getattr(self.inner, "takes_deltas", False):
            return None
        seen = self.marks.frames(session_id)
        if seen is None or not envelope.can_reproduce(seen[1]):
            return None  # never seen sealed here, or deflated by a codec this device does not have
        try:
            return envelope.seal(have.in_memory(), key, generation=self.marks.generation(session_id), previous=seen).bundle
        except (BundleError, ValueError, TypeError) as e:
            log.info("cannot rebuild the sealed copy of %s (%s); downloading it whole", session_id, e)
            return None

    def stage(self, bundle: Bundle) -> None:
        """Seal a session a bulk push will soon push, on the other core (zlib and AES release the GIL),
        and hand the sealed bundle on to the inner backend once it is ready."""
        key = self._usable_key()
        if key is None:
            self.inner.stage(bundle)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(min(4, os.cpu_count() or 2), thread_name_prefix="seal")
        self._staged[bundle.session_id] = (content_digest(bundle), self._pool.submit(self._seal_and_stage, bundle, key))

    def _seal_and_stage(self, bundle: Bundle, key: bytes) -> envelope.Opened:
        opened = self._seal(bundle, key)
        self.inner.stage(opened.bundle)
        return opened

    def sealer(self, session_id: str) -> envelope.Sealer | None:
        """How a session would be sealed now, for a packing worker to seal it ahead (push() and stage()
        take that copy only if they would still seal it so)."""
        try:
            key = self._usable_key()
            return self._sealer(session_id, key) if key is not None and session_id not in self._unlisted else None
        except SyncError:
            return None  # push() meets it again, and says why

    def _sealer(self, sid: str, key: bytes) -> envelope.Sealer:
        mark = self.marks.get(sid)
        listed = self._sealed_of.get(sid)
        generation = self.marks.generation(sid)
        if not self._raw:
            self.entries()
        e = self._raw.get(self._stored_id.get(sid, sid))
        if e is not None and envelope.is_sealed(e.project_key):
            with contextlib.suppress(BundleError):
                generation = max(generation, self._listing(e, key).generation)
        # Frames are re-used only when this device knows the remote's current version's frames.
        seen = self.marks.frames(sid) if listed is not None and mark.get("sealed") == listed[1] else None
        return envelope.Sealer(key, generation + 1, seen, self.show_device)

    def _seal(self, bundle: Bundle, key: bytes) -> envelope.Opened:
        sealer = self._sealer(bundle.session_id, key)
        ahead, bundle.made_ahead = bundle.made_ahead, None
        if ahead is not None and ahead[0] == sealer and isinstance(ahead[1], envelope.Opened):
            return ahead[1]  # sealed by the packing worker, with the very parameters it would be sealed with here
        return sealer(bundle)

    def push(self, items: list[PushItem]) -> dict[str, PushResult]:
        key = self._usable_key()
        if key is None:
            return self.inner.push(items)
        if not self._sealed_of:
            self.entries()
        items = items + self._unsealed_items({i.bundle.session_id for i in items}, key)
        sealed_items: list[PushItem] = []
        opened_by_sid: dict[str, tuple[str, envelope.Opened]] = {}
        for item in items:
            sid = item.bundle.session_id
            plain_digest = content_digest(item.bundle)
            staged = self._staged.pop(sid, None)
            opened = staged[1].result() if staged is not None and staged[0] == plain_digest else self._seal(item.bundle, key)
            listed = self._sealed_of.get(sid)
            base = item.base
            if base is not None and listed is not None and listed[0] == base:
                base = listed[1]  # the engine decided against the plain digest; the remote compares sealed ones
            sealed_items.append(PushItem(opened.bundle, base, item.force))
            opened_by_sid[sid] = (plain_digest, opened)
            self._stored_id[sid] = opened.bundle.session_id
        plain_id = {opened.bundle.session_id: sid for sid, (_d, opened) in opened_by_sid.items()}
        results = {plain_id.get(k, k): v for k, v in self.inner.push(sealed_items).items()}
        for sid, result in results.items():
            if sid in opened_by_sid and result in (PushResult.PUSHED, PushResult.HELD):
                plain_digest, opened = opened_by_sid[sid]
                landing = Mark(opened.generation, opened.frames, plain_digest, content_digest(opened.bundle), opened.codec)
                if result is PushResult.PUSHED:
                    self._landed(sid, landing)
                else:
                    self._held[opened.bundle.session_id] = (sid, landing)
        self.marks.save()
        return results

    def _landed(self, sid: str, landing: Mark) -> None:
        self.marks.record(sid, landing)
        self._sealed_of[sid] = (landing.plain_digest, landing.sealed_digest)

    def hold(self) -> bool:
        # Held like plain ones (a bulk push lands as one pack: a remote of 50 packs makes every clone
        # look for deltas between them, and the host repack): their marks are recorded at publish().
        self._held = {}
        return self.inner.hold()

    def publish(self) -> dict[str, PushResult]:
        held, self._held = self._held, {}
        results: dict[str, PushResult] = {}
        for stored_id, result in self.inner.publish().items():
            sid, landing = held.get(stored_id, (stored_id, None))
            results[sid] = result
            if result is PushResult.PUSHED and landing is not None:
                self._landed(sid, landing)
        self.marks.save()
        return results

    def _vouched_plain(self, key: bytes) -> dict[str, str]:
        if self._vouched is None:
            self._vouched = plain_allowed(self.record, key) if self.record is not None else {}
        return self._vouched

    def _unsealed_items(self, skip: set[str], key: bytes) -> list[PushItem]:
        """The plain sessions still on an encrypted remote, to be sealed by this push (and their plaintext gone)."""
        out = []
        for e in self.inner.entries():
            if e.session_id in skip or e.session_id == KEY_RECORD_ID or envelope.is_sealed(e.project_key):
                continue
            if self._vouched_plain(key).get(e.session_id) != e.content_sha256:
                # Sealing it would make the forgery pass: only what was there when encryption was turned on.
                log.warning("%s", unvouched_plain(e.session_id))
                continue
            bundle = self.inner.fetch(e.session_id).in_memory()  # sealed from bytes
            if content_digest(bundle) != e.content_sha256:
                continue  # changed since it was listed: the next push looks again
            out.append(PushItem(bundle, e.content_sha256))
        if out:
            log.info("sealing %d session(s) the remote still holds in plain", len(out))
        return out

    def write_record(self, record: KeyRecord) -> bool:
        """Store the key record on the remote unless one is there already (compare-and-swap); True when stored."""
        result = self.inner.push([PushItem(record_bundle(record), None)])
        return result.get(KEY_RECORD_ID) is PushResult.PUSHED

    def remove(self, bases: dict[str, str]) -> dict[str, PushResult]:
        """Compaction: the bases are digests of the opened listing; the remote knows its sealed ones."""
        if not self.encrypted:
            return self.inner.remove(bases)
        opened = {e.session_id: e.content_sha256 for e in self.entries()}
        sealed = {e.session_id: e.content_sha256 for e in self.inner.entries()}
        mine = {sid: sealed[sid] for sid, base in bases.items() if sid in sealed and opened.get(sid) == base}
        results = {sid: PushResult.CONFLICT for sid in bases if sid not in mine}
        if mine:
            results.update(self.inner.remove(mine))
        return results

    def unreadable(self) -> dict[str, str]:
        return {**self.inner.unreadable(), **self._unlisted}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self.marks.save()
        except OSError as e:
            log.info("cannot keep the encryption marks: %s", e)
        self.inner.close()
