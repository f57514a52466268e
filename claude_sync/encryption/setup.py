"""Turning end-to-end encryption on, joining it, and saying where it stands: for the CLI and the sidecar.

The account key is stored in the credential store (credentials.py) under the remote's name,
never in config.json, arguments or logs; the CLI, the hooks and the sidecar read it from there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .. import credentials
from ..backends import open_backend
from ..backends.base import Backend
from ..config import Config, Paths
from ..format.errors import ConfigError, SyncError
from ..format.layout import KEY_RECORD_ID
from . import envelope
from .backend import EncryptedBackend, Marks, marks_file
from .keys import (
    KEY_BYTES,
    WrongKey,
    check_passphrase,
    key_from_phrase,
    key_id,
    looks_like_phrase,
    matches,
    new_account_key,
    new_record,
    phrase_for,
    plain_at_start,
    unwrap,
)


def remote_name(config: Config) -> str:
    """The one spelling of the configured remote the key is stored under."""
    if config.backend == "server":
        if not config.server_url:
            raise ConfigError("no sync server configured: run `claude-sync configure --server-url URL`")
        return "server:" + credentials.server_key(config.server_url)
    if not config.git_url:
        raise ConfigError("no Git repository configured: run `claude-sync configure --git-url URL`")
    return "git:" + config.git_url.strip()


def stored_key(config: Config, paths: Paths) -> bytes | None:
    secret = credentials.get_key(remote_name(config), paths)
    if secret is None:
        return None
    try:
        key = bytes.fromhex(secret)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"the stored encryption key of {remote_name(config)} is damaged: run `claude-sync encryption join`")
    return key


def wrap(inner: Backend, config: Config, paths: Paths, key: bytes | None = None, *, use_stored: bool = True) -> EncryptedBackend:
    """The configured backend as the engine sees it (sealing when the remote is encrypted)."""
    remote = remote_name(config)
    if key is None and use_stored:
        key = stored_key(config, paths)
    return EncryptedBackend(
        inner,
        remote,
        key,
        Marks(marks_file(paths.data, remote)),
        show_device=config.encryption_show_device,
        max_bytes=config.max_bundle_bytes,
    )


def _open(config: Config, paths: Paths, key: bytes | None = None, *, use_stored: bool = True) -> EncryptedBackend:
    return wrap(open_backend(config, paths), config, paths, key, use_stored=use_stored)


def open_sealed(config: Config, paths: Paths) -> EncryptedBackend:
    """The configured backend as the engine sees it: plain bundles in and out, sealed on the remote
    when it is encrypted; a remote without a key record passes through unchanged."""
    return _open(config, paths)


@dataclass
class Status:
    remote: str
    encrypted: bool  # the remote holds a key record
    joined: bool  # this device holds the remote's key
    key_id: str | None
    passphrase: bool  # the remote keeps a passphrase-wrapped copy
    sealed: int  # sessions on the remote, sealed
    plain: int  # sessions on the remote still in plain
    store: str  # where this device keeps keys

    def to_dict(self) -> dict:
        return asdict(self)


def status(config: Config, paths: Paths) -> Status:
    key = stored_key(config, paths)
    with _open(config, paths, use_stored=False) as b:
        b.refresh()
        record = b.record
        raw = [e for e in b.inner.entries() if e.session_id != KEY_RECORD_ID]
    sealed = sum(envelope.is_sealed(e.project_key) for e in raw)
    return Status(
        remote=remote_name(config),
        encrypted=record is not None,
        joined=record is not None and key is not None and matches(record, key),
        key_id=record.current if record else (key_id(key) if key else None),
        passphrase=bool(record and any(k.wrapped for k in record.keys)),
        sealed=sealed,
        plain=len(raw) - sealed,
        store="the system keyring" if credentials._keyring() is not None else str(paths.data / credentials.FILE_NAME),
    )


@dataclass
class Initialized:
    phrase: str  # the recovery phrase: shown to the user whatever else happened
    key_id: str
    sealed: int  # plain sessions of the remote sealed now
    seal_error: str | None = None  # why sealing them failed (the key is on and kept all the same)


def init(config: Config, paths: Paths, passphrase: str | None = None) -> Initialized:
    """Create the remote's key, store it here, record its check on the remote and seal what is there.

    Once the key record is on the remote, encryption is on and the key is the only way in: a
    failure sealing the plain sessions after that is reported beside the phrase, never instead
    of it (the next push seals them again).
    """
    if passphrase is not None:
        passphrase = check_passphrase(passphrase)
    remote = remote_name(config)
    with _open(config, paths, use_stored=False) as b:
        b.refresh()
        if b.record is not None:
            mine = stored_key(config, paths)
            if mine is not None and matches(b.record, mine):
                raise ConfigError(f"{remote} is already encrypted with this device's key: see `claude-sync encryption status`")
            raise ConfigError(f"{remote} is already end-to-end encrypted: run `claude-sync encryption join` instead")
        key = new_account_key()
        record = new_record(key, passphrase)
        # What is in plain now came from devices before encryption: vouched for under the key, so that it
        # can still be pulled and sealed; anything plain that appears later is refused (the host's).
        record.plain = plain_at_start(key, {
            e.session_id: e.content_sha256
            for e in b.inner.entries()
            if e.session_id != KEY_RECORD_ID and not envelope.is_sealed(e.project_key)
        })
        credentials.set_key(remote, key.hex(), paths)  # before the record: a key on the remote is never lost
        try:
            if not b.write_record(record):
                raise SyncError(f"another device turned encryption on for {remote} meanwhile: run `claude-sync encryption join`")
        except BaseException:
            credentials.clear_key(remote, paths)
            raise
    done = Initialized(phrase_for(key), key_id(key), 0)
    try:
        with _open(config, paths, key) as b:
            b.refresh()
            plain = [e for e in b.inner.entries() if e.session_id != KEY_RECORD_ID and not envelope.is_sealed(e.project_key)]
            if plain:
                b.push([])  # seals every plain session, and removes its plaintext from the remote's current state
            done.sealed = len(plain)
    except (SyncError, OSError) as e:
        done.seal_error = str(e)
    return done


def join(config: Config, paths: Paths, secret: str) -> str:
    """Check a recovery phrase or passphrase against the remote's key record and store the key; its id."""
    remote = remote_name(config)
    with _open(config, paths, use_stored=False) as b:
        b.refresh()
        record = b.record
    if record is None:
        raise ConfigError(f"{remote} is not end-to-end encrypted: turn it on with `claude-sync encryption init`")
    secret = secret.strip()
    if not secret:
        raise WrongKey("nothing was read from stdin: give the recovery phrase or the passphrase; nothing was stored")
    key = key_from_phrase(secret) if looks_like_phrase(secret) else unwrap(record, secret)
    if not matches(record, key):
        raise WrongKey(f"that recovery phrase is not the key of {remote} (a phrase of another remote?); nothing was stored")
    credentials.set_key(remote, key.hex(), paths)
    return key_id(key)


def show_phrase(config: Config, paths: Paths) -> str:
    key = stored_key(config, paths)
    if key is None:
        raise ConfigError(f"this device holds no encryption key for {remote_name(config)}")
    return phrase_for(key)
