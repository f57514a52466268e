"""Project memory: opt-in per project, its own per-project object, applied only where opted in.

Runs on both backends (a real Git remote, the real sync server over HTTP).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_sync import spill
from claude_sync.config import save_config
from claude_sync.format import bundle as bundle_format
from claude_sync.format.bundle import MEMORY_KIND, Bundle, Manifest, memory_object_id
from claude_sync.format.errors import BundleError
from tests.support.devices import Device

KEY = "acme/api"


@pytest.fixture(params=["git", "server"])
def pair(request, tmp_path: Path, bare_remote: Path) -> tuple[Device, Device]:  # type: ignore[no-untyped-def]
    if request.param == "git":
        return (
            Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote)),
            Device(tmp_path / "machines", "beta", "work/projects", git_url=str(bare_remote)),
        )
    server = request.getfixturevalue("sync_server")
    return (
        server.device(tmp_path / "machines", "alpha", "code"),
        server.device(tmp_path / "machines", "beta", "work/projects"),
    )


def opt_in(device: Device, *keys: str) -> None:
    device.config = device.config.model_copy(update={"memory_projects": list(keys)})
    save_config(device.config, device.paths)


def write_memory(device: Device, name: str, text: str, key: str = KEY) -> Path:
    path = device.project_dir(key) / "memory" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def memory_note(device: Device) -> str:
    return f"The API lives in {device.cwd(KEY)}; run {device.cwd(KEY)}/scripts/test.sh\n"


def test_memory_stays_home_unless_the_project_is_opted_in(pair):
    a, b = pair
    s = a.rich_session(KEY)
    write_memory(a, "MEMORY.md", memory_note(a))
    assert a.push().exit_code == 0
    assert [o.session_id for o in a.push().outcomes] == [s.session_id]
    e = a.engine()
    try:
        e.backend.refresh()
        assert [x.session_id for x in e.backend.entries()] == [s.session_id]  # no memory object at all
    finally:
        e.close()
    assert b.pull().exit_code == 0
    assert not (b.project_dir(KEY) / "memory").exists()


def test_opted_in_memory_travels_as_its_own_object_and_lands_only_where_opted_in(pair):
    a, b = pair
    s = a.rich_session(KEY)
    a.rich_session("acme/web")
    write_memory(a, "MEMORY.md", memory_note(a))
    write_memory(a, "notes/deploy.md", "deploy from ~/ with make\n")
    write_memory(a, "MEMORY.md", "web notes\n", key="acme/web")  # not opted in: stays
    opt_in(a, KEY)
    pushed = a.push()
    mid = memory_object_id(KEY)
    assert {o.session_id: o.status for o in pushed.outcomes}[mid] == "done"
    # its own object on the remote: not inside the session's bundle, not listed as a session
    e = a.engine()
    try:
        e.backend.refresh()
        assert mid in {x.session_id for x in e.backend.entries()}
        session_bundle = e.backend.fetch(s.session_id)
        assert not [f for f in session_bundle.files if f.startswith("memory/")]
        assert mid not in {x.session_id for x in e.remote()}
        memory = e.backend.fetch(mid)
        assert memory.manifest.kind == MEMORY_KIND and set(memory.files) == {"memory/MEMORY.md", "memory/notes/deploy.md"}
        assert str(a.home) not in memory.files["memory/MEMORY.md"].decode()
    finally:
        e.close()

    # B did not opt in: it gets the sessions, not the memory
    summary = b.pull()
    assert summary.exit_code == 0 and mid not in {o.session_id for o in summary.outcomes}
    assert not (b.project_dir(KEY) / "memory").exists()

    # B opts in: the memory lands with B's paths
    opt_in(b, KEY)
    summary = b.pull(project=KEY)
    assert {o.session_id: o.status for o in summary.outcomes}[mid] == "done"
    assert (b.project_dir(KEY) / "memory" / "MEMORY.md").read_text() == memory_note(b)
    assert (b.project_dir(KEY) / "memory" / "notes" / "deploy.md").is_file()
    assert not (b.project_dir("acme/web") / "memory").exists()
    # and nothing more to do either way
    assert {o.session_id: o.status for o in b.pull(project=KEY).outcomes}[mid] == "skipped"
    assert {o.session_id: o.status for o in a.push(project=KEY).outcomes}[mid] == "skipped"


@pytest.mark.parametrize("spilled", [False, True])
def test_pulled_memory_backs_up_what_it_replaces_and_keeps_local_only_files(pair, spilled, monkeypatch):  # type: ignore[no-untyped-def]
    a, b = pair
    if spilled:  # the backend hands its files over as temp files (spill.py), as it does past 16 MB
        monkeypatch.setattr(spill, "SPILL_BYTES", 8)
        monkeypatch.setattr(bundle_format, "_IN_MEMORY_UNPACKED", 8)
    a.rich_session(KEY)
    write_memory(a, "MEMORY.md", memory_note(a))
    opt_in(a, KEY)
    opt_in(b, KEY)
    assert a.push().exit_code == 0
    Path(b.cwd(KEY)).mkdir(parents=True, exist_ok=True)
    old = write_memory(b, "MEMORY.md", "B's own note\n")
    own = write_memory(b, "only-on-b.md", "kept\n")
    assert b.pull().exit_code == 0
    assert old.read_text() == memory_note(b)
    assert own.read_text() == "kept\n"
    [backup] = [d for d in b.paths.backups.iterdir() if (d / "backup.json").is_file()]
    info = json.loads((backup / "backup.json").read_text())
    assert info["session_id"] == memory_object_id(KEY)
    [saved] = info["files"]
    assert (backup / "files" / saved).read_text() == "B's own note\n"


def test_memory_changed_on_the_remote_is_not_overwritten_by_a_push(pair):
    a, b = pair
    a.rich_session(KEY)
    write_memory(a, "MEMORY.md", "first\n")
    opt_in(a, KEY)
    opt_in(b, KEY)
    assert a.push().exit_code == 0
    Path(b.cwd(KEY)).mkdir(parents=True, exist_ok=True)
    assert b.pull().exit_code == 0
    write_memory(b, "MEMORY.md", "changed on B\n")
    assert b.push(project=KEY).exit_code == 0
    write_memory(a, "MEMORY.md", "changed on A\n")
    [out] = [o for o in a.push(project=KEY).outcomes if o.session_id == memory_object_id(KEY)]
    assert out.status == "skipped" and "pull" in out.reason
    assert a.pull(project=KEY).exit_code == 0
    assert (a.project_dir(KEY) / "memory" / "MEMORY.md").read_text() == "changed on B\n"


def test_a_session_bundle_may_not_carry_memory_and_a_memory_object_only_memory():
    sid = "0d9c7c2e-3b57-4c55-9b1a-2f4a0e6f1c11"
    with pytest.raises(BundleError):
        Bundle.build(Manifest(session_id=sid, project_key=KEY, device="x"), {"memory/MEMORY.md": b"x"})
    with pytest.raises(BundleError):
        Bundle.build(
            Manifest(kind=MEMORY_KIND, session_id=memory_object_id(KEY), project_key=KEY, device="x"),
            {"transcript.jsonl": b"{}\n"},
        )
    with pytest.raises(BundleError):  # the id must be the project's
        Bundle.build(Manifest(kind=MEMORY_KIND, session_id=sid, project_key=KEY, device="x"), {"memory/M.md": b"x"})
    good = Bundle.build(
        Manifest(kind=MEMORY_KIND, session_id=memory_object_id(KEY), project_key=KEY, device="x"), {"memory/M.md": b"x"}
    )
    again = Bundle.from_bytes(good.to_bytes(), None)
    assert again.manifest.kind == MEMORY_KIND


def test_configure_flags_opt_a_project_in_and_out(tmp_path: Path, bare_remote: Path):
    a = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
    r = a.cli("configure", "--sync-memory", KEY, "--sync-memory", "acme/web", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads((a.paths.data / "config.json").read_text())["memory_projects"] == [KEY, "acme/web"]
    r = a.cli("configure", "--no-sync-memory", "acme/web", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads((a.paths.data / "config.json").read_text())["memory_projects"] == [KEY]
