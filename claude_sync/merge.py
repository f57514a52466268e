"""Merge two versions of a session that continued on two devices.

A transcript is an append-only log of records linked by `uuid`/`parentUuid`.
When two copies diverged, the merge keeps every record of both:

* the common prefix (identical lines) stays as it is;
* the rest of both copies is deduplicated by `uuid` (records without one by
  their bytes) and ordered by timestamp; a record without a timestamp
  (snapshots, titles, last-prompt) stays right after the record it followed. A `uuid` names one immutable record: the same record
  reached both devices byte for byte (both copies are tokenized).

The order is a pure function of the set of records, so the merge is the same on
every device and in either argument order, and merging a merge again changes
nothing: two devices converge. The newest record ends up last, so
`claude --resume` continues from the newest leaf; the other branch stays in the
file, reachable in the client's tree by its `parentUuid` links.

Non-log files (task files, meta files, file history) cannot be merged line by
line: the newer copy wins for a file both have, and a file only one side has is
kept.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

from .format.bundle import Bundle, content_digest, parse_time
from .format.layout import TRANSCRIPT, is_log


@dataclass(frozen=True)
class _Line:
    raw: bytes
    identity: str
    timestamp: str | None


def _parse(raw: bytes) -> _Line:
    try:
        rec = json.loads(raw)
    except ValueError:
        rec = None
    if isinstance(rec, dict):
        uid = rec.get("uuid")
        ts = rec.get("timestamp")
        identity = f"uuid:{uid}" if isinstance(uid, str) and uid else "sha:" + hashlib.sha256(raw).hexdigest()
        return _Line(raw, identity, ts if isinstance(ts, str) else None)
    return _Line(raw, "sha:" + hashlib.sha256(raw).hexdigest(), None)


def _lines(data: bytes) -> list[bytes]:
    lines = data.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"  # a carried log always ends with a newline; be safe anyway
    return lines


_Keyed = tuple[tuple[str, str, str], str, bytes]  # (sort key, identity, line)


def _keyed(lines: list[_Line], anchor: _Line | None) -> list[_Keyed]:
    """Sort keys and identities that do not depend on which copy a line came from.

    A line is anchored to the nearest record with a timestamp before it (itself,
    if it has one): key = (anchor timestamp, anchor identity, "" for the anchor
    itself else the line's identity). Sorted by these keys, every anchor is
    directly followed by its own lines, so reading the result back gives every
    line the same key again: merging a merge changes nothing. A line with neither
    uuid nor timestamp (a last-prompt, a snapshot) is one record per anchor.
    Lines whose anchor is in the common prefix sort first: they stay attached to it.
    """
    out: list[_Keyed] = []
    in_tail = False
    for line in lines:
        if line.timestamp is not None:
            anchor, in_tail = line, True
            out.append(((line.timestamp, line.identity, ""), line.identity, line.raw))
            continue
        a_id = anchor.identity if anchor else ""
        identity = line.identity if line.identity.startswith("uuid:") else f"{a_id}|{line.identity}"
        key = ((anchor.timestamp or "") if anchor else "", a_id, line.identity) if in_tail else ("", "", line.identity)
        out.append((key, identity, line.raw))
    return out


def merge_log(a: bytes, b: bytes) -> bytes:
    """Every record of both versions of a JSONL log, in a deterministic order."""
    if a == b or a.startswith(b):
        return a
    if b.startswith(a):
        return b
    la, lb = [_parse(x) for x in _lines(a)], [_parse(x) for x in _lines(b)]
    k = 0
    while k < len(la) and k < len(lb) and la[k].raw == lb[k].raw:
        k += 1
    anchor = next((x for x in reversed(la[:k]) if x.timestamp is not None), None)
    ka, kb = _keyed(la[k:], anchor), _keyed(lb[k:], anchor)
    # A record present in both tails is written once; a record that a copy holds
    # several times (identical lines) as often as the copy that holds it most:
    # a multiset union, so merging the result again is a no-op.
    budget = Counter(i for _k, i, _r in ka) | Counter(i for _k, i, _r in kb)
    out = [x.raw for x in la[:k]]
    for _key, identity, raw in sorted(ka + kb, key=lambda x: x[0]):
        if budget[identity] > 0:
            budget[identity] -= 1
            out.append(raw)
    return b"".join(out)


def merge_files(
    local: dict[str, bytes], remote: dict[str, bytes], local_newer: bool
) -> dict[str, bytes]:
    """Merge two versions of a session's files (tokenized, as in bundles)."""
    merged: dict[str, bytes] = {}
    for name in sorted(set(local) | set(remote)):
        if name not in remote:
            merged[name] = local[name]
        elif name not in local:
            merged[name] = remote[name]
        elif is_log(name):
            merged[name] = merge_log(local[name], remote[name])
        else:
            merged[name] = local[name] if local_newer else remote[name]
    return merged


def _message_count(transcript: bytes) -> int:
    return sum(1 for line in transcript.splitlines() if b'"type":"user"' in line or b'"type":"assistant"' in line)


def merged_bundle(local: Bundle, remote: Bundle) -> Bundle:
    """The merge of two diverged bundles of one session, stamped by the local device."""
    lm, rm = local.manifest, remote.manifest
    # Which copy is newer decides the non-log files; ties broken by content so both devices agree.
    local_key = (parse_time(lm.last_modified), content_digest(local))
    remote_key = (parse_time(rm.last_modified), content_digest(remote))
    local_newer = local_key > remote_key
    files = merge_files(local.files, remote.files, local_newer)
    binary = {e.path for e in (*lm.files, *rm.files) if not e.text}
    newer = lm if local_newer else rm
    manifest = lm.model_copy(
        update={
            "last_modified": max((lm.last_modified or "", rm.last_modified or "")) or None,
            "first_timestamp": min(t for t in (lm.first_timestamp, rm.first_timestamp) if t) if (lm.first_timestamp or rm.first_timestamp) else None,
            "title": newer.title,
            "message_count": _message_count(files.get(TRANSCRIPT, b"")),
        }
    )
    return Bundle.build(manifest, files, binary & set(files))
