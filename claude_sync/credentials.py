"""Where the sync server token lives: the OS keyring when one is usable, else a file only the user can read.

Never in config.json, process arguments, logs or editor settings. The CLI, the
sidecar and Claude Code hooks all run as the user and read it from here, at the
moment they need it, so `claude-sync token set` takes effect everywhere at once.
Tokens are kept per server URL; end-to-end encryption keys (docs/encryption.md) per remote,
in the same store, under `key:<remote>` names.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

from . import atomic
from .config import Paths
from .format.errors import ConfigError

log = logging.getLogger(__name__)

SERVICE = "claude-sync"
FILE_NAME = "credentials.json"


def server_key(url: str) -> str:
    """One spelling per server: no trailing slash, lower-case scheme and host."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def check_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise ConfigError("the token is empty")
    if len(token) > 512 or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError("the token must be one line of printable characters without spaces")
    return token


def _keyring() -> Any | None:
    """The keyring module when a real backend is there (not the fail/null stand-ins), else None."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or backend.priority <= 0:  # type: ignore[operator]
            return None
        if type(backend).__module__.startswith("keyring.backends.null"):
            return None
        return keyring
    except Exception as e:  # a broken keyring setup must not stop the file fallback
        log.debug("keyring unavailable: %s", e)
        return None


def _file(paths: Paths) -> Path:
    return paths.data / FILE_NAME


def _read_file(paths: Paths, section: str = "tokens") -> dict[str, str]:
    f = _file(paths)
    try:
        if os.name != "nt" and stat.S_IMODE(f.stat().st_mode) & 0o077:
            os.chmod(f, 0o600)  # someone loosened it: make it private again before reading
        data = json.loads(f.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the token file {f}: {e}") from e
    tokens = data.get(section, {}) if isinstance(data, dict) else {}
    return {k: v for k, v in tokens.items() if isinstance(k, str) and isinstance(v, str)}


def _write_file(paths: Paths, tokens: dict[str, str], section: str = "tokens") -> None:
    f = _file(paths)
    sections = {name: _read_file(paths, name) for name in SECTIONS if name != section}
    sections[section] = tokens
    sections = {name: values for name, values in sections.items() if values}
    if not sections:
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
        return
    paths.data.mkdir(parents=True, exist_ok=True)
    atomic.write_text(f, json.dumps(sections, indent=1, sort_keys=True) + "\n", mode=0o600)


SECTIONS = ("tokens", "keys")
KEY_PREFIX = "key:"  # the keyring name of a remote's encryption key


def set_key(remote: str, secret: str, paths: Paths | None = None) -> str:
    """Store a remote's encryption key (hex); returns where it went. Same store, same rules as tokens."""
    paths = paths or Paths.current()
    kr = _keyring()
    if kr is not None:
        try:
            kr.set_password(SERVICE, KEY_PREFIX + remote, secret)
            keys = _read_file(paths, "keys")
            if keys.pop(remote, None) is not None:
                _write_file(paths, keys, "keys")
            return "the system keyring"
        except Exception as e:
            log.warning("keyring refused the encryption key (%s); using the credentials file", e)
    keys = _read_file(paths, "keys")
    keys[remote] = secret
    _write_file(paths, keys, "keys")
    return str(_file(paths))


def get_key(remote: str, paths: Paths | None = None) -> str | None:
    paths = paths or Paths.current()
    kr = _keyring()
    if kr is not None:
        try:
            secret = kr.get_password(SERVICE, KEY_PREFIX + remote)
            if secret:
                return str(secret)
        except Exception as e:
            log.debug("keyring read failed: %s", e)
    return _read_file(paths, "keys").get(remote)


def clear_key(remote: str, paths: Paths | None = None) -> bool:
    paths = paths or Paths.current()
    found = False
    kr = _keyring()
    if kr is not None:
        try:
            if kr.get_password(SERVICE, KEY_PREFIX + remote) is not None:
                kr.delete_password(SERVICE, KEY_PREFIX + remote)
                found = True
        except Exception as e:
            log.debug("keyring delete failed: %s", e)
    keys = _read_file(paths, "keys")
    if keys.pop(remote, None) is not None:
        _write_file(paths, keys, "keys")
        found = True
    return found


def set_token(url: str, token: str, paths: Paths | None = None) -> str:
    """Store the token for a server; returns where it went (for the user)."""
    paths = paths or Paths.current()
    key, token = server_key(url), check_token(token)
    kr = _keyring()
    if kr is not None:
        try:
            kr.set_password(SERVICE, key, token)
            tokens = _read_file(paths)
            if tokens.pop(key, None) is not None:  # one copy only
                _write_file(paths, tokens)
            return "the system keyring"
        except Exception as e:
            log.warning("keyring refused the token (%s); using the token file", e)
    tokens = _read_file(paths)
    tokens[key] = token
    _write_file(paths, tokens)
    return str(_file(paths))


def get_token(url: str, paths: Paths | None = None) -> str | None:
    paths = paths or Paths.current()
    key = server_key(url)
    kr = _keyring()
    if kr is not None:
        try:
            token = kr.get_password(SERVICE, key)
            if token:
                return str(token)
        except Exception as e:
            log.debug("keyring read failed: %s", e)
    return _read_file(paths).get(key)


def clear_token(url: str, paths: Paths | None = None) -> bool:
    """Forget the token for a server everywhere it may be; True if there was one."""
    paths = paths or Paths.current()
    key = server_key(url)
    found = False
    kr = _keyring()
    if kr is not None:
        try:
            if kr.get_password(SERVICE, key) is not None:
                kr.delete_password(SERVICE, key)
                found = True
        except Exception as e:
            log.debug("keyring delete failed: %s", e)
    tokens = _read_file(paths)
    if tokens.pop(key, None) is not None:
        _write_file(paths, tokens)
        found = True
    return found
