"""Deleting sessions, tombstones, the client's own cleanup and the never-sync list, on both backends."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from claude_sync.backups import list_backups, restore_backup
from claude_sync.deletion import tombstone_bundle
from claude_sync.engine import DONE, REMOTE_ONLY, SKIPPED
from claude_sync.format.bundle import Bundle, content_digest
from claude_sync.format.errors import BundleError
from claude_sync.format.tombstone import TOMBSTONE_FILE
from claude_sync.never_sync import REASON as NOT_BY_CHOICE
from tests.support.devices import Device


@pytest.fixture(params=["git", "http"])
def three(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Device, Device, Device]:
    """Three devices sharing one remote: a bare Git repository, or a user on the real server."""
    root = tmp_path / "machines"
    if request.param == "git":
        url = str(request.getfixturevalue("bare_remote"))
        return (
            Device(root, "alpha", "code", git_url=url),
            Device(root, "beta", "work/projects", git_url=url),
            Device(root, "gamma", "src", git_url=url),
        )
    server = request.getfixturevalue("sync_server")
    return (
        server.device(root, "alpha", "code"),
        server.device(root, "beta", "work/projects"),
        server.device(root, "gamma", "src"),
    )


def outcome(summary, sid: str):  # type: ignore[no-untyped-def]
    return next(o for o in summary.outcomes if o.session_id == sid)


def append_now(dev: Device, key: str, sid: str, text: str) -> None:
    """The client appends a turn now (after whatever delete happened before)."""
    t = dev.project_dir(key) / f"{sid}.jsonl"
    last = json.loads(t.read_text().splitlines()[-1])
    rec = dict(last, uuid=str(uuid.uuid4()), parentUuid=last.get("uuid"), type="user",
               timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
               message={"role": "user", "content": text})
    with t.open("a") as f:
        f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def test_delete_everywhere_reaches_every_device_even_one_offline_during_the_delete(three):
    a, b, c = three
    s = a.rich_session("acme/api")
    assert a.push(all=True).exit_code == 0
    assert b.pull(all=True).count(DONE) == 1
    assert c.pull(all=True).count(DONE) == 1  # c then goes offline
    before_c = c.all_files()

    d = a.cli_json("delete", "--everywhere", s.session_id)
    assert d["done"] == 1 and "tombstone" in d["outcomes"][0]["reason"]
    assert not (a.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    assert [bk.session_id for bk in list_backups(a.paths)] == [s.session_id]

    # b, online, pulls: its copy moves into its backups, restorable.
    out = outcome(b.pull(all=True), s.session_id)
    assert out.status == DONE and "deleted on the remote by alpha" in out.reason and "backups" in out.reason
    assert not (b.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    assert b.pull(all=True).count(DONE) == 0  # applied once

    # c comes back: a push does not bring the session back, and its pull moves it into the backups.
    assert c.all_files() == before_c
    pushed = outcome(c.push(all=True), s.session_id)
    assert pushed.status == SKIPPED and "deleted on the remote by alpha" in pushed.reason
    assert outcome(c.pull(all=True), s.session_id).status == DONE
    assert not (c.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    backup = list_backups(c.paths, s.session_id)[0]
    restore_backup(c.paths, backup.id)
    assert (c.project_dir("acme/api") / f"{s.session_id}.jsonl").read_bytes() == before_c[
        f"projects/{c.project_dir('acme/api').name}/{s.session_id}.jsonl"
    ]
    # Nothing of it came back to the remote.
    assert all(e.title == "(deleted)" for e in a.engine().remote())


def test_a_session_continued_after_the_delete_comes_back_with_a_note(three):
    a, b, _c = three
    s = a.session("acme/api").user("hello").assistant("hi").write()
    a.push(all=True)
    b.pull(all=True)
    assert outcome(a.engine().delete([s.session_id], local=True, remote=True), s.session_id).status == DONE
    append_now(b, "acme/api", s.session_id, "one more thing")  # b was working on it meanwhile

    out = outcome(b.pull(all=True), s.session_id)
    assert out.status == SKIPPED and "continued here" in out.reason
    out = outcome(b.push(all=True), s.session_id)
    assert out.status == DONE and out.reason.startswith("brought back: continued here after it was deleted on alpha")

    # a deleted it, so it is not pulled back by a bulk pull of a's... it is: it was brought back on purpose.
    back = outcome(a.pull(all=True), s.session_id)
    assert back.status == DONE and back.reason.startswith("brought back")
    assert "one more thing" in (a.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()


def test_delete_remote_only_keeps_the_copy_here_out_of_sync(three):
    a, b, _c = three
    s = a.session("acme/api").user("hello").write()
    a.push(all=True)
    out = outcome(a.engine().delete([s.session_id], local=False, remote=True), s.session_id)
    assert out.status == DONE
    assert (a.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    assert outcome(a.push(all=True), s.session_id).reason == "deleted on the remote, kept on this device only"
    assert outcome(a.pull(all=True), s.session_id).status == SKIPPED
    assert (a.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    assert outcome(b.pull(all=True), s.session_id).status == SKIPPED  # b never had it: nothing to do


def test_a_swept_session_is_not_pulled_back_by_bulk_pulls_but_by_id(three):
    a, b, _c = three
    s = a.session("acme/api").user("hello").write()
    a.push(all=True)
    b.pull(all=True)
    # The client's cleanup removes it on b.
    (b.project_dir("acme/api") / f"{s.session_id}.jsonl").unlink()
    out = outcome(b.pull(project="acme/api"), s.session_id)  # what the SessionStart hook runs
    assert out.status == SKIPPED and out.reason == REMOTE_ONLY
    assert outcome(b.pull(all=True), s.session_id).reason == REMOTE_ONLY
    assert not (b.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    assert outcome(b.pull(s.session_id[:8]), s.session_id).status == DONE  # on purpose
    assert (b.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()


def test_a_never_sync_project_is_never_pushed_nor_pulled_in_bulk(three):
    a, b, _c = three
    a.config = a.config.model_copy(update={"never_sync_projects": ["clients/*"]})
    from claude_sync.config import save_config

    save_config(a.config, a.paths)
    secret = a.session("clients/bank").user("confidential").write()
    public = a.session("acme/api").user("hello").write()
    summary = a.push(all=True)
    assert outcome(summary, secret.session_id).reason == NOT_BY_CHOICE
    assert outcome(summary, public.session_id).status == DONE
    assert outcome(a.push(secret.session_id), secret.session_id).reason == NOT_BY_CHOICE  # the SessionEnd hook's push
    assert outcome(a.push(project="clients"), secret.session_id).reason == NOT_BY_CHOICE
    assert [e.session_id for e in b.engine().remote()] == [public.session_id]
    # By the CLI: a path pattern and a single session.
    assert a.cli("never-sync", "add", "--project", str(a.projects / "acme") + "/*").returncode == 0
    listed = a.cli_json("never-sync")
    assert listed["projects"] == ["clients/*", str(a.projects / "acme") + "/*"]
    from claude_sync.config import load_config

    a.config = load_config(a.paths)
    public_2 = a.session("acme/web").user("more").write()
    assert outcome(a.push(all=True), public_2.session_id).reason == NOT_BY_CHOICE


def test_a_tombstone_must_name_its_own_session():
    b = tombstone_bundle(str(uuid.uuid4()), "acme/api", "alpha", None)
    other = str(uuid.uuid4())
    forged = Bundle.build(b.manifest.model_copy(update={"session_id": other}), dict(b.files))
    from claude_sync.deletion import tombstone_of

    with pytest.raises(BundleError, match="names another session"):
        tombstone_of(forged)
    with pytest.raises(BundleError, match="may not carry a tombstone"):
        Bundle.build(b.manifest.model_copy(update={"kind": "session"}), {TOMBSTONE_FILE: b"{}"})
    assert content_digest(b)


def test_expired_tombstones_are_compacted_away(three, monkeypatch: pytest.MonkeyPatch):
    a, b, _c = three
    s = a.session("acme/api").user("hello").write()
    live = a.session("acme/api").user("stays").write()
    a.push(all=True)
    a.engine().delete([s.session_id], local=True, remote=True)
    assert outcome(a.engine().compact(), s.session_id).status == SKIPPED  # not expired yet
    import claude_sync.format.tombstone as tomb

    monkeypatch.setattr(tomb.Tombstone, "expired", lambda self, days, now=None: True)
    summary = a.engine().compact()
    assert outcome(summary, s.session_id).status == DONE and summary.exit_code == 0
    assert [e.session_id for e in b.engine().remote()] == [live.session_id]
    if a.config.git_url:
        tree = subprocess.run(["git", "-C", a.config.git_url, "ls-tree", "-r", "--name-only", "main"],
                              capture_output=True, text=True, check=True).stdout
        assert s.session_id not in tree


def test_the_server_removes_only_tombstones_and_only_the_version_seen(sync_server):
    from claude_sync.format import wire

    dev = sync_server.device(Path(sync_server.data).parent / "m", "alpha", "code")
    s = dev.session("acme/api").user("hello").write()
    dev.push(all=True)
    entry = dev.engine().remote()[0]
    with sync_server.client() as c:
        r = c.delete(wire.TOMBSTONE.format(session_id=s.session_id), params={"base": entry.content_sha256})
        assert r.status_code == 409 and "not a tombstone" in r.json()["detail"]
        dev.engine().delete([s.session_id], local=False, remote=True)
        r = c.delete(wire.TOMBSTONE.format(session_id=s.session_id), params={"base": entry.content_sha256})
        assert r.status_code == 409 and r.json()["error"] == "stale_base"
    assert len(dev.engine().remote()) == 1


def test_a_pulled_session_older_than_the_clients_cleanup_period_stays_inside_it(devices):
    """The client sweeps files by mtime (cleanupPeriodDays, default 30): a pulled year-old session keeps
    an mtime just inside the window; a recent one keeps its real last activity."""
    import time

    from claude_sync.sweep import MARGIN_DAYS, safe_mtime

    a, b = devices
    old = a.session("acme/api").user("a year ago").write()
    a.push(all=True)
    (b.paths.claude).mkdir(parents=True, exist_ok=True)
    (b.paths.claude / "settings.json").write_text(json.dumps({"cleanupPeriodDays": 20}))
    b.pull(all=True)
    mtime = (b.project_dir("acme/api") / f"{old.session_id}.jsonl").stat().st_mtime
    now = time.time()
    assert now - 20 * 86400 < mtime <= now - (20 - MARGIN_DAYS) * 86400 + 60  # swept no sooner than in a week
    recent = now - 3600
    assert safe_mtime(recent, b.paths.claude) == recent  # the picker's order is untouched
    (b.paths.claude / "settings.json").write_text(json.dumps({"cleanupPeriodDays": 0}))  # the client never sweeps
    year_ago = now - 365 * 86400
    assert safe_mtime(year_ago, b.paths.claude) == year_ago


def test_listings_say_why_a_remote_session_is_not_here(devices):
    a, b = devices
    swept = a.session("acme/api").user("old").write()
    gone = a.session("acme/api").user("to delete").write()
    a.push(all=True)
    b.pull(all=True)
    (b.project_dir("acme/api") / f"{swept.session_id}.jsonl").unlink()
    a.engine().delete([gone.session_id], local=True, remote=True)
    listed = {e["session_id"]: e["status"] for e in b.cli_json("remote")}  # type: ignore[union-attr]
    assert listed == {swept.session_id: "on the remote only", gone.session_id: "deleted"}
