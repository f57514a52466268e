"""Push and pull between two devices through a real Git remote (local path, SSH, HTTP)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from claude_sync.backends.git import GitBackend, session_dir
from claude_sync.engine import Selection
from tests.support.claude_fixture import extend_transcript
from tests.support.devices import Device


def outcomes(summary):  # type: ignore[no-untyped-def]
    return {o.session_id: (o.status, o.reason) for o in summary.outcomes}


def text_of(device: Device) -> str:
    return "\n".join(d.decode("utf-8", "replace") for d in device.all_files().values())


def test_pull_on_another_device_rewrites_every_path_to_its_own(devices):
    a, b = devices
    s = a.rich_session("acme/api")
    assert a.push().exit_code == 0
    summary = b.pull()
    assert outcomes(summary)[s.session_id][0] == "done"
    target = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    assert target.exists()
    text = text_of(b)
    assert str(a.home) not in text
    assert b.cwd("acme/api") + "/hello.py" in text
    assert f"{b.home}/.config" in text  # home-relative paths follow the home
    # literal token text in the conversation comes back as written
    assert "literal ${HOME} and ${PROJECT_ROOT} stay" in target.read_text()
    # every artifact arrived
    sid = s.session_id
    for rel in (
        f"{sid}/subagents/agent-a1b2c3.jsonl",
        f"{sid}/subagents/agent-a1b2c3.meta.json",
    ):
        assert (b.project_dir("acme/api") / rel).exists()
    assert (b.paths.claude / "tasks" / sid / "1.json").exists()
    assert list((b.paths.claude / "file-history" / sid).iterdir())


def test_push_then_pull_on_the_same_device_is_byte_identical(devices):
    a, _ = devices
    a.rich_session("acme/api")
    a.rich_session("acme/web")
    before = a.all_files()
    assert a.push().exit_code == 0
    import shutil

    shutil.rmtree(a.paths.claude)
    (a.paths.data / "state.json").unlink()
    assert a.pull().exit_code == 0
    after = a.all_files()
    carried = {k: v for k, v in before.items() if not k.endswith(".lock")}
    assert after == carried


def test_second_push_and_pull_are_no_ops(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    assert outcomes(a.push())[s.session_id] == ("skipped", "up to date")
    b.pull()
    assert outcomes(b.pull())[s.session_id] == ("skipped", "up to date")
    # a pulled session is not pushed back as a change
    assert outcomes(b.push())[s.session_id] == ("skipped", "up to date")


def test_growing_session_reaches_the_other_device_without_a_conflict(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    s.user("one more thing").assistant("sure").write()
    assert outcomes(a.push())[s.session_id][0] == "done"
    out = outcomes(b.pull())[s.session_id]
    assert out == ("done", "updated")
    assert "one more thing" in (b.project_dir("acme/api") / f"{s.session_id}.jsonl").read_text()
    assert not b.paths.backups.exists()  # nothing was lost, so nothing needed a backup


def test_longer_copy_wins_whatever_the_clocks_say(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    # B continues the session, with timestamps that look OLDER than A's
    tb = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    line = json.loads(tb.read_text().splitlines()[-1])
    line.update(uuid="b-continued", parentUuid=line["uuid"], timestamp="2020-01-01T00:00:00.000Z")
    with tb.open("a") as f:
        f.write(json.dumps(line) + "\n")
    assert outcomes(b.push())[s.session_id] == ("done", "updated")
    # A (still at the shorter copy) does not push it back over B's
    assert "longer" in outcomes(a.push())[s.session_id][1]
    assert outcomes(a.pull())[s.session_id] == ("done", "updated")
    assert "b-continued" in s.transcript.read_text()


def _uuids(transcript: Path) -> list[str]:
    return [json.loads(x).get("uuid", "") for x in transcript.read_text().splitlines()]


def test_session_continued_on_both_devices_is_merged_and_both_converge(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    tb = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    extend_transcript(s.transcript, "a-turn", "2026-11-02T00:00:00.000Z", "from A")
    extend_transcript(tb, "b-turn", "2026-11-03T00:00:00.000Z", "from B")
    assert outcomes(a.push())[s.session_id] == ("done", "updated")
    out = outcomes(b.pull())[s.session_id]
    assert out[0] == "done" and "merged" in out[1]
    assert outcomes(b.push())[s.session_id][0] == "done"
    assert outcomes(a.pull())[s.session_id][0] == "done"
    assert _uuids(s.transcript) == _uuids(tb)
    assert _uuids(tb)[-2:] == ["a-turn", "b-turn"]  # the newest leaf last: resume continues from it
    assert outcomes(a.push())[s.session_id] == ("skipped", "up to date")
    assert outcomes(b.pull())[s.session_id] == ("skipped", "up to date")


def test_merge_that_reorders_the_local_copy_backs_it_up_first(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    tb = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    extend_transcript(s.transcript, "a-turn", "2026-11-04T00:00:00.000Z", "from A (older)")
    extend_transcript(tb, "b-turn", "2026-11-05T00:00:00.000Z", "from B")
    before = tb.read_text()
    a.push()
    out = outcomes(b.pull())[s.session_id]
    assert out[0] == "done" and "backed up" in out[1]
    assert _uuids(tb)[-2:] == ["a-turn", "b-turn"]  # A's older turn goes before B's
    [backup] = list(b.paths.backups.iterdir())
    info = json.loads((backup / "backup.json").read_text())
    assert info["session_id"] == s.session_id
    assert (backup / "files" / tb.relative_to(b.paths.claude)).read_text() == before


def test_push_merges_when_the_remote_moved_on_and_writes_the_merge_locally(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    tb = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    extend_transcript(tb, "b-turn", "2026-11-02T00:00:00.000Z", "from B")
    b.push()
    extend_transcript(s.transcript, "a-turn", "2026-11-03T00:00:00.000Z", "from A")
    out = outcomes(a.push())[s.session_id]
    assert out[0] == "done" and "merged" in out[1]
    assert _uuids(s.transcript)[-2:] == ["b-turn", "a-turn"]
    assert outcomes(b.pull())[s.session_id][0] == "done"
    assert _uuids(tb) == _uuids(s.transcript)


def test_push_never_replaces_a_longer_remote_copy_unless_forced(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    tb = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    extend_transcript(tb, "b-turn", "2026-11-02T00:00:00.000Z", "from B")
    b.push()
    out = outcomes(a.push())[s.session_id]
    assert out[0] == "skipped" and "longer" in out[1]
    e = a.engine()
    forced = e.push(Selection(ids=(s.session_id,)), force=True)
    assert outcomes(forced)[s.session_id] == ("done", "replaced the remote copy (forced)")
    b.pull()
    assert "b-turn" in tb.read_text()  # B still has its own turn: pulling a shorter copy keeps the longer local one


def test_session_held_by_a_running_client_is_never_written(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    reg = b.paths.claude / "sessions"
    reg.mkdir(parents=True)
    (reg / f"{os.getpid()}.json").write_text(json.dumps({"pid": os.getpid(), "sessionId": s.session_id, "cwd": "/x"}))
    out = outcomes(b.pull())[s.session_id]
    assert out[0] == "skipped" and "running" in out[1]
    assert not (b.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    (reg / f"{os.getpid()}.json").unlink()
    assert outcomes(b.pull())[s.session_id][0] == "done"


def test_session_outside_home_and_projects_root_is_skipped_as_not_portable_not_failed(devices, tmp_path):
    a, _ = devices
    from tests.support.claude_fixture import FixtureSession

    s = FixtureSession(a.paths.claude, str(tmp_path / "elsewhere" / "proj")).user("hi").write()
    ok = a.rich_session()
    summary = a.push()
    assert summary.exit_code == 0  # nothing went wrong: retrying would not change it
    out = outcomes(summary)
    assert out[s.session_id][0] == "skipped" and out[s.session_id][1].startswith("not portable: ")
    assert "neither under the projects root" in out[s.session_id][1]
    assert out[ok.session_id][0] == "done"  # the batch went on


def test_subfolder_and_home_relative_sessions_land_in_the_matching_folder(devices):
    a, b = devices
    sub = a.rich_session("acme/api/src")
    scratch = a.rich_session("~/scratch/notes")
    a.push()
    b.pull()
    assert (b.project_dir("acme/api/src") / f"{sub.session_id}.jsonl").exists()
    assert (b.project_dir("~/scratch/notes") / f"{scratch.session_id}.jsonl").exists()
    text = (b.project_dir("~/scratch/notes") / f"{scratch.session_id}.jsonl").read_text()
    assert f'"cwd":"{b.home}/scratch/notes"' in text


def test_long_project_path_uses_the_clients_hashed_folder_name(devices):
    a, b = devices
    key = "/".join(["a-very-long-folder-name-for-testing"] * 7)
    s = a.rich_session(key)
    a.push()
    b.pull()
    folder = b.project_dir(key)
    assert len(folder.name) > 200 and (folder / f"{s.session_id}.jsonl").exists()


def test_selection_by_prefix_and_project(devices):
    a, b = devices
    s1 = a.rich_session("acme/api", session_id="aaaa1111-0000-4000-8000-000000000001")
    s2 = a.rich_session("acme/web", session_id="aaaa2222-0000-4000-8000-000000000002")
    s3 = a.rich_session("other/x", session_id="bbbb3333-0000-4000-8000-000000000003")
    summary = a.push("aaaa", "zzzz")
    out = outcomes(summary)
    assert out["aaaa"][0] == "failed" and "ambiguous" in out["aaaa"][1]
    assert out["zzzz"][0] == "failed" and "no such session" in out["zzzz"][1]
    assert summary.exit_code == 1
    assert outcomes(a.push("aaaa1"))[s1.session_id][0] == "done"
    assert outcomes(a.push(project="acme"))[s2.session_id][0] == "done"
    assert s3.session_id not in outcomes(a.push(project="acme"))
    assert set(outcomes(b.pull(project="acme/web"))) == {s2.session_id}


def test_concurrent_pushes_from_two_devices_both_land(devices):
    a, b = devices
    sa = [a.rich_session(f"p/a{i}") for i in range(3)]
    sb = [b.rich_session(f"p/b{i}") for i in range(3)]
    results = {}
    barrier = threading.Barrier(2)

    def run(dev: Device) -> None:
        barrier.wait()
        results[dev.name] = dev.push()

    threads = [threading.Thread(target=run, args=(d,)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["alpha"].exit_code == 0 and results["beta"].exit_code == 0
    remote = {e.session_id for e in a.engine().remote()}
    assert remote == {s.session_id for s in sa + sb}


def test_appending_to_a_session_adds_only_the_new_bytes_to_the_repository(devices, bare_remote):
    a, _ = devices
    s = a.rich_session()
    for i in range(300):
        s.user(f"message {i} " + "x" * 500)
    s.write()
    a.push()
    before = set(_objects(bare_remote))
    s.user("appended " + "y" * 2000).write()
    a.push()
    new = set(_objects(bare_remote)) - before
    sizes = {o: int(_git(bare_remote, "cat-file", "-s", o)) for o in new}
    blobs = [o for o in new if _git(bare_remote, "cat-file", "-t", o) == "blob"]
    assert max(sizes[o] for o in blobs) < 5000  # no new whole copy of a ~180 KB transcript
    head = _git(bare_remote, "rev-parse", "main")
    segs = _git(bare_remote, "ls-tree", "--name-only", f"{head}:{session_dir(s.session_id)}/logs/transcript.jsonl")
    assert segs.split() == ["000000", "000001"]


def test_tampered_repository_content_is_refused_and_nothing_is_written(devices, bare_remote, tmp_path):
    a, b = devices
    s = a.rich_session()
    a.push()
    work = tmp_path / "tamper"
    subprocess.run(["git", "clone", "-q", str(bare_remote), str(work)], check=True)
    seg = work / session_dir(s.session_id) / "logs" / "transcript.jsonl" / "000000"
    # Stored gzip'd (format 6): the host changes what it inflates to, and compresses it again.
    seg.write_bytes(gzip.compress(gzip.decompress(seg.read_bytes()).replace(b"hello", b"HELLO")))
    git = ["git", "-C", str(work), "-c", "user.name=x", "-c", "user.email=x@x"]
    subprocess.run([*git, "commit", "-qam", "tamper"], check=True)
    subprocess.run([*git, "push", "-q"], check=True)
    summary = b.pull()
    out = outcomes(summary)[s.session_id]
    assert out[0] == "failed" and "checksum" in out[1]
    assert not (b.paths.claude / "projects").exists()


def test_unreachable_remote_fails_every_session_with_a_clear_reason(tmp_path):
    dev = Device(tmp_path, "gamma", "code", git_url=str(tmp_path / "does-not-exist.git"))
    s = dev.rich_session()
    summary = dev.push()
    assert summary.exit_code == 1
    status, reason = outcomes(summary)[s.session_id]
    assert status == "failed" and "cannot fetch" in reason


@pytest.mark.ssh
def test_push_and_pull_over_ssh(ssh_remote, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_SSH_COMMAND", ssh_remote.env["GIT_SSH_COMMAND"])
    a = Device(tmp_path, "alpha", "code", git_url=ssh_remote.url)
    b = Device(tmp_path, "beta", "src", git_url=ssh_remote.url)
    s = a.rich_session()
    assert a.push().exit_code == 0
    assert outcomes(b.pull())[s.session_id][0] == "done"
    assert str(a.home) not in text_of(b)


@pytest.mark.ssh
def test_ssh_without_an_authorized_key_fails_fast_with_the_reason(ssh_remote, tmp_path):
    dev = Device(tmp_path, "alpha", "code", git_url=ssh_remote.url)
    dev.rich_session()
    r = dev.cli("push", "--all", GIT_SSH_COMMAND=ssh_remote.bad_key_env["GIT_SSH_COMMAND"])
    assert r.returncode == 1
    assert "Permission denied" in r.stdout + r.stderr


def test_https_remote_without_credentials_fails_instead_of_prompting(http_remote_auth, tmp_path):
    dev = Device(tmp_path, "alpha", "code", git_url=http_remote_auth.url)
    dev.rich_session()
    r = dev.cli("push", "--all")
    assert r.returncode == 1
    assert "cannot fetch" in r.stdout
    dev2 = Device(tmp_path, "beta", "code", git_url=http_remote_auth.authed_url)
    dev2.rich_session()
    assert dev2.cli("push", "--all").returncode == 0


def test_git_backend_lists_what_it_stores(devices, tmp_path, bare_remote):
    a, _ = devices
    s = a.rich_session()
    a.push()
    backend = GitBackend(str(bare_remote), tmp_path / "mirror")
    backend.refresh()
    [entry] = backend.entries()
    assert entry.session_id == s.session_id and entry.project_key == "acme/api" and entry.device == "alpha"
    bundle = backend.fetch(s.session_id)
    assert "${PROJECT_ROOT}" in bundle.files["transcript.jsonl"].decode()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def _objects(repo: Path) -> list[str]:
    out = _git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return out.split()
