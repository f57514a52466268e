"""Bearer tokens: random, shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s\"']+")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class RedactTokens(logging.Filter):
    """Belt and braces: no log record ever carries a bearer token, whatever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def _redact(text: str) -> str:
    return BEARER_RE.sub(r"\1[redacted]", text)
