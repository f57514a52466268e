"""A bulk pull fetches, checks and renders the next sessions ahead (claude_sync/prefetch.py, a rendering
worker process) while it writes the one before. It must end exactly as one session after the other:
a bad session in the middle fails alone and leaves nothing, a worker that dies costs nothing, and
files a backend keeps on disk for a large session outlive the fetches made ahead of them.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from claude_sync import atomic, prefetch, spill
from claude_sync.backends import http as http_backend
from claude_sync.claude_home import project_folder_name
from claude_sync.engine import DONE, FAILED, Outcome, Selection, Summary
from claude_sync.format import bundle
from tests.support.devices import Device
from tests.support.sync_server import SyncServer
from tests.test_hostile_remote import GOOD_LOG, _git_plant, _server_plant

SESSIONS = 5


def _pipelined_pull(dev: Device, on_session=None, in_worker: bool = True) -> tuple[Summary, bool]:  # type: ignore[no-untyped-def]
    """`pull --all` with the prefetch on whatever the sizes; whether sessions were rendered in a worker."""
    engine = dev.engine()
    engine.prefetch_min_bytes, engine.render_in_worker = 0, in_worker
    seen: list[bool] = []

    def progress(done: int, total: int, out: Outcome) -> None:
        prefetch = engine._prefetch
        seen.append(prefetch is not None and prefetch.renderer is not None and prefetch.renderer.parallel)
        if on_session is not None:
            on_session(engine, done)

    try:
        return engine.pull(Selection(all=True), progress=progress), any(seen)
    finally:
        engine.close()


def _honest_sessions(alpha: Device) -> list[str]:
    ids = [alpha.rich_session("acme/api").session_id for _ in range(SESSIONS)]
    assert alpha.push(all=True).count(DONE) == SESSIONS
    return sorted(ids)


def _between(ids: list[str]) -> str:
    """A new session id that a pull of `ids` meets in the middle (pulls go in session id order)."""
    while True:
        sid = str(uuid.uuid4())
        if ids[1] < sid < ids[-2]:
            return sid


def _without_home(dev: Device) -> dict[str, bytes]:
    """The device's Claude files, its own paths written as HOME (to compare two devices)."""
    home, folder = str(dev.home), project_folder_name(str(dev.home))
    return {
        p.replace(folder, "HOME"): d.replace(home.encode(), b"HOME").replace(folder.encode(), b"HOME")
        for p, d in dev.all_files().items()
    }


@pytest.mark.parametrize("kind", ["git", "server"])
def test_a_bad_session_in_the_middle_of_a_pipelined_pull_fails_alone(kind: str, tmp_path: Path, bare_remote: Path, request):  # type: ignore[no-untyped-def]
    if kind == "git":
        alpha = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
        victim = Device(tmp_path / "machines", "beta", "work", git_url=str(bare_remote))
        plant = _git_plant(bare_remote, tmp_path)
    else:
        server: SyncServer = request.getfixturevalue("sync_server")
        alpha = server.device(tmp_path / "machines", "alpha", "code")
        victim = server.device(tmp_path / "machines", "beta", "work")
        plant = _server_plant(server)
    honest = _honest_sessions(alpha)
    bad = _between(honest)
    plant(bad, {"transcript.jsonl": GOOD_LOG + GOOD_LOG[:40]})  # cut mid-line, checksums recomputed

    summary, in_worker = _pipelined_pull(victim)

    assert in_worker
    outcomes = {o.session_id: o for o in summary.outcomes}
    assert outcomes[bad].status == FAILED and "does not end with a newline" in outcomes[bad].reason
    assert bad in outcomes[bad].reason or outcomes[bad].session_id == bad
    assert all(outcomes[sid].status == DONE for sid in honest), [outcomes[s].reason for s in honest]
    files = victim.all_files()
    assert not [p for p in files if bad in p]
    assert all(any(sid in p for p in files) for sid in honest)
    assert not [p for p in files if atomic.is_temp(Path(p).name)]


@pytest.mark.parametrize("how", ["the rendering worker dies", "large files wait on disk", "rendered on the prefetch thread"])
def test_a_pipelined_pull_writes_what_a_pull_one_session_after_the_other_writes(
    how: str, tmp_path: Path, bare_remote: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    alpha = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
    honest = _honest_sessions(alpha)
    if how == "large files wait on disk":
        # Every transcript spills to a temp file of the backend's: those of the sessions fetched ahead
        # must still be there when their session is written.
        monkeypatch.setattr(spill, "SPILL_BYTES", 64)
    else:
        monkeypatch.setattr(prefetch, "AHEAD", 1)  # the worker is still needed after the first session
    one_by_one = Device(tmp_path / "one", "beta", "work", git_url=str(bare_remote))
    assert one_by_one.pull(all=True).count(DONE) == SESSIONS

    def kill_the_worker(engine, done: int) -> None:  # type: ignore[no-untyped-def]
        if how == "the rendering worker dies" and done == 1:
            for worker in engine._prefetch.renderer._pool:
                worker.proc.kill()

    pipelined = Device(tmp_path / "pipelined", "beta", "work", git_url=str(bare_remote))
    summary, in_worker = _pipelined_pull(pipelined, kill_the_worker, in_worker=how != "rendered on the prefetch thread")

    assert in_worker == (how != "rendered on the prefetch thread")
    assert summary.count(DONE) == SESSIONS, [o.reason for o in summary.outcomes]
    if how == "the rendering worker dies":
        assert "a rendering worker failed" in caplog.text  # and the sessions were rendered here instead
    assert _without_home(pipelined) == _without_home(one_by_one)
    assert all(any(sid in p for p in pipelined.all_files()) for sid in honest)
    assert not list((pipelined.paths.data).rglob("*.rendered"))  # the backend's temp files went with it


def test_a_bulk_pull_looks_up_each_repository_root_and_the_cleanup_period_once(
    tmp_path: Path, bare_remote: Path, monkeypatch: pytest.MonkeyPatch
):
    """Both take file system work per session otherwise (a stat of every folder up to the root, a read of
    settings.json): a new device's pull of a project's sessions asks the same questions every time."""
    from claude_sync import repos, sweep

    alpha = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
    _honest_sessions(alpha)
    roots: list[str] = []
    periods: list[Path] = []
    real_root, real_period = repos.canonical_root, sweep.cleanup_period_days
    monkeypatch.setattr(repos, "canonical_root", lambda cwd: roots.append(cwd) or real_root(cwd))
    monkeypatch.setattr(sweep, "cleanup_period_days", lambda d: periods.append(d) or real_period(d))
    beta = Device(tmp_path / "machines", "beta", "work", git_url=str(bare_remote))
    summary, _ = _pipelined_pull(beta, in_worker=False)

    assert summary.count(DONE) == SESSIONS
    assert roots == [beta.cwd("acme/api")]
    assert len(periods) == 1
    # The next pull looks again: a repository cloned or settings changed meanwhile count.
    alpha.rich_session("acme/api")
    alpha.push(all=True)
    summary, _ = _pipelined_pull(beta, in_worker=False)
    assert summary.count(DONE) == 1 and len(periods) == 2


@pytest.mark.parametrize("limit", ["SPILL_BYTES", "MEMORY_BUDGET"])
def test_a_pipelined_pull_from_the_server_writes_what_a_pull_one_session_after_the_other_writes(
    limit: str, tmp_path: Path, sync_server: SyncServer, monkeypatch: pytest.MonkeyPatch
):
    """Downloads to temp files and every file spilled (spill.py: past the size of a file, or past what
    a fetch may keep in memory): those of the sessions fetched ahead must still be there when their
    session is written, and all go with the pull."""
    alpha = sync_server.device(tmp_path / "machines", "alpha", "code")
    honest = _honest_sessions(alpha)
    one_by_one = sync_server.device(tmp_path / "one", "beta", "work")
    assert one_by_one.pull(all=True).count(DONE) == SESSIONS
    monkeypatch.setattr(http_backend, "DOWNLOAD_IN_MEMORY", 64)
    monkeypatch.setattr(bundle, "_IN_MEMORY_UNPACKED", 64)  # each bundle streams past...
    monkeypatch.setattr(spill, limit, 64)  # ... and its files wait on disk

    pipelined = sync_server.device(tmp_path / "pipelined", "beta", "work")
    summary, in_worker = _pipelined_pull(pipelined)

    assert in_worker
    assert summary.count(DONE) == SESSIONS, [o.reason for o in summary.outcomes]
    assert _without_home(pipelined) == _without_home(one_by_one)
    assert all(any(sid in p for p in pipelined.all_files()) for sid in honest)
    assert not [p for p in (pipelined.paths.data / "cache" / "spill").rglob("*") if p.is_file()]
