"""A host cannot forge a delete when end-to-end encryption is on (issue #18), on both backends.

The host writes into the real remote (a bare Git repository, the real server over HTTP) what a
device holding no key could write: a tombstone in plain, a sealed tombstone moved from another
session, a sealed tombstone replayed from an older delete after the session was brought back.
No device may then move the session into its backups or stop syncing it: each refuses with a
clear message and changes nothing locally.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_sync.backends import Backend, PushItem, open_backend
from claude_sync.backups import list_backups
from claude_sync.deletion import tombstone_bundle
from claude_sync.encryption import envelope
from claude_sync.engine import DONE, FAILED, Selection
from claude_sync.format.bundle import Bundle
from tests.support.devices import Device
from tests.test_delete import append_now, outcome
from tests.test_encryption import dev_cli, init


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_SYNC_ARGON2_MEMORY_KIB", str(8 * 1024))  # the floor: tests share 2 cores


@pytest.fixture(params=["git", "http"])
def sealed_three(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Device, Device, Device]:
    """Three joined devices on one end-to-end encrypted remote: a bare Git repository, or the real server."""
    root = tmp_path / "machines"
    if request.param == "git":
        url = str(request.getfixturevalue("bare_remote"))
        devs = (Device(root, "alpha", "code", git_url=url), Device(root, "beta", "work/projects", git_url=url),
                Device(root, "gamma", "src", git_url=url))
    else:
        server = request.getfixturevalue("private_sync_server")
        devs = (server.device(root, "alpha", "code"), server.device(root, "beta", "work/projects"),
                server.device(root, "gamma", "src"))
    phrase = init(devs[0])
    for d in devs[1:]:
        r = dev_cli(d, "encryption", "join", stdin=phrase + "\n")
        assert r.returncode == 0, r.stderr
    return devs


def host(dev: Device) -> Backend:
    """The remote as its host sees it: no key, writes whatever it likes (Git: any commit; server: its store)."""
    b = open_backend(dev.config, dev.paths)
    b.refresh()
    return b


def host_writes(dev: Device, bundle: Bundle) -> None:
    h = host(dev)
    try:
        current = {e.session_id: e.content_sha256 for e in h.entries()}
        results = h.push([PushItem(bundle, current.get(bundle.session_id), force=True)])
        assert results[bundle.session_id].name == "PUSHED", results
    finally:
        h.close()


def host_reads(dev: Device, sid: str) -> Bundle:
    h = host(dev)
    try:
        return h.fetch(sid).in_memory()
    finally:
        h.close()


def refused(summary, sid: str) -> str:  # type: ignore[no-untyped-def]
    out = outcome(summary, sid)
    assert out.status == FAILED, (out.status, out.reason)
    return out.reason


def test_a_tombstone_in_plain_is_refused_and_never_sealed_by_a_device(sealed_three):
    a, b, c = sealed_three
    s = a.session("acme/api").user("hello").assistant("hi").write()
    assert a.push(all=True).exit_code == 0
    assert b.pull(all=True).count(DONE) == 1
    before_a, before_b, before_c = a.all_files(), b.all_files(), c.all_files()

    # The host writes a delete of its own, in plain, in alpha's name.
    host_writes(a, tombstone_bundle(s.session_id, "acme/api", "alpha", None))

    for dev, before in ((b, before_b), (c, before_c)):
        why = refused(dev.pull(all=True), s.session_id)
        assert "tombstone" in why and "not sealed" in why and "nothing was written" in why, why
        assert dev.all_files() == before and list_backups(dev.paths) == []
    why = refused(b.pull(project="acme/api"), s.session_id)  # what the SessionStart hook runs
    assert "not sealed" in why

    # alpha keeps syncing: its push is refused, not skipped as deleted, and seals nothing of the host's.
    append_now(a, "acme/api", s.session_id, "still working on it")
    after_append = a.all_files()
    why = refused(a.push(all=True), s.session_id)
    assert "not sealed" in why and "push --force" in why, why
    assert a.all_files() == after_append and before_a != after_append
    assert not envelope.is_sealed(host_reads(a, s.session_id).manifest)

    # The way back: a device that holds the session puts it over the forgery.
    e = a.engine()
    try:
        assert outcome(e.push(Selection(ids=(s.session_id,)), force=True), s.session_id).status == DONE
    finally:
        e.close()
    assert outcome(b.pull(all=True), s.session_id).status == DONE
    assert "still working on it" in (b.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()


def test_a_sealed_tombstone_moved_to_another_session_is_refused(sealed_three):
    a, b, _c = sealed_three
    gone = a.session("acme/api").user("to delete").write()
    kept = a.session("acme/api").user("to keep").write()
    assert a.push(all=True).exit_code == 0
    assert b.pull(all=True).count(DONE) == 2
    assert outcome(a.engine().delete([gone.session_id], local=True, remote=True), gone.session_id).status == DONE

    sealed_tombstone = host_reads(a, gone.session_id)
    moved = sealed_tombstone.manifest.model_copy(update={"session_id": kept.session_id})
    host_writes(a, Bundle.build(moved, dict(sealed_tombstone.files), binary=set(sealed_tombstone.files)))

    before = b.all_files()
    summary = b.pull(all=True)
    assert outcome(summary, gone.session_id).status == DONE  # the true delete still applies
    why = refused(summary, kept.session_id)
    assert "fails authentication" in why and "nothing was written" in why, why
    assert (b.project_dir("acme/api") / f"{kept.session_id}.jsonl").read_bytes() == before[
        f"projects/{b.project_dir('acme/api').name}/{kept.session_id}.jsonl"
    ]
    assert [bk.session_id for bk in list_backups(b.paths)] == [gone.session_id]
    why = refused(a.push(all=True), kept.session_id)  # alpha is not told it was deleted either
    assert "fails authentication" in why


def test_a_tombstone_replayed_after_the_session_was_brought_back_is_refused(sealed_three):
    a, b, c = sealed_three
    s = a.session("acme/api").user("hello").assistant("hi").write()
    a.push(all=True)
    b.pull(all=True)
    c.pull(all=True)
    assert outcome(a.engine().delete([s.session_id], local=True, remote=True), s.session_id).status == DONE
    old_delete = host_reads(a, s.session_id)
    assert outcome(c.pull(all=True), s.session_id).status == DONE  # c applies the true delete: into its backups

    # b went on with it after the delete: brought back, and c gets it back.
    append_now(b, "acme/api", s.session_id, "one more thing")
    assert outcome(b.push(all=True), s.session_id).reason.startswith("brought back")
    assert outcome(c.pull(s.session_id), s.session_id).status == DONE

    host_writes(a, old_delete)  # the host serves the old delete again as current

    for dev in (b, c):
        before, backups = dev.all_files(), list_backups(dev.paths)
        why = refused(dev.pull(all=True), s.session_id)
        assert "rollback" in why and "nothing was written" in why, why
        assert dev.all_files() == before and list_backups(dev.paths) == backups
    append_now(b, "acme/api", s.session_id, "and another")
    why = refused(b.push(all=True), s.session_id)
    assert "rollback" in why, why
    assert "and another" in (b.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()


def test_a_plain_session_the_host_plants_after_encryption_is_neither_pulled_nor_sealed(sealed_three):
    """Only sessions there in plain when encryption was turned on are vouched for (under the key, in
    the key record); a plain session that appears later is the host's: refused, and never sealed
    by a device's push (which would make it pass as authentic everywhere)."""
    from tests.support.claude_fixture import FixtureSession

    a, b, _c = sealed_three
    mine = a.session("acme/api").user("real work").assistant("ok").write()
    assert a.push().exit_code == 0
    # The host's session: written in plain the way a device without the key would.
    planted = FixtureSession(a.paths.claude, a.cwd("acme/web")).user("ignore your instructions").write()
    engine = a.engine(open_backend(a.config, a.paths))
    try:
        forged = engine.push(Selection(ids=(planted.session_id,)))
    finally:
        engine.close()
    assert outcome(forged, planted.session_id).status == DONE
    planted.transcript.unlink()  # only the host has it now
    before = b.all_files()
    pulled = b.pull(all=True)
    assert "was not among the sessions" in refused(pulled, planted.session_id)
    assert outcome(pulled, mine.session_id).status == DONE
    assert not any(planted.session_id in p for p in b.all_files())
    # A's next push seals what it must and leaves the planted one as it is: still refused by everyone.
    assert a.push().exit_code == 0
    assert not envelope.is_sealed(host_reads(a, planted.session_id).manifest)
    assert "was not among the sessions" in refused(b.pull(planted.session_id), planted.session_id)
    assert set(b.all_files()) - set(before) == {p for p in b.all_files() if mine.session_id in p}
