"""Merging diverged transcripts: every record kept, deterministic, convergent."""

from __future__ import annotations

import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from claude_sync.merge import merge_files, merge_log


def rec(uid: str | None, ts: str | None, text: str = "x", kind: str = "user") -> bytes:
    r: dict = {"type": kind, "message": {"content": text}}
    if uid:
        r["uuid"] = uid
    if ts:
        r["timestamp"] = ts
    return (json.dumps(r, separators=(",", ":")) + "\n").encode()


P = rec("p1", "2026-01-01T00:00:01Z") + rec("p2", "2026-01-01T00:00:02Z")


def uuids(data: bytes) -> list[str]:
    return [json.loads(x).get("uuid", "-") for x in data.splitlines()]


def test_a_copy_that_only_grew_is_taken_as_is():
    longer = P + rec("a1", "2026-01-02T00:00:00Z")
    assert merge_log(P, longer) == longer
    assert merge_log(longer, P) == longer


def test_two_branches_are_both_kept_newest_last():
    a = P + rec("a1", "2026-01-03T00:00:00Z") + rec("a2", "2026-01-05T00:00:00Z")
    b = P + rec("b1", "2026-01-04T00:00:00Z")
    m = merge_log(a, b)
    assert uuids(m) == ["p1", "p2", "a1", "b1", "a2"]
    assert merge_log(b, a) == m


def test_records_without_uuid_are_deduplicated_by_content_and_stay_with_their_record():
    snap = rec(None, None, "snapshot", kind="file-history-snapshot")
    a = P + rec("a1", "2026-01-03T00:00:00Z") + snap
    b = P + rec("b1", "2026-01-02T00:00:00Z") + rec("a1", "2026-01-03T00:00:00Z") + snap
    m = merge_log(a, b)
    assert m.count(snap) == 1
    assert uuids(m) == ["p1", "p2", "b1", "a1", "-"]


def test_same_uuid_in_both_copies_appears_once():
    shared = rec("s1", "2026-01-02T00:00:00Z")
    m = merge_log(P + rec("a1", "2026-01-03T00:00:00Z") + shared, P + shared + rec("b1", "2026-01-04T00:00:00Z"))
    assert uuids(m).count("s1") == 1


def test_non_log_files_follow_the_newer_copy_and_files_of_one_side_are_kept():
    local = {"transcript.jsonl": P, "tasks/1.json": b"local", "tasks/2.json": b"only local"}
    remote = {"transcript.jsonl": P, "tasks/1.json": b"remote", "file-history/x@v1": b"only remote"}
    assert merge_files(local, remote, local_newer=True) == {
        "transcript.jsonl": P, "tasks/1.json": b"local", "tasks/2.json": b"only local", "file-history/x@v1": b"only remote",
    }
    assert merge_files(local, remote, local_newer=False)["tasks/1.json"] == b"remote"


# -- properties -------------------------------------------------------------

def _pooled(i: int) -> bytes:
    """Record number i of a shared pool. As in real logs: a uuid always names the same
    bytes and has a timestamp (clocks of two devices need not agree, so timestamps
    are not in file order); records without uuid have no timestamp and may repeat."""
    if i % 3 == 0:
        return rec(None, None, f"meta{i % 4}", kind="last-prompt")
    return rec(f"u{i}", f"2026-02-01T00:00:{(i * 7) % 13:02d}Z", f"t{i}")


def _one_copy(data: bytes) -> bool:
    ids = [u for u in uuids(data) if u != "-"]
    return len(ids) == len(set(ids))


record = st.integers(min_value=0, max_value=30).map(_pooled)
tail = st.lists(record, max_size=6).map(lambda rs: b"".join(rs))


def unique_lines(data: bytes) -> set[bytes]:
    return set(data.splitlines(keepends=True))


@settings(max_examples=300, deadline=None)
@given(tail, tail, tail)
def test_merge_is_symmetric_complete_and_idempotent(prefix, ta, tb):
    a, b = prefix + ta, prefix + tb
    assume(_one_copy(a) and _one_copy(b))  # a record is appended once per log
    m = merge_log(a, b)
    assert merge_log(b, a) == m
    # every record of both is there (duplicates by uuid collapse to one)
    ids_m = set(uuids(m))
    assert set(uuids(a)) <= ids_m and set(uuids(b)) <= ids_m
    # merging the merge with either side again changes nothing: devices converge
    assert merge_log(m, a) == m and merge_log(b, m) == m
    assert m.startswith(prefix)
