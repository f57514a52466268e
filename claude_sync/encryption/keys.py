"""The account key of a remote, how it travels (recovery phrase, passphrase) and how it is checked.

* One random 256-bit account key per remote, made by the first device (`new_account_key`).
* It travels to other devices as a recovery phrase: 24 words of 11 bits, 256 bits of key
  plus an 8-bit checksum (the first byte of its SHA-256), BIP39's construction over our own
  word list (`wordlist.py`); or it is unlocked with a passphrase: Argon2id (random salt,
  parameters recorded) derives a key that unwraps the account key kept, wrapped with
  AES-256-GCM, in the remote's key record.
* The key record (`KeyRecord`) sits on the remote in clear: per key an id, a check value
  (an HMAC of a fixed label under the key: it proves a key is the one, and says nothing of
  it) and the wrapped copy when a passphrase was set. A list, with the current id named,
  so that a later key rotation can add keys without changing the format.
* Every other key is derived from the account key with HKDF-SHA256 and a label, so one
  secret is all a device keeps (credentials.py: the OS keyring or the 0600 file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import datetime, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, Field

from ..format.errors import ConfigError, SyncError
from .wordlist import INDEX, WORDS

KEY_BYTES = 32
PHRASE_WORDS = 24
RECORD_SCHEME = 1
_CHECK_LABEL = b"claude-sync key check v1"
_WRAP_LABEL = b"claude-sync key wrap v1|"

# RFC 9106's second recommended choice (64 MiB, 3 passes, 4 lanes): about a quarter of a second.
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_ITERATIONS = 3
ARGON2_LANES = 4


class WrongKey(SyncError):
    """A phrase, passphrase or stored key that is not the remote's: nothing was stored or written."""

    exit_code = 2
    code = "wrong_key"


class WrappedKey(BaseModel):
    """The account key wrapped under a passphrase: Argon2id(passphrase, salt) -> AES-256-GCM key."""

    kdf: str = "argon2id"
    salt: str  # base64, 16 random bytes
    memory_kib: int = Field(ge=8 * 1024, le=4 * 1024 * 1024)
    iterations: int = Field(ge=1, le=64)
    lanes: int = Field(ge=1, le=64)
    nonce: str  # base64, 12 random bytes
    ciphertext: str  # base64: 32 bytes of key + 16 of tag


class KeyEntry(BaseModel):
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    check: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str = ""
    wrapped: WrappedKey | None = None


class PlainAtStart(BaseModel):
    """The sessions the remote held in plain when encryption was turned on (id -> content digest),
    with a tag under the account key: the only plain ones a device that holds the key accepts or
    seals. Any other plain object on an encrypted remote was written by someone without the key."""

    sessions: dict[str, str] = {}
    tag: str = ""


class KeyRecord(BaseModel):
    """What the remote keeps about its keys, in clear: never a key, only checks and wrapped copies."""

    scheme: int = RECORD_SCHEME
    current: str  # key_id of the key new objects are sealed with
    keys: list[KeyEntry] = Field(min_length=1, max_length=64)
    plain: PlainAtStart | None = None  # absent in records written before it existed: then no plain session counts

    def entry(self, key_id: str) -> KeyEntry | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    def current_entry(self) -> KeyEntry:
        entry = self.entry(self.current)
        if entry is None:
            raise SyncError("the remote's key record names a current key it does not hold; nothing was written")
        return entry


def new_account_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def key_check(key: bytes) -> str:
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    return key_check(key)[:16]


def derive(key: bytes, label: str, length: int = 32) -> bytes:
    """A subkey for one purpose: HKDF-SHA256 of the account key with `label` as info."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label.encode()).derive(key)


def matches(record: KeyRecord, key: bytes) -> bool:
    entry = record.entry(key_id(key))
    return entry is not None and hmac.compare_digest(entry.check, key_check(key))


def _plain_tag(key: bytes, sessions: dict[str, str]) -> str:
    text = json.dumps(sorted(sessions.items()), separators=(",", ":")).encode()
    return hmac.new(derive(key, "plain sessions when encryption was turned on"), text, hashlib.sha256).hexdigest()


def plain_at_start(key: bytes, sessions: dict[str, str]) -> PlainAtStart:
    return PlainAtStart(sessions=dict(sessions), tag=_plain_tag(key, sessions))


def plain_allowed(record: KeyRecord, key: bytes) -> dict[str, str]:
    """The plain sessions the record vouches for, or none when its list is missing or forged."""
    p = record.plain
    if p is None or not hmac.compare_digest(p.tag, _plain_tag(key, p.sessions)):
        return {}
    return p.sessions


def new_record(key: bytes, passphrase: str | None = None) -> KeyRecord:
    entry = KeyEntry(
        key_id=key_id(key),
        check=key_check(key),
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        wrapped=wrap(key, passphrase) if passphrase is not None else None,
    )
    return KeyRecord(current=entry.key_id, keys=[entry])


# -- the recovery phrase -----------------------------------------------------------


def phrase_for(key: bytes) -> str:
    """The 24 words that spell `key`: 256 bits and an 8-bit checksum, 11 bits a word."""
    if len(key) != KEY_BYTES:
        raise ValueError("an account key is 32 bytes")
    bits = int.from_bytes(key + hashlib.sha256(key).digest()[:1], "big")
    return " ".join(WORDS[(bits >> (11 * (PHRASE_WORDS - 1 - i))) & 0x7FF] for i in range(PHRASE_WORDS))


def phrase_words(text: str) -> list[str]:
    return text.strip().lower().replace(",", " ").split()


def looks_like_phrase(text: str) -> bool:
    """Whether `text` is written in phrase words (so a mistyped one is reported as such, not as a passphrase)."""
    words = phrase_words(text)
    return len(words) >= PHRASE_WORDS // 2 and sum(w in INDEX for w in words) >= len(words) - 2


def key_from_phrase(text: str) -> bytes:
    """The account key a recovery phrase spells; WrongKey says what is wrong with it."""
    words = phrase_words(text)
    if len(words) != PHRASE_WORDS:
        raise WrongKey(f"a recovery phrase has {PHRASE_WORDS} words, this one {len(words)}; nothing was stored")
    unknown = [f"{i + 1} ({w!r})" for i, w in enumerate(words) if w not in INDEX]
    if unknown:
        raise WrongKey(f"not a word of recovery phrases: word {', '.join(unknown)}; nothing was stored")
    bits = 0
    for w in words:
        bits = (bits << 11) | INDEX[w]
    raw = bits.to_bytes(KEY_BYTES + 1, "big")
    key, checksum = raw[:KEY_BYTES], raw[KEY_BYTES:]
    if hashlib.sha256(key).digest()[:1] != checksum:
        raise WrongKey("the recovery phrase's checksum does not match (a word is wrong or out of order); nothing was stored")
    return key


# -- the passphrase ----------------------------------------------------------------


def _kek(passphrase: str, salt: bytes, memory_kib: int, iterations: int, lanes: int) -> bytes:
    kdf = Argon2id(salt=salt, length=32, iterations=iterations, lanes=lanes, memory_cost=memory_kib)
    return kdf.derive(passphrase.encode("utf-8"))


def check_passphrase(passphrase: str) -> str:
    passphrase = passphrase.strip("\r\n")
    if len(passphrase) < 8:
        raise ConfigError("a passphrase needs at least 8 characters; nothing was stored")
    return passphrase


def wrap(key: bytes, passphrase: str) -> WrappedKey:
    salt, nonce = os.urandom(16), os.urandom(12)
    memory, iterations, lanes = _argon2_params()
    kek = _kek(passphrase, salt, memory, iterations, lanes)
    ct = AESGCM(kek).encrypt(nonce, key, _WRAP_LABEL + key_id(key).encode())
    b64 = base64.b64encode
    return WrappedKey(
        salt=b64(salt).decode(), memory_kib=memory, iterations=iterations, lanes=lanes,
        nonce=b64(nonce).decode(), ciphertext=b64(ct).decode(),
    )


def unwrap(record: KeyRecord, passphrase: str) -> bytes:
    """The account key a passphrase unlocks (checked against the record), or WrongKey."""
    wrapped = [k for k in record.keys if k.wrapped is not None]
    if not wrapped:
        raise WrongKey("this remote has no passphrase set: join with the recovery phrase; nothing was stored")
    for entry in wrapped:
        w = entry.wrapped
        assert w is not None
        try:
            kek = _kek(passphrase, base64.b64decode(w.salt), w.memory_kib, w.iterations, w.lanes)
            key = AESGCM(kek).decrypt(base64.b64decode(w.nonce), base64.b64decode(w.ciphertext), _WRAP_LABEL + entry.key_id.encode())
        except (InvalidTag, ValueError):
            continue
        if matches(record, key):
            return key
    raise WrongKey("wrong passphrase for this remote's key; nothing was stored")


def _argon2_params() -> tuple[int, int, int]:
    # Tests may lower the cost (memory is the expensive part on a shared CI machine); never below the floor.
    memory = int(os.environ.get("CLAUDE_SYNC_ARGON2_MEMORY_KIB", ARGON2_MEMORY_KIB))
    return max(memory, 8 * 1024), ARGON2_ITERATIONS, ARGON2_LANES
