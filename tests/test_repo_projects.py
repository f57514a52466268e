"""Projects keyed by their repository (issue #17), through the engine, on both backends.

A's checkout is `A/code/api`; B's is `B/elsewhere/acme-api-2`, outside B's projects root.
Both are clones of one local bare "origin".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_sync.engine import DONE, SKIPPED, Selection, SyncEngine
from claude_sync.listing import remote_dicts
from tests.support.claude_fixture import FixtureSession
from tests.support.devices import Device
from tests.support.repos import git, make_origin


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return make_origin(tmp_path)


@pytest.fixture(params=["git", "http"])
def machines(request: pytest.FixtureRequest, tmp_path: Path, bare_remote: Path):  # type: ignore[no-untyped-def]
    """A and B, and a function giving each device's engine on the shared remote."""
    a = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
    b_root = tmp_path / "machines" / "beta" / "elsewhere"
    b = Device(tmp_path / "machines", "beta", "work/projects", git_url=str(bare_remote), search_roots=[str(b_root)])
    opened: list[SyncEngine] = []
    server = request.getfixturevalue("sync_server") if request.param == "http" else None

    def engine(dev: Device) -> SyncEngine:
        e = dev.engine(server.backend() if server is not None else None)
        opened.append(e)
        return e

    yield a, b, engine
    for e in opened:
        e.close()


def outcome(summary, sid: str):  # type: ignore[no-untyped-def]
    return next(o for o in summary.outcomes if o.session_id == sid)


def test_a_session_goes_to_the_checkout_of_its_repository_wherever_it_is(machines, origin: Path, tmp_path: Path):
    a, b, engine = machines
    clone_a = a.projects / "api"
    git("clone", "-q", str(origin), str(clone_a), cwd=tmp_path)
    top = FixtureSession(a.paths.claude, str(clone_a)).user(f"look at {clone_a}/main.py").assistant("ok").write()
    sub_cwd = clone_a / "services" / "billing"
    sub = FixtureSession(a.paths.claude, str(sub_cwd)).user(f"edit {sub_cwd}/README").assistant("done").write()
    ident = str(origin.parent / "acme-api")
    pushed = engine(a).push(Selection(all=True))
    assert pushed.count(DONE) == 2, pushed.outcomes
    assert outcome(pushed, sub.session_id).project_key == f"git:{ident}//services/billing"

    # B has no checkout yet: listed as such, not placed.
    eb = engine(b)
    listed = {d["session_id"]: d for d in remote_dicts(eb.remote(), layout=eb.layout)}
    assert listed[top.session_id]["placement"] == "no local checkout"
    assert listed[top.session_id]["project_name"] == "acme-api" and listed[top.session_id]["project_kind"] == "repository"
    assert listed[sub.session_id]["project_name"] == "acme-api/services/billing"
    pulled = eb.pull(Selection(all=True))
    assert {o.status for o in pulled.outcomes} == {SKIPPED}
    assert all("no local checkout" in o.reason for o in pulled.outcomes)
    assert not (b.paths.claude / "projects").exists() or not list((b.paths.claude / "projects").rglob("*.jsonl"))

    # B clones it somewhere else entirely: the sessions land in that checkout, in the same subfolder.
    clone_b = b.home / "elsewhere" / "acme-api-2"
    git("clone", "-q", str(origin), str(clone_b), cwd=tmp_path)
    pulled = engine(b).pull(Selection(all=True))
    assert pulled.count(DONE) == 2, pulled.outcomes
    for s, cwd in ((top, clone_b), (sub, clone_b / "services" / "billing")):
        placed = FixtureSession(b.paths.claude, str(cwd), s.session_id).transcript
        text = placed.read_text()
        assert str(cwd) in text and str(a.home) not in text


def test_a_pinned_folder_takes_the_sessions_of_a_repository_with_no_checkout(machines, origin: Path, tmp_path: Path):
    a, b, engine = machines
    clone_a = a.projects / "api"
    git("clone", "-q", str(origin), str(clone_a), cwd=tmp_path)
    s = FixtureSession(a.paths.claude, str(clone_a)).user("hi").assistant("ok").write()
    engine(a).push(Selection(ids=(s.session_id,)))
    chosen = b.home / "chosen"
    chosen.mkdir()
    eb = engine(b)
    assert eb.pin(f"file://{origin}", str(chosen)) == str(origin.parent / "acme-api")
    assert outcome(eb.pull(Selection(ids=(s.session_id,))), s.session_id).status == DONE
    assert FixtureSession(b.paths.claude, str(chosen), s.session_id).transcript.is_file()
    [row] = engine(b).repository_map()
    assert row["folder"] == str(chosen) and row["pinned"] and row["name"] == "acme-api"


def test_a_session_under_an_old_key_is_pulled_then_re_keyed_on_its_next_push_without_a_duplicate(
    machines, origin: Path, tmp_path: Path
):
    a, b, engine = machines
    folder = a.projects / "acme" / "api"
    s = FixtureSession(a.paths.claude, str(folder)).user("hi").assistant("ok").write()
    engine(a).push(Selection(all=True))
    assert [e.project_key for e in engine(b).remote()] == ["acme/api"]
    # An older key still selects and places the session as before.
    assert outcome(engine(b).pull(Selection(project="acme/api")), s.session_id).status == DONE
    # The folder becomes a checkout of the repository: the next push re-keys it, under the same id.
    git("init", "-q", "--initial-branch=main", str(folder), cwd=tmp_path)
    git("remote", "add", "origin", str(origin), cwd=folder)
    again = engine(a).push(Selection(all=True))
    assert outcome(again, s.session_id).status == DONE and "re-keyed" in outcome(again, s.session_id).reason
    ident = str(origin.parent / "acme-api")
    assert [(e.session_id, e.project_key) for e in engine(b).remote()] == [(s.session_id, f"git:{ident}")]
    assert outcome(engine(a).push(Selection(all=True)), s.session_id).reason == "up to date"


def test_one_engine_sees_a_folder_become_a_checkout_between_two_syncs(machines, origin: Path, tmp_path: Path):
    """A long-lived engine (the sidecar's, the hook worker's) remembers each folder's project key
    only until its next listing or sync looks at the checkouts again."""
    a, _b, engine = machines
    folder = a.projects / "acme" / "api"
    s = FixtureSession(a.paths.claude, str(folder)).user("hi").assistant("ok").write()
    ea = engine(a)
    ea.push(Selection(all=True))
    assert [ea.project_key(x) for x in ea.local_sessions()] == ["acme/api"]
    git("init", "-q", "--initial-branch=main", str(folder), cwd=tmp_path)
    git("remote", "add", "origin", str(origin), cwd=folder)
    again = ea.push(Selection(all=True))
    assert "re-keyed" in outcome(again, s.session_id).reason
    assert [ea.project_key(x) for x in ea.local_sessions()] == [f"git:{origin.parent / 'acme-api'}"]


def test_the_folder_a_client_runs_in_selects_its_repositorys_sessions_through_any_remote(
    machines, origin: Path, tmp_path: Path
):
    """What SessionStart pulls: the sessions of the repository of its folder, and nothing else."""
    a, b, engine = machines
    clone_a = a.projects / "api"
    git("clone", "-q", str(origin), str(clone_a), cwd=tmp_path)
    mine = FixtureSession(a.paths.claude, str(clone_a / "services")).user("hi").assistant("ok").write()
    other = FixtureSession(a.paths.claude, str(a.projects / "other")).user("no").assistant("ok").write()
    engine(a).push(Selection(all=True))
    # B's checkout knows the repository as "upstream" only (its origin is a fork): it still matches.
    clone_b = b.home / "elsewhere" / "acme-api-2"
    git("init", "-q", "--initial-branch=main", str(clone_b), cwd=tmp_path)
    git("remote", "add", "origin", "git@github.com:me/acme-api-fork.git", cwd=clone_b)
    git("remote", "add", "upstream", str(origin), cwd=clone_b)
    pulled = engine(b).pull(Selection(project=str(clone_b)))
    assert [(o.session_id, o.status) for o in pulled.outcomes] == [(mine.session_id, DONE)]
    assert other.session_id not in {o.session_id for o in pulled.outcomes}
    assert FixtureSession(b.paths.claude, str(clone_b / "services"), mine.session_id).transcript.is_file()


def test_session_start_pulls_the_sessions_of_the_repository_it_runs_in_wherever_it_is(devices, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The real hook, through its launcher: B's client starts in its own checkout, under home only."""
    from claude_sync.hooks import policy as hooks
    from tests.support.hook_waits import wait_for, wait_settled
    from tests.test_hooks_runner import run_hook

    a, b = devices
    origin = make_origin(tmp_path)
    clone_a = a.projects / "api"
    git("clone", "-q", str(origin), str(clone_a), cwd=tmp_path)
    s = FixtureSession(a.paths.claude, str(clone_a / "services")).user("hi").assistant("ok").write()
    a.push()
    clone_b = b.home / "elsewhere" / "acme-api-2"  # not under B's projects root: found under home
    git("clone", "-q", str(origin), str(clone_b), cwd=tmp_path)
    hooks.install(b.paths)
    payload = {
        "session_id": "00000000-0000-4000-8000-000000000000", "transcript_path": "", "cwd": str(clone_b),
        "hook_event_name": "SessionStart", "source": "startup",
    }
    run = run_hook(b, "session-start", payload)
    assert run.returncode == 0 and run.stdout == b"", run.stderr
    pulled = FixtureSession(b.paths.claude, str(clone_b / "services"), s.session_id).transcript
    wait_for(pulled.exists, "the pulled transcript")
    wait_settled(b.paths.data)
    assert str(clone_b / "services") in pulled.read_text() and str(a.home) not in pulled.read_text()


def test_map_clone_on_the_command_line_clones_pins_and_then_pulls_there(devices, tmp_path: Path):  # type: ignore[no-untyped-def]
    a, b = devices
    origin = make_origin(tmp_path)
    clone_a = a.projects / "api"
    git("clone", "-q", str(origin), str(clone_a), cwd=tmp_path)
    s = FixtureSession(a.paths.claude, str(clone_a)).user("hi").assistant("ok").write()
    a.engine().push(Selection(all=True))
    ident = str(origin.parent / "acme-api")
    parent = b.home / "src"
    parent.mkdir()
    wrong = b.cli("map", ident, "--clone", str(parent), "--url", "https://example.invalid/other/repo")
    assert wrong.returncode != 0 and "is not the repository" in wrong.stderr and list(parent.iterdir()) == []
    r = b.cli("map", ident, "--clone", str(parent), "--url", f"file://{origin}")
    assert r.returncode == 0, r.stderr
    assert f"{ident}  ->  {parent / 'acme-api'}  (pinned)" in r.stdout
    assert b.pull(all=True).exit_code == 0
    assert FixtureSession(b.paths.claude, str(parent / "acme-api"), s.session_id).transcript.is_file()
