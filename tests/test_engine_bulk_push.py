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


def _three_sessions(device):
    """Three sessions of one device, as discovered, and its layout."""
    for key in ("acme/api", "acme/web", "tools/cli"):
        device.rich_session(key)
    return discover(device.paths.claude), device.engine().layout


def test_sessions_packed_by_workers_are_the_bundles_packed_in_process(devices, always_parallel):
    sessions, layout = _three_sessions(devices[0])
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


def test_a_push_in_many_batches_lands_on_the_remote_as_one_pack(devices, bare_remote, always_parallel):
    """Each `git push` is a pack of its own on the remote, and every clone of a remote made of several
    packs computes deltas between them: a bulk push holds its batches and sends them at once."""
    import subprocess

    a, b = devices
    subprocess.run(["git", "-C", str(bare_remote), "config", "receive.unpackLimit", "1"], check=True)  # keep every pack
    ids = [a.rich_session(f"acme/p{i}").session_id for i in range(5)]
    assert a.push(all=True).count("done") == 5
    assert len(list((bare_remote / "objects" / "pack").glob("*.pack"))) == 1
    pulled = b.pull(all=True)
    assert sorted(o.session_id for o in pulled.outcomes if o.status == "done") == sorted(ids)


def test_an_encrypted_bulk_push_lands_as_one_pack_and_knows_what_it_sealed(devices, bare_remote, always_parallel, monkeypatch):
    """Sealed sessions are held too (50 packs would make the host repack, and every clone slow), and the
    marks of what was sealed are recorded when the held commit lands: the next push sends nothing."""
    import subprocess

    from tests.test_encryption import dev_cli, init

    monkeypatch.setenv("CLAUDE_SYNC_ARGON2_MEMORY_KIB", str(8 * 1024))
    a, b = devices
    phrase = init(a)
    subprocess.run(["git", "-C", str(bare_remote), "config", "receive.unpackLimit", "1"], check=True)
    before = set((bare_remote / "objects" / "pack").glob("*.pack"))  # the key record's push
    ids = [a.rich_session(f"acme/p{i}").session_id for i in range(5)]
    assert a.push(all=True).count("done") == 5
    assert len(set((bare_remote / "objects" / "pack").glob("*.pack")) - before) == 1
    assert a.push(all=True).count("done") == 0
    # The marks of the sealed frames were recorded at publish: a turn more is sealed as one frame more.
    from tests.support.claude_fixture import extend_transcript

    transcript = next(a.paths.claude.glob(f"projects/*/{ids[0]}.jsonl"))
    extend_transcript(transcript, "u-more", "2026-11-03T10:00:00.000Z", "one more turn")
    assert a.push(all=True).count("done") == 1
    changed = subprocess.run(["git", "-C", str(bare_remote), "diff-tree", "-r", "--name-only", "main~1", "main"],
                             capture_output=True, text=True, check=True).stdout.split()
    logs = [p for p in changed if "/logs/" in p]
    assert logs and all(p.endswith("/000001") for p in logs), changed
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    pulled = b.pull(all=True)
    assert sorted(o.session_id for o in pulled.outcomes if o.status == "done") == sorted(ids)


def test_a_held_push_goes_on_top_of_what_another_device_pushed_meanwhile(devices, always_parallel, monkeypatch):
    from claude_sync.backends.git import GitBackend

    a, b = devices
    mine = [a.rich_session(f"acme/p{i}").session_id for i in range(4)]
    theirs = b.rich_session("tools/cli").session_id
    publish = GitBackend.publish

    raced: list[bool] = []

    def after_beta_pushed(self):  # type: ignore[no-untyped-def]
        if not raced:  # A's publish: B's push lands first, and A's is rejected and replayed on top of it
            raced.append(True)
            assert b.push(all=True).count("done") == 1
        return publish(self)

    monkeypatch.setattr(GitBackend, "publish", after_beta_pushed)
    first = a.push(all=True)
    assert first.count("done") == 4 and first.count("failed") == 0
    monkeypatch.setattr(GitBackend, "publish", publish)
    pulled = b.pull(all=True)
    assert sorted(o.session_id for o in pulled.outcomes if o.status == "done") == sorted(mine)
    assert a.pull(all=True).count("done") == 1 and theirs in {s.session_id for s in discover(a.paths.claude)}
    assert a.push(all=True).count("done") == 0  # recorded as pushed: nothing goes out again


NOISY_AT_START = 'print("hello from a sitecustomize")\n'
NOISY_WHILE_PACKING = """
import os, sys
import claude_sync.transcript as transcript

_count = transcript.count_messages

def chatty(data):
    print("a library's chatter")
    sys.stdout.flush()
    os.write(1, b"and a C library's\\n")
    return _count(data)

transcript.count_messages = chatty
"""


@pytest.mark.parametrize(("noise", "falls_back"), [(NOISY_AT_START, True), (NOISY_WHILE_PACKING, False)], ids=["at-start", "while-packing"])
def test_a_packing_worker_that_prints_on_stdout_neither_hangs_nor_garbles_a_bundle(
    devices, always_parallel, monkeypatch, tmp_path, caplog, noise, falls_back
):
    # The workers answer on their stdout: bytes that something else prints there (a sitecustomize,
    # a library, a C extension) were read as the length of an answer, and the push waited forever.
    sessions, layout = _three_sessions(devices[0])
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(noise)
    monkeypatch.setenv("PYTHONPATH", str(site))
    with Packer(layout, "alpha", workers=2) as packer:
        packer.plan(sessions)
        got = [packer.pack(s) for s in sessions]
    assert [b.to_bytes() for b in got] == [pack(s, layout, "alpha").to_bytes() for s in sessions]
    # Chatter once the worker runs goes to its stderr; a worker whose stdout does not start with
    # its greeting is not trusted, and this process packs instead.
    fell_back = any("packing worker failed" in r.getMessage() for r in caplog.records)
    assert fell_back is falls_back


def test_an_encrypted_bulk_push_seals_in_the_packing_workers(devices, always_parallel, monkeypatch):
    """Each session is sealed by the worker that packed it, on its core, not again in this process; the
    other device opens every one."""
    from claude_sync.encryption import envelope
    from tests.test_encryption import dev_cli, init

    monkeypatch.setenv("CLAUDE_SYNC_ARGON2_MEMORY_KIB", str(8 * 1024))
    a, b = devices
    phrase = init(a)
    ids = [a.rich_session(f"acme/p{i}").session_id for i in range(3)]
    sealed_here: list[str] = []
    real = envelope.Sealer.__call__

    def counted(self: envelope.Sealer, bundle):  # type: ignore[no-untyped-def]
        sealed_here.append(bundle.session_id)
        return real(self, bundle)

    monkeypatch.setattr(envelope.Sealer, "__call__", counted)  # this process only: workers unpickle their own
    assert a.push(all=True).count("done") == 3
    assert sealed_here == []
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    pulled = b.pull(all=True)
    assert sorted(o.session_id for o in pulled.outcomes if o.status == "done") == sorted(ids)


def test_a_copy_sealed_ahead_is_taken_only_with_the_parameters_push_would_seal_with(devices, monkeypatch):
    """Sealing is deterministic, so a worker's copy made with this device's parameters is the copy push()
    would make; one made with others (the remote moved meanwhile: another generation) is sealed again."""
    import dataclasses

    from claude_sync.backends import open_backend
    from claude_sync.encryption import envelope, setup
    from tests.test_encryption import init

    monkeypatch.setenv("CLAUDE_SYNC_ARGON2_MEMORY_KIB", str(8 * 1024))
    a, _b = devices
    init(a)
    sessions, layout = _three_sessions(a)
    backend = setup.wrap(open_backend(a.config, a.paths), a.config, a.paths)
    try:
        backend.refresh()
        bundle = pack(sessions[0], layout, "alpha")
        wanted = backend.sealer(bundle.session_id)
        assert wanted is not None
        key = wanted.key
        assert repr(key) not in repr(wanted) and key.hex() not in repr(wanted)  # a Sealer never prints its key
        stale = dataclasses.replace(wanted, generation=wanted.generation + 5)
        bundle.made_ahead = (stale, stale(bundle))
        opened = backend._seal(bundle, key)
        assert opened.generation == wanted.generation and opened.bundle == wanted(bundle).bundle
        made = wanted(bundle)
        bundle.made_ahead = (wanted, made)
        assert backend._seal(bundle, key) is made
        assert bundle.made_ahead is None  # not kept alive with the bundle once taken
    finally:
        backend.close()
