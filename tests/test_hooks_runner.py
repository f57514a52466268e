"""The hooks at work: SessionEnd queues and a detached worker pushes; SessionStart pulls the project.

Every hook here runs through the real launcher, as Claude Code runs it, against a real Git remote
or the real sync server (tests taking `pair` run on both).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from claude_sync import credentials
from claude_sync.config import Config, save_config
from claude_sync.hooks import policy as hooks
from claude_sync.hooks.launcher import launcher_path
from claude_sync.hooks.runner import Outbox
from tests.support.claude_fixture import FixtureSession
from tests.support.devices import Device
from tests.support.hook_waits import hook_log, wait_for
from tests.support.hook_waits import wait_settled as settle


@pytest.fixture(params=["git", "server"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Device, Device]:
    """Devices A and B (projects under different roots) on a Git remote or on the sync server."""
    if request.param == "git":
        return request.getfixturevalue("devices")
    server = request.getfixturevalue("sync_server")
    root = tmp_path / "machines"
    return server.device(root, "alpha", "code"), server.device(root, "beta", "work/projects")


def install(device: Device) -> None:
    hooks.install(device.paths)


def run_hook(device: Device, event: str, payload: dict | bytes) -> subprocess.CompletedProcess[bytes]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return subprocess.run(
        [str(launcher_path(device.paths.data)), event], input=data, env=device.env(), capture_output=True, timeout=120
    )


def end_payload(session) -> dict:  # type: ignore[no-untyped-def]
    return {
        "session_id": session.session_id,
        "transcript_path": str(session.transcript),
        "cwd": session.cwd,
        "prompt_id": "p1",
        "hook_event_name": "SessionEnd",
        "reason": "other",
    }


def start_payload(device: Device, key: str, source: str = "startup") -> dict:
    return {
        "session_id": "00000000-0000-4000-8000-000000000000",
        "transcript_path": "",
        "cwd": device.cwd(key),
        "hook_event_name": "SessionStart",
        "source": source,
    }


def log_text(device: Device) -> str:
    return hook_log(device.paths.data)


def wait_settled(device: Device) -> None:
    settle(device.paths.data)


def remote_ids(device: Device) -> set[str]:
    engine = device.engine()
    try:
        return {e.session_id for e in engine.remote()}
    finally:
        engine.close()


def pushed_lines(device: Device) -> Counter[str]:
    return Counter(line.split("push: ", 1)[1].split(" ", 1)[0] for line in log_text(device).splitlines() if ": pushed: " in line)


def commits_touching(remote: Path, sid: str) -> int:
    out = subprocess.run(
        ["git", "--git-dir", str(remote), "log", "--format=%H", "--", f"sessions/{sid[0]}/{sid[1]}/{sid}/session.json"],
        capture_output=True, text=True, check=True,
    ).stdout
    return len(out.split())


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens.git"


def break_remote(device: Device, **settings: object) -> Config:
    """Point the device at a port nobody listens on; returns its working configuration."""
    good = device.config
    url = closed_port_url()
    if good.backend == "git":
        device.config = good.model_copy(update={"git_url": url, **settings})
    else:
        url = url.rsplit("/", 1)[0]
        credentials.set_token(url, "a-token", device.paths)
        device.config = good.model_copy(update={"server_url": url, **settings})
    save_config(device.config, device.paths)
    return good


def mend_remote(device: Device, good: Config) -> None:
    device.config = good
    save_config(good, device.paths)


# -- SessionEnd ---------------------------------------------------------------


def test_session_end_returns_at_once_and_the_worker_pushes_the_session(pair: tuple[Device, Device]) -> None:
    a, b = pair
    install(a)
    s = a.rich_session("acme/api")

    run = run_hook(a, "session-end", end_payload(s))

    assert run.returncode == 0 and run.stdout == b"" and run.stderr == b""
    wait_settled(a)
    assert s.session_id in remote_ids(b)
    assert pushed_lines(a) == {s.session_id: 1}
    assert Outbox(a.paths.data).pending() == []
    assert f"{s.session_id} queued; worker" in log_text(a)


def test_concurrent_session_ends_push_every_session_exactly_once(pair: tuple[Device, Device], bare_remote: Path) -> None:
    a, b = pair
    install(a)
    sessions = [a.rich_session(f"acme/app{i}") for i in range(6)]
    payloads = [end_payload(s) for s in sessions] + [end_payload(sessions[0]), end_payload(sessions[3])]

    procs = [
        subprocess.Popen(
            [str(launcher_path(a.paths.data)), "session-end"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=a.env(),
        )
        for _ in payloads
    ]
    for p, payload in zip(procs, payloads):
        p.stdin.write(json.dumps(payload).encode())  # type: ignore[union-attr]
        p.stdin.close()  # type: ignore[union-attr]
    results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]

    assert results == [(0, b"", b"")] * len(payloads)
    wait_settled(a)
    ids = {s.session_id for s in sessions}
    assert ids <= remote_ids(b)
    assert pushed_lines(a) == {sid: 1 for sid in ids}
    if a.config.backend == "git":
        assert all(commits_touching(bare_remote, sid) == 1 for sid in ids)
    assert sorted(p.name for p in (a.paths.data / "outbox").iterdir()) == []  # no request, claim or temp file left


def test_a_dead_backend_keeps_the_session_in_the_outbox_and_logs_why(pair: tuple[Device, Device]) -> None:
    a, _b = pair
    break_remote(a)
    install(a)
    s = a.rich_session("acme/api")

    run = run_hook(a, "session-end", end_payload(s))

    assert run.returncode == 0 and run.stdout == b""
    wait_settled(a)
    [entry] = Outbox(a.paths.data).pending()
    assert entry.session_id == s.session_id and entry.data["attempts"] == 1
    assert entry.data["last_error"]
    log = log_text(a)
    assert f"{s.session_id}: failed, kept in the outbox (attempt 1): " in log
    assert entry.data["last_error"] in log
    st = hooks.status(a.paths)["outbox"]
    assert st["pending"] == 1 and st["sessions"] == [s.session_id] and st["last_error"] == entry.data["last_error"]


def test_the_next_hook_run_pushes_what_the_outbox_kept_once_the_remote_works(pair: tuple[Device, Device]) -> None:
    a, b = pair
    good = break_remote(a)
    install(a)
    first = a.rich_session("acme/api")
    assert run_hook(a, "session-end", end_payload(first)).returncode == 0
    wait_settled(a)
    assert [e.session_id for e in Outbox(a.paths.data).pending()] == [first.session_id]

    mend_remote(a, good)
    second = a.rich_session("acme/web")
    assert run_hook(a, "session-end", end_payload(second)).returncode == 0
    wait_settled(a)

    assert Outbox(a.paths.data).pending() == []
    assert {first.session_id, second.session_id} <= remote_ids(b)
    assert pushed_lines(a) == {first.session_id: 1, second.session_id: 1}


def test_session_start_also_retries_the_outbox(pair: tuple[Device, Device]) -> None:
    a, b = pair
    good = break_remote(a)
    install(a)
    s = a.rich_session("acme/api")
    run_hook(a, "session-end", end_payload(s))
    wait_settled(a)
    mend_remote(a, good)

    run = run_hook(a, "session-start", start_payload(a, "acme/api"))

    assert run.returncode == 0 and run.stdout == b""
    wait_settled(a)
    assert Outbox(a.paths.data).pending() == []
    assert s.session_id in remote_ids(b)


def test_a_session_outside_home_and_projects_root_is_dropped_not_retried(devices, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, _b = devices
    install(a)
    s = FixtureSession(a.paths.claude, str(tmp_path / "scratch")).user("hello").write()

    assert run_hook(a, "session-end", end_payload(s)).returncode == 0
    wait_settled(a)

    assert Outbox(a.paths.data).pending() == []
    assert f"{s.session_id}: dropped, not portable" in log_text(a)


def test_a_session_that_ends_again_during_its_push_is_queued_again() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        box = Outbox(Path(d))
        sid = "0f0e0d0c-0b0a-4000-8000-000000000001"
        first = box.add({"session_id": sid, "cwd": "/x"})
        claimed = box.claim(first)
        assert claimed is not None
        again = box.add({"session_id": sid, "cwd": "/x"})

        box.keep(claimed, "remote down")  # the worker's push failed: the newer request stays as it is

        [left] = box.pending()
        assert left.nonce == again.nonce and left.data["attempts"] == 0
        box.done(box.claim(left))  # type: ignore[arg-type]
        assert box.pending() == []


def test_garbage_on_stdin_never_fails_the_client(devices) -> None:  # type: ignore[no-untyped-def]
    a, _b = devices
    install(a)

    for event in ("session-end", "session-start"):
        run = run_hook(a, event, b"{this is not json")
        assert run.returncode == 0 and run.stdout == b"" and run.stderr == b""
    assert Outbox(a.paths.data).pending() == []
    assert "session-end: failed" in log_text(a)


# -- SessionStart ---------------------------------------------------------------


def test_session_start_pulls_the_project_and_prints_nothing(pair: tuple[Device, Device]) -> None:
    a, b = pair
    s = a.rich_session("acme/api")
    other = a.rich_session("acme/web")
    a.push()
    install(b)

    run = run_hook(b, "session-start", start_payload(b, "acme/api"))

    assert run.returncode == 0 and run.stdout == b"" and run.stderr == b""
    pulled = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    wait_for(pulled.exists, "the pulled transcript")
    wait_settled(b)
    text = pulled.read_text()
    assert b.cwd("acme/api") in text and a.cwd("acme/api") not in text
    assert not (b.project_dir("acme/web") / f"{other.session_id}.jsonl").exists()  # another project: not pulled


def test_session_start_can_tell_the_model_in_one_line_when_asked(devices) -> None:  # type: ignore[no-untyped-def]
    a, b = devices
    a.rich_session("acme/api")
    a.push()
    b.config = b.config.model_copy(update={"hook_note": True, "hook_pull_timeout": 60})
    save_config(b.config, b.paths)
    install(b)

    run = run_hook(b, "session-start", start_payload(b, "acme/api"))

    assert run.returncode == 0
    assert run.stdout.decode().splitlines() == [
        "claude-sync: 1 session of project acme/api arrived from other devices; `claude --resume` lists them."
    ]
    wait_settled(b)
    # nothing new the second time: nothing said
    again = run_hook(b, "session-start", start_payload(b, "acme/api"))
    assert again.returncode == 0 and again.stdout == b""


def test_session_start_leaves_a_slow_pull_to_the_background(devices) -> None:  # type: ignore[no-untyped-def]
    a, b = devices
    s = a.rich_session("acme/api")
    a.push()
    b.config = b.config.model_copy(update={"hook_pull_timeout": 0})
    save_config(b.config, b.paths)
    install(b)

    run = run_hook(b, "session-start", start_payload(b, "acme/api"))

    assert run.returncode == 0 and run.stdout == b""
    wait_for((b.project_dir("acme/api") / f"{s.session_id}.jsonl").exists, "the background pull")
    wait_settled(b)
    assert "left to worker" in log_text(b)


def test_session_start_on_an_unconfigured_device_does_nothing_and_exits_0(devices) -> None:  # type: ignore[no-untyped-def]
    _a, b = devices
    install(b)
    b.paths.config_file.unlink()

    run = run_hook(b, "session-start", start_payload(b, "acme/api"))

    assert run.returncode == 0 and run.stdout == b"" and run.stderr == b""
    assert "not pulling: not configured yet" in log_text(b)


def test_session_start_with_a_dead_backend_exits_0_and_logs_why(pair: tuple[Device, Device]) -> None:
    _a, b = pair
    break_remote(b, hook_pull_timeout=60)
    install(b)

    run = run_hook(b, "session-start", start_payload(b, "acme/api"))

    assert run.returncode == 0 and run.stdout == b"" and run.stderr == b""
    wait_settled(b)
    assert "pull: acme/api: " in log_text(b) and "failed" in log_text(b)


@pytest.mark.parametrize("event", ["session-start", "session-end"])
def test_the_hidden_cli_entry_runs_the_same_hooks(devices, event: str) -> None:  # type: ignore[no-untyped-def]
    a, b = devices
    s = a.rich_session("acme/api")
    payload = end_payload(s) if event == "session-end" else start_payload(a, "acme/api")

    run = subprocess.run(
        [__import__("sys").executable, "-m", "claude_sync", "hook", event],
        input=json.dumps(payload).encode(), env=a.env(), capture_output=True, timeout=120,
    )

    assert run.returncode == 0 and run.stdout == b""
    wait_settled(a)
    if event == "session-end":
        assert s.session_id in remote_ids(b)


def test_configure_sets_the_hook_settings_and_they_default_to_silent(devices) -> None:  # type: ignore[no-untyped-def]
    from claude_sync.config import load_config

    a, _b = devices
    assert (load_config(a.paths).hook_note, load_config(a.paths).hook_pull_timeout) == (False, 5.0)

    r = a.cli("configure", "--hook-note", "on", "--hook-pull-timeout", "2.5")

    assert r.returncode == 0, r.stderr
    assert (load_config(a.paths).hook_note, load_config(a.paths).hook_pull_timeout) == (True, 2.5)
    assert a.cli("configure", "--hook-pull-timeout", "600").returncode == 2
