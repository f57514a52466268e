"""A bulk push packs in worker processes and goes out in batches: same result as one session at a time."""

from __future__ import annotations

import sys

import pytest

from claude_sync import engine, portable
from claude_sync.discovery import discover
from claude_sync.portable import Packer, pack


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers and batches even for a handful of small sessions."""
    monkeypatch.setattr(portable, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(engine, "PUSH_BATCH_BYTES", (1, 1))  # every session a batch of its own


def test_sessions_packed_by_workers_are_the_bundles_packed_in_process(devices, always_parallel):
    a, _b = devices
    for key in ("acme/api", "acme/web", "tools/cli"):
        a.rich_session(key)
    sessions = discover(a.paths.claude)
    layout = a.engine().layout
    with Packer(layout, "alpha", workers=2) as packer:
        packer.plan(sessions)
        got = [packer.pack(s) for s in sessions]
    assert [b.to_bytes() for b in got] == [pack(s, layout, "alpha").to_bytes() for s in sessions]


def test_a_packing_worker_that_cannot_start_leaves_the_packing_to_this_process(devices, always_parallel, monkeypatch):
    a, _b = devices
    a.rich_session("acme/api")
    a.rich_session("acme/web")
    sessions = discover(a.paths.claude)
    layout = a.engine().layout
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with Packer(layout, "alpha", workers=2) as packer:
        packer.plan(sessions)
        got = [packer.pack(s) for s in sessions]
    assert [b.manifest for b in got] == [pack(s, layout, "alpha").manifest for s in sessions]


def test_a_push_in_many_batches_lands_every_session_once(devices, always_parallel):
    a, b = devices
    ids = [a.rich_session(f"acme/p{i}").session_id for i in range(6)]
    first = a.push(all=True)
    assert first.count("done") == 6 and first.count("failed") == 0
    assert a.push(all=True).count("done") == 0  # nothing changed: nothing goes out again
    pulled = b.pull(all=True)
    assert sorted(o.session_id for o in pulled.outcomes if o.status == "done") == sorted(ids)
    assert b.push(all=True).count("done") == 0
