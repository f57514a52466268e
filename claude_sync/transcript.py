"""What listing shows of a session, read from its transcript: working directory, title, times, counts.

Read from the records (never from the folder name), from the head and the tail of each
transcript only: the working directory, first prompt and first timestamp sit at the head;
the last timestamp, the last prompt and the titles the client re-appends sit at the tail.
A transcript that fits in the two windows is read whole. A transcript that only grew is
brought up to date from its appended bytes alone (meta_cache.py keeps what was read).

Message counts are exact when the whole transcript was counted once, and kept exact from
the appended bytes after that. For one larger than the two windows read cold, the count
is estimated from them (`message_count_exact` False) until the transcript next changes.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .jsonload import loads

TITLE_MAX = 80
WINDOW = 16 * 1024  # bytes read at the head and at the tail of a transcript
HEAD_LIMIT = 1024 * 1024  # how far the head is followed to find the first prompt and working directory
TITLE_HEAD = 64 * 1024  # how far the head is searched for a title (as far as the client's resume picker reads)


@dataclass
class SessionMeta:
    """What listing shows, read from the transcript."""

    cwd: str | None = None
    title: str = ""
    first_prompt: str = ""
    message_count: int = 0
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    message_count_exact: bool = True
    title_rank: int = 0  # 0: the first prompt stands in; 1 summary, 2 AI title, 3 custom title


_META_FIELDS = {f.name for f in fields(SessionMeta)}


def meta_from(fields_: dict[str, Any]) -> SessionMeta:
    """SessionMeta from its fields as stored (unknown ones, from another version, ignored)."""
    return SessionMeta(**{k: v for k, v in fields_.items() if k in _META_FIELDS})


def legacy_agent_owner(path: str) -> str | None:
    """The session an older client's agent-*.jsonl belongs to: the first sessionId its records name."""
    try:
        with open(path, "rb") as f:
            for line in f:
                owner = legacy_agent_owner_of(line)
                if owner is not None:
                    return owner
    except OSError:
        pass
    return None


def legacy_agent_owner_of(line: bytes) -> str | None:
    """The sessionId one record of a legacy agent log names, if any."""
    try:
        rec = loads(line)
    except ValueError:
        return None
    if isinstance(rec, dict) and rec.get("sessionId"):
        return str(rec["sessionId"])
    return None


def _prompt_text(rec: dict) -> str | None:
    """The user's own words in a user record, or None for tool results and meta records."""
    if rec.get("isMeta") or rec.get("isSidechain"):
        return None
    msg = rec.get("message")
    content = msg.get("content") if isinstance(msg, dict) else None
    if isinstance(content, list):
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        content = " ".join(t for t in texts if t) if texts else None
    if not isinstance(content, str):
        return None
    text = content.strip()
    if not text or text.startswith("<"):  # command wrappers, caveats, hook output
        return None
    return text


def shorten(text: str, limit: int = TITLE_MAX) -> str:
    if len(text) > 4 * limit:  # a long prompt: its whitespace is collapsed only as far as the title goes
        head = " ".join(text[: 4 * limit].split())
        if len(head) > limit:  # the collapsed head is a prefix of the collapsed whole, and long enough
            return head[: limit - 1].rstrip() + "…"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_MESSAGE_RE = re.compile(rb'"type":"(?:user|assistant)"')


def _count_messages(buf: bytes, end: int) -> int:
    """Lines of buf[:end] holding a user or assistant record (what listing calls messages)."""
    n, line_end = 0, -1
    for m in _MESSAGE_RE.finditer(buf, 0, end):
        if m.start() > line_end:
            n += 1
            line_end = buf.find(b"\n", m.start())
            if line_end < 0:
                line_end = len(buf)
    return n


def _rough_count(buf: bytes, start: int, end: int) -> int:
    """Messages in buf[start:end], counted by marker (for an estimate, a line is assumed to hold one)."""
    return buf.count(b'"type":"user"', start, end) + buf.count(b'"type":"assistant"', start, end)


def count_messages(data: bytes) -> int:
    """Messages in the complete lines of a transcript."""
    return _count_messages(data, data.rfind(b"\n") + 1)


def _record_at(buf: bytes, pos: int, memo: dict[int, dict | None] | None = None) -> tuple[dict | None, int, int]:
    """The record on the line holding buf[pos], and where that line starts and ends."""
    start = buf.rfind(b"\n", 0, pos) + 1
    end = buf.find(b"\n", pos)
    if end < 0:
        end = len(buf)
    if memo is not None and start in memo:
        return memo[start], start, end
    try:
        rec = loads(buf[start:end])
    except ValueError:
        rec = None
    rec = rec if isinstance(rec, dict) else None
    if memo is not None:
        memo[start] = rec
    return rec, start, end


def _first(buf: bytes, end: int, marker: bytes, want, memo: dict | None = None) -> object:  # type: ignore[no-untyped-def]
    """The first value `want(record)` gives (not None) among the lines of buf[:end] that hold `marker`."""
    pos = buf.find(marker, 0, end)
    while pos >= 0:
        rec, _start, line_end = _record_at(buf, pos, memo)
        value = want(rec) if rec is not None else None
        if value is not None:
            return value
        pos = buf.find(marker, line_end, end)
    return None


def _str_field(key: str):  # type: ignore[no-untyped-def]
    return lambda rec: rec[key] if isinstance(rec.get(key), str) else None


def _user_prompt(rec: dict) -> str | None:
    return _prompt_text(rec) if rec.get("type") == "user" else None


def _fold_head(meta: SessionMeta, buf: bytes, end: int) -> None:
    """The fields that come from the first records: working directory, first timestamp, first prompt."""
    memo: dict[int, dict | None] = {}
    if meta.cwd is None:
        meta.cwd = _first(buf, end, b'"cwd"', _str_field("cwd"), memo)  # type: ignore[assignment]
    if meta.first_timestamp is None:
        meta.first_timestamp = _first(buf, end, b'"timestamp"', _str_field("timestamp"), memo)  # type: ignore[assignment]
    if not meta.first_prompt:
        text = _first(buf, end, b'"type":"user"', _user_prompt, memo)
        if text:
            meta.first_prompt = shorten(text)  # type: ignore[arg-type]


def _head_needed(meta: SessionMeta) -> bool:
    return meta.cwd is None or meta.first_timestamp is None or not meta.first_prompt


def _fold_titles(meta: SessionMeta, buf: bytes, end: int, start: int = 0, summaries: bool = True) -> None:
    """Titles in buf[start:end]: a custom title beats an AI title beats a summary; a later one of a rank wins.

    Summaries (older clients) head a transcript: a head-and-tail read looks for them in its first window only.
    """
    hits = []
    pos = buf.find(b'-title"', start, end)  # one scan finds both "custom-title" and "ai-title"
    while pos >= 0:
        if buf.endswith(b'"custom', 0, pos):
            hits.append((pos, "customTitle", 3))
        elif buf.endswith(b'"ai', 0, pos):
            hits.append((pos, "aiTitle", 2))
        pos = buf.find(b'-title"', pos + 7, end)
    pos = buf.find(b'"summary"', start, end) if summaries else -1
    while pos >= 0:
        hits.append((pos, "summary", 1))
        pos = buf.find(b'"summary"', pos + 9, end)
    for pos, key, rank in sorted(hits):
        rec, _s, _e = _record_at(buf, pos)
        value = (rec.get(key) or rec.get("title")) if rec is not None else None
        if isinstance(value, str) and value.strip() and rank >= meta.title_rank:
            meta.title, meta.title_rank = shorten(value), rank


def _fold_last(meta: SessionMeta, buf: bytes, end: int) -> None:
    """The timestamp of the last record in buf[:end] that has one of its own, and a working directory if unknown."""
    if meta.cwd is None:
        meta.cwd = _first(buf, end, b'"cwd"', _str_field("cwd"))  # type: ignore[assignment]
    pos = buf.rfind(b'"timestamp"', 0, end)
    while pos >= 0:
        rec, start, _e = _record_at(buf, pos)
        if rec is not None and isinstance(rec.get("timestamp"), str):
            meta.last_timestamp = rec["timestamp"]
            return
        pos = buf.rfind(b'"timestamp"', 0, start)


def _finish(meta: SessionMeta) -> SessionMeta:
    if meta.last_timestamp is None:
        meta.last_timestamp = meta.first_timestamp
    if meta.title_rank == 0:
        meta.title = meta.first_prompt or "(untitled)"
    return meta


@dataclass
class TranscriptScan:
    meta: SessionMeta
    end: int | None  # where the exact count stops (after the last complete line), None when estimated
    sig: str  # hash of the bytes just before `end`: tells an append from a rewrite


def _sig(fd: int, end: int) -> str:
    start = max(0, end - 256)
    return hashlib.blake2b(os.pread(fd, end - start, start), digest_size=8).hexdigest()


def scan_transcript(fd: int, size: int, whole: bool = False) -> TranscriptScan:
    """Metadata of a transcript from its head and tail; from all of it when it is small or `whole`."""
    meta = SessionMeta()
    if whole or size <= 2 * WINDOW:
        buf = os.pread(fd, size, 0)
        end = buf.rfind(b"\n") + 1  # complete lines only: the client may be writing the last one
        _fold_head(meta, buf, end)
        _fold_titles(meta, buf, end)
        _fold_last(meta, buf, end)
        meta.message_count = _count_messages(buf, end)
        return TranscriptScan(_finish(meta), end, _sig(fd, end))
    # The head: from the start, further only while a head field is missing.
    head = os.pread(fd, WINDOW, 0)
    while True:
        head_end = head.rfind(b"\n") + 1
        _fold_head(meta, head, head_end)
        if len(head) >= size or not _head_needed(meta) or len(head) >= HEAD_LIMIT:
            break
        head += os.pread(fd, min(len(head), size - len(head)), len(head))
    _fold_titles(meta, head, head_end)
    if meta.title_rank < 2 and len(head) < min(size, TITLE_HEAD):
        # The client titles a session right after its first prompt: look as far as its own picker does.
        head += os.pread(fd, min(size, TITLE_HEAD) - len(head), len(head))
        searched, head_end = head_end, head.rfind(b"\n") + 1
        _fold_titles(meta, head, head_end, searched, summaries=False)
    # The tail: the complete lines after size - WINDOW, further back until one carries a timestamp.
    start = max(head_end, size - WINDOW)
    while True:
        tail = os.pread(fd, size - start, start)
        skip = 0
        if start > head_end:  # the first line is cut off
            skip = tail.find(b"\n") + 1 or len(tail)
        tail_end = tail.rfind(b"\n") + 1
        if start == head_end or tail.find(b'"timestamp"', skip, tail_end) >= 0:
            break
        start = max(head_end, size - 4 * (size - start))
    tail_lines = tail[skip:]
    _fold_titles(meta, tail_lines, max(0, tail_end - skip), summaries=start + skip == head_end)
    _fold_last(meta, tail_lines, max(0, tail_end - skip))
    if meta.last_timestamp is None:  # the head reached (nearly) the end
        _fold_last(meta, head, head_end)
    if start + skip == head_end:  # head and tail met: every line was seen once
        meta.message_count = _count_messages(head, head_end) + _count_messages(tail, tail_end)
        stop = start + tail_end
        return TranscriptScan(_finish(meta), stop, _sig(fd, stop))
    # Records per byte in what was read, raw (a marker sits at the start of its record): an estimate.
    count = _rough_count(head, 0, len(head)) + _rough_count(tail, 0, len(tail))
    meta.message_count = round(count * size / (len(head) + len(tail)))
    meta.message_count_exact = False
    return TranscriptScan(_finish(meta), None, "")


def read_meta(path: Path | str) -> SessionMeta:
    """Listing metadata of a transcript; complete lines only, unknown record types ignored."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return scan_transcript(fd, os.fstat(fd).st_size).meta
    finally:
        os.close(fd)


def scan_appended(fd: int, size: int, old: dict) -> TranscriptScan | None:
    """Bring cached metadata up to date from the bytes appended since; None when it was not an append."""
    end = old.get("end")
    if end is None or end > size or not old.get("sig") or _sig(fd, end) != old["sig"]:
        return None
    meta = meta_from(old["meta"])
    new = os.pread(fd, size - end, end)
    new_end = new.rfind(b"\n") + 1
    if _head_needed(meta):
        _fold_head(meta, new, new_end)
    _fold_titles(meta, new, new_end)
    _fold_last(meta, new, new_end)
    meta.message_count += _count_messages(new, new_end)
    stop = end + new_end
    return TranscriptScan(_finish(meta), stop, _sig(fd, stop))


