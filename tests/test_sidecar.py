"""The sidecar (`claude-sync lsp`) as the VS Code extension drives it: JSON-RPC over stdio.

Every test starts real sidecar processes with a simulated device's HOME and talks to them
through a real JSON-RPC client; the remote is a real bare Git repository.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from claude_sync.format.locking import exclusive
from tests.support.claude_fixture import rich_session
from tests.support.devices import Device
from tests.support.sidecar_client import RawJsonRpc, rpc_error


def unconfigured(tmp_path: Path) -> Device:
    dev = Device(tmp_path, "fresh", "code")
    dev.paths.config_file.unlink()
    return dev


# -- status and configuration ------------------------------------------------


async def test_status_is_unconfigured_until_configure_writes_config_json(sidecar, tmp_path, bare_remote):
    dev = unconfigured(tmp_path)
    c = await sidecar(dev)
    status = await c.request("claudeSync/status")
    assert status["configured"] is False and status["config"] is None and status["configError"] is None
    assert status["version"] and status["defaultDeviceName"]

    status = await c.request(
        "claudeSync/configure",
        {"deviceName": "laptop", "projectsRoot": str(dev.projects), "backend": "git", "gitRepoUrl": str(bare_remote)},
    )
    assert status["configured"] is True
    assert status["config"] == {
        "deviceName": "laptop",
        "projectsRoot": str(dev.projects),
        "backend": "git",
        "gitRepoUrl": str(bare_remote),
        "gitBranch": "main",
        "serverUrl": None,
        "caBundle": None,
        "hookPullTimeout": 5.0,
    }
    assert status["configFile"] == str(dev.paths.config_file) and status["claudeDir"] == str(dev.paths.claude)
    assert status["remote"] == {
        "backend": "git", "url": str(bare_remote), "branch": "main", "label": f"Git (main) · {bare_remote}", "fetchedAt": None,
    }
    assert ("changed", {"what": "config"}) in c.events
    on_disk = json.loads(dev.paths.config_file.read_text())
    assert on_disk["device"] == "laptop" and on_disk["git_url"] == str(bare_remote)
    assert (await c.request("claudeSync/status"))["config"] == status["config"]


async def test_configure_changes_only_what_it_is_given_like_the_cli(sidecar, tmp_path):
    dev = Device(tmp_path, "alpha", "code", git_url="git@example.invalid:me/sessions.git")
    c = await sidecar(dev)
    status = await c.request("claudeSync/configure", {"serverUrl": "https://sync.example.invalid", "backend": "server"})
    # Empty strings (an unset VS Code setting) leave a value alone.
    status = await c.request("claudeSync/configure", {"deviceName": "", "gitRepoUrl": ""})
    assert status["config"] == {
        "deviceName": "alpha",
        "projectsRoot": str(dev.projects),
        "backend": "server",
        "gitRepoUrl": "git@example.invalid:me/sessions.git",
        "gitBranch": "main",
        "serverUrl": "https://sync.example.invalid",
        "caBundle": None,
        "hookPullTimeout": 5.0,
    }
    assert dev.cli_json("configure")["server_url"] == "https://sync.example.invalid"


async def test_configure_sets_branch_ca_bundle_and_hook_timeout_and_unsets_on_request(sidecar, tmp_path):
    dev = Device(tmp_path, "alpha", "code", git_url="git@example.invalid:me/sessions.git")
    c = await sidecar(dev)
    config = (await c.request(
        "claudeSync/configure", {"gitBranch": "sessions", "caBundle": "~/ca.pem", "hookPullTimeout": 12}
    ))["config"]
    assert (config["gitBranch"], config["caBundle"], config["hookPullTimeout"]) == ("sessions", str(dev.home / "ca.pem"), 12.0)
    config = (await c.request("claudeSync/configure", {"unset": ["caBundle"]}))["config"]
    assert config["caBundle"] is None and config["gitBranch"] == "sessions"
    on_disk = json.loads(dev.paths.config_file.read_text())
    assert (on_disk["git_branch"], on_disk["ca_bundle"], on_disk["hook_pull_timeout"]) == ("sessions", None, 12.0)
    err = await rpc_error(c.request("claudeSync/configure", {"hookPullTimeout": 600}))
    assert err.code == -32602 and err.data["problems"][0]["field"] == "hookPullTimeout"


async def test_first_configure_without_projects_root_is_a_config_error(sidecar, tmp_path):
    dev = unconfigured(tmp_path)
    c = await sidecar(dev)
    err = await rpc_error(c.request("claudeSync/configure", {"deviceName": "laptop"}))
    assert err.code == -32001 and err.data["code"] == "config_error" and "projects root" in err.message
    err = await rpc_error(c.request("claudeSync/configure", {"projectsRoot": "relative/dir"}))
    assert err.code == -32001 and "absolute" in err.message
    assert not dev.paths.config_file.exists()
    assert "changed" not in [kind for kind, _ in c.events]


async def test_broken_config_json_shows_in_status_and_stops_listing(sidecar, tmp_path):
    dev = unconfigured(tmp_path)
    dev.paths.config_file.write_text("{broken")
    c = await sidecar(dev)
    status = await c.request("claudeSync/status")
    assert status["configured"] is False and "not a valid configuration" in status["configError"]
    err = await rpc_error(c.request("claudeSync/listLocal"))
    assert err.code == -32001 and err.data["code"] == "config_error"
    assert [r["id"] for r in err.data["remedies"]] == ["configureDevice", "showDetails"]


# -- listing -------------------------------------------------------------------


async def test_list_local_groups_sessions_by_project_with_camel_case_fields(sidecar, devices):
    a, _ = devices
    api = a.rich_session("acme/api")
    web = a.rich_session("acme/web")
    stray = rich_session(a.paths.claude, "/srv/outside-the-projects-root", str(a.home))
    c = await sidecar(a)
    groups = (await c.request("claudeSync/listLocal"))["groups"]
    assert [g["projectKey"] for g in groups] == ["acme/api", "acme/web", None]
    [session] = groups[0]["sessions"]
    assert session["sessionId"] == api.session_id and session["cwd"] == a.cwd("acme/api")
    assert session["title"].startswith("Create hello.py") and session["messageCount"] > 0 and session["size"] > 0
    assert session["lastTimestamp"] >= session["firstTimestamp"] and session["transcript"] == str(api.transcript)
    assert session["portable"] is True and session["projectKey"] == "acme/api"
    assert groups[1]["sessions"][0]["sessionId"] == web.session_id
    outside = groups[2]
    assert outside["portable"] is False and outside["cwd"] == stray.cwd
    assert outside["sessions"][0]["reason"]


async def test_list_remote_of_an_empty_repository_is_empty(sidecar, devices):
    a, _ = devices
    c = await sidecar(a)
    listing = await c.request("claudeSync/listRemote")
    assert listing["entries"] == [] and listing["configured"] is True


# -- push and pull ---------------------------------------------------------------


async def test_push_one_a_project_and_all_with_progress_before_each_result(sidecar, devices):
    a, _ = devices
    one = a.rich_session("acme/api")
    two = a.rich_session("acme/api")
    web = a.rich_session("acme/web")
    c = await sidecar(a)

    summary = await c.request("claudeSync/push", {"operationId": "op-1", "sessionIds": [one.session_id]})
    assert (summary["action"], summary["done"], summary["skipped"], summary["failed"]) == ("push", 1, 0, 0)
    assert summary["outcomes"] == [
        {
            "sessionId": one.session_id,
            "status": "done",
            "reason": "new on the remote",
            "projectKey": "acme/api",
            "title": summary["outcomes"][0]["title"],
            "dependsOn": [],
        }
    ]
    events = c.take_events()
    assert [kind for kind, _ in events] == ["progress", "changed", "result"]
    progress = events[0][1]
    assert progress["operationId"] == "op-1" and (progress["done"], progress["total"]) == (1, 1)
    assert progress["sessionId"] == one.session_id and progress["status"] == "done" and progress["message"]
    assert events[1][1] == {"what": "remote"}

    summary = await c.request("claudeSync/push", {"operationId": "op-2", "project": "acme/api"})
    by_id = {o["sessionId"]: o for o in summary["outcomes"]}
    assert by_id[one.session_id]["status"] == "skipped" and by_id[one.session_id]["reason"] == "up to date"
    assert by_id[two.session_id]["status"] == "done" and web.session_id not in by_id
    events = c.take_events()
    assert [kind for kind, _ in events] == ["progress", "progress", "changed", "result"]
    assert sorted(p["done"] for k, p in events if k == "progress") == [1, 2]

    summary = await c.request("claudeSync/push", {"operationId": "op-3", "all": True})
    assert (summary["done"], summary["skipped"]) == (1, 2)

    entries = (await c.request("claudeSync/listRemote"))["entries"]
    assert {e["sessionId"] for e in entries} == {one.session_id, two.session_id, web.session_id}
    entry = next(e for e in entries if e["sessionId"] == web.session_id)
    assert entry["device"] == "alpha" and entry["projectKey"] == "acme/web" and entry["size"] > 0
    assert entry["contentSha256"] and entry["lastModified"] and entry["messageCount"] > 0
    assert str(a.home) not in entry["title"]


async def test_nothing_to_push_sends_no_changed_notification(sidecar, devices):
    a, _ = devices
    s = a.rich_session()
    c = await sidecar(a)
    await c.request("claudeSync/push", {"operationId": "first", "all": True})
    c.take_events()
    summary = await c.request("claudeSync/push", {"operationId": "again", "sessionIds": [s.session_id]})
    assert summary["done"] == 0 and summary["skipped"] == 1
    assert [kind for kind, _ in c.take_events()] == ["progress", "result"]


async def test_pull_on_a_second_device_writes_the_session_under_its_own_paths(sidecar, devices):
    a, b = devices
    s = a.rich_session("acme/api")
    sa, sb = await sidecar(a), await sidecar(b)
    await sa.request("claudeSync/push", {"operationId": "up", "sessionIds": [s.session_id[:8]]})

    [entry] = (await sb.request("claudeSync/listRemote"))["entries"]
    assert entry["device"] == "alpha"
    sb.take_events()
    summary = await sb.request("claudeSync/pull", {"operationId": "down", "sessionIds": [s.session_id]})
    assert (summary["action"], summary["done"], summary["failed"]) == ("pull", 1, 0)
    assert [kind for kind, _ in sb.take_events()] == ["progress", "changed", "result"]
    assert ("changed", {"what": "local"}) not in sa.events  # each sidecar speaks for its own device

    [group] = (await sb.request("claudeSync/listLocal"))["groups"]
    assert group["projectKey"] == "acme/api" and group["cwd"] == b.cwd("acme/api")
    assert group["sessions"][0]["sessionId"] == s.session_id
    transcript = Path(group["sessions"][0]["transcript"]).read_text()
    assert b.cwd("acme/api") in transcript and str(a.home) not in transcript

    again = await sb.request("claudeSync/pull", {"operationId": "again", "project": "acme"})
    assert again["outcomes"][0]["reason"] == "up to date"


async def test_a_failing_session_is_in_the_summary_and_the_batch_goes_on(sidecar, devices):
    a, _ = devices
    good = a.rich_session("acme/api")
    stray = rich_session(a.paths.claude, "/srv/outside-the-projects-root", str(a.home))
    c = await sidecar(a)

    summary = await c.request(
        "claudeSync/push", {"operationId": "mixed", "sessionIds": ["no-such-id", good.session_id]}
    )
    by_id = {o["sessionId"]: o for o in summary["outcomes"]}
    assert by_id["no-such-id"] == {
        "sessionId": "no-such-id",
        "status": "failed",
        "reason": "no such session",
        "projectKey": None,
        "title": "",
        "dependsOn": [],
    }
    assert by_id[good.session_id]["status"] == "done" and (summary["done"], summary["failed"]) == (1, 1)

    assert summary["text"] == "Upload: 1 done, 1 failed."

    summary = await c.request("claudeSync/push", {"operationId": "all", "all": True})
    by_id = {o["sessionId"]: o for o in summary["outcomes"]}
    # Not portable is not a failure: nothing went wrong, and trying again would not change it.
    assert by_id[stray.session_id]["status"] == "skipped" and by_id[stray.session_id]["reason"].startswith("not portable: ")
    assert by_id[good.session_id]["status"] == "skipped" and by_id[good.session_id]["reason"] == "up to date"
    assert (summary["failed"], summary["upToDate"], summary["notPortable"]) == (0, 1, 1)
    assert summary["text"] == "Upload: 0 done, 1 up to date, 1 skipped, not portable."


async def test_cancel_skips_the_sessions_not_yet_started(sidecar, devices):
    a, _ = devices
    ids = {a.rich_session(f"acme/p{i}").session_id for i in range(3)}
    c = await sidecar(a)
    # While another sync holds the lock, the push waits before its first session: cancel it there.
    with exclusive(a.paths.lock_file):
        push = asyncio.ensure_future(c.request("claudeSync/push", {"operationId": "bulk", "all": True}))
        cancelled = await c.request("claudeSync/cancel", {"operationId": "bulk"})
    assert isinstance(cancelled["cancelled"], bool)
    summary = await push
    assert {o["sessionId"] for o in summary["outcomes"]} == ids
    assert {(o["status"], o["reason"]) for o in summary["outcomes"]} == {("skipped", "cancelled")}
    assert [p["status"] for p in c.notes("progress")] == ["skipped"] * 3
    assert (await c.request("claudeSync/listRemote"))["entries"] == []
    assert c.notes("changed") == []


async def test_cancel_of_a_finished_operation_says_so(sidecar, devices):
    a, _ = devices
    c = await sidecar(a)
    assert await c.request("claudeSync/cancel", {"operationId": "never-started"}) == {"cancelled": False}


# -- hooks and the server token ------------------------------------------------------


async def test_hooks_install_and_remove_edit_settings_json_and_status_follows(sidecar, devices):
    a, _ = devices
    settings = a.paths.claude / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{\n  "theme": "dark"\n}\n')
    before = settings.read_text()
    c = await sidecar(a)
    st = await c.request("claudeSync/hooks", {"action": "status"})
    assert st["installed"] is False and st["settingsPath"] == str(settings) and st["error"] is None
    assert c.notes("changed") == []

    st = await c.request("claudeSync/hooks", {"action": "install"})
    assert st["installed"] is True and st["changed"] is True
    assert set(st["events"].values()) == {"installed"}
    written = json.loads(settings.read_text())
    assert written["theme"] == "dark" and set(written["hooks"]) == {"SessionStart", "SessionEnd"}
    assert c.notes("changed") == [{"what": "hooks"}]
    assert (await c.request("claudeSync/status"))["hooks"]["installed"] is True

    st = await c.request("claudeSync/hooks", {"action": "remove"})
    assert st["installed"] is False and st["changed"] is True
    assert settings.read_text() == before
    assert (await c.request("claudeSync/hooks"))["installed"] is False  # status is the default action


async def test_hooks_leave_a_malformed_settings_json_alone_with_a_structured_error(sidecar, devices):
    a, _ = devices
    settings = a.paths.claude / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"theme": "dark",')
    c = await sidecar(a)
    err = await rpc_error(c.request("claudeSync/hooks", {"action": "install"}))
    assert err.code == -32001 and err.data["code"] == "settings_error" and "not valid JSON" in err.message
    assert settings.read_text() == '{"theme": "dark",'
    status = await c.request("claudeSync/status")
    assert status["hooks"]["installed"] is False and "not valid JSON" in status["hooks"]["error"]


async def test_token_from_the_extension_lets_push_reach_the_sync_server(sidecar, sync_server, devices, capfd):  # noqa: F811
    a, _ = devices
    s = a.rich_session()
    c = await sidecar(a)
    status = await c.request("claudeSync/configure", {"backend": "server", "serverUrl": sync_server.url})
    assert status["config"]["backend"] == "server" and status["hasToken"] is False
    err = await rpc_error(c.request("claudeSync/listRemote"))
    assert (err.code, err.data["code"]) == (-32001, "config_error") and "No token" in err.message
    assert [r["id"] for r in err.data["remedies"]] == ["setToken"]

    stored = await c.request("claudeSync/setToken", {"token": sync_server.token})
    assert stored["hasToken"] is True and stored["serverUrl"] == sync_server.url
    assert (await c.request("claudeSync/status"))["hasToken"] is True
    summary = await c.request("claudeSync/push", {"operationId": "up", "all": True})
    assert summary["done"] == 1
    [entry] = (await c.request("claudeSync/listRemote"))["entries"]
    assert entry["sessionId"] == s.session_id and entry["device"] == "alpha"
    assert sync_server.token not in capfd.readouterr().err  # the sidecar's stderr is forwarded here


# -- errors --------------------------------------------------------------------


async def test_unconfigured_backend_is_a_structured_config_error(sidecar, tmp_path):
    dev = Device(tmp_path, "alpha", "code")  # no repository, no server
    dev.rich_session()
    c = await sidecar(dev)
    err = await rpc_error(c.request("claudeSync/push", {"operationId": "x", "all": True}))
    assert err.code == -32001 and err.data["code"] == "config_error" and "No remote chosen yet" in err.message
    assert err.data["remedies"] == [
        {"id": "changeUrl", "title": "Set Git Repository URL", "backend": "git"},
        {"id": "changeUrl", "title": "Set Server URL", "backend": "server"},
    ]
    assert "Traceback" not in err.message
    # Listing a remote that is not chosen yet is not an error: the view shows its welcome instead.
    listing = await c.request("claudeSync/listRemote")
    assert (listing["configured"], listing["remote"], listing["entries"], listing["groups"]) == (False, None, [], [])


async def test_unreachable_remote_stops_the_whole_operation_with_a_backend_error(sidecar, tmp_path):
    dev = Device(tmp_path, "alpha", "code", git_url=str(tmp_path / "does-not-exist.git"))
    dev.rich_session()
    c = await sidecar(dev)
    err = await rpc_error(c.request("claudeSync/listRemote"))
    assert err.code == -32002 and err.data["code"] == "backend_error" and "cannot fetch" in err.message
    err = await rpc_error(c.request("claudeSync/push", {"operationId": "x", "all": True}))
    assert err.code == -32002 and err.data["code"] == "backend_error"
    err = await rpc_error(c.request("claudeSync/pull", {"operationId": "y", "all": True}))
    assert err.code == -32002


async def test_another_sync_holding_the_lock_is_a_busy_error(sidecar, devices):
    a, _ = devices
    a.rich_session()
    c = await sidecar(a, lockWaitSeconds=0.2)
    with exclusive(a.paths.lock_file):
        err = await rpc_error(c.request("claudeSync/push", {"operationId": "x", "all": True}))
        assert err.code == -32005 and err.data["code"] == "busy"
        err = await rpc_error(c.request("claudeSync/listRemote"))
        assert err.code == -32005
    assert (await c.request("claudeSync/push", {"operationId": "y", "all": True}))["done"] == 1


INVALID_PARAMS = [
    ("claudeSync/push", {"operationId": "x"}, "(params)"),
    ("claudeSync/push", {"operationId": "x", "all": True, "project": "acme"}, "(params)"),
    ("claudeSync/push", {"operationId": "x", "all": "yes"}, "all"),
    ("claudeSync/pull", {"operationId": "x", "sessionIds": "abc"}, "sessionIds"),
    ("claudeSync/pull", {"operationId": 5, "all": True}, "operationId"),
    ("claudeSync/configure", {"backend": "svn"}, "backend"),
    ("claudeSync/configure", {"gitUrl": "git@example.invalid:x.git"}, "gitUrl"),
    ("claudeSync/hooks", {"action": "toggle"}, "action"),
    ("claudeSync/cancel", {}, "operationId"),
    ("claudeSync/setToken", {"token": ""}, "token"),
]


async def test_invalid_params_are_rejected_with_32602_naming_the_field(sidecar, devices):
    a, _ = devices
    a.rich_session()
    c = await sidecar(a)
    for method, params, field in INVALID_PARAMS:
        err = await rpc_error(c.request(method, params))
        assert (err.code, err.data["code"]) == (-32602, "invalid_params"), (method, params)
        assert field in [p["field"] for p in err.data["problems"]], (method, params, err.data)
    assert json.loads(a.paths.config_file.read_text())["device"] == "alpha"
    assert c.notes("changed") == [] and c.notes("progress") == []


# -- the stream itself -----------------------------------------------------------


def raw_session(raw: RawJsonRpc) -> None:
    assert "result" in raw.call("initialize", {"processId": None, "capabilities": {}})
    raw.send("initialized", {}, notify=True)


def raw_shutdown(raw: RawJsonRpc) -> None:
    assert raw.call("shutdown")["result"] is None
    raw.send("exit", notify=True)
    assert raw.rest_of_stdout() == b""
    assert raw.proc.wait() == 0


def test_cancel_request_from_the_client_skips_the_sessions_not_yet_started(devices, tmp_path):
    a, _ = devices
    for i in range(2):
        a.rich_session(f"acme/p{i}")
    with open(tmp_path / "sidecar.stderr", "wb") as stderr:
        raw = RawJsonRpc(a, stderr)
        try:
            raw_session(raw)
            with exclusive(a.paths.lock_file):  # the push waits here, before its first session
                push = raw.send("claudeSync/push", {"operationId": "bulk", "all": True})
                raw.send("$/cancelRequest", {"id": push}, notify=True)  # what a CancellationToken sends
                assert raw.response(push)["error"]["code"] == -32800  # RequestCancelled
            # listRemote waits for the lock, so it answers once the cancelled push has let go of it.
            assert raw.call("claudeSync/listRemote")["result"]["entries"] == []
            raw_shutdown(raw)
        finally:
            raw.proc.kill()
    statuses = {m["params"]["status"] for m in raw.received if m.get("method") == "claudeSync/progress"}
    assert statuses <= {"skipped"}


def test_stdout_carries_nothing_but_json_rpc(devices, tmp_path):
    a, _ = devices
    a.rich_session()
    with open(tmp_path / "sidecar.stderr", "wb") as stderr:
        raw = RawJsonRpc(a, stderr)
        watchdog = threading.Timer(120, raw.proc.kill)  # a hung sidecar fails the test instead of hanging it
        watchdog.start()
        try:
            raw_session(raw)
            assert raw.call("claudeSync/status")["result"]["configured"] is True  # no params at all
            assert raw.call("claudeSync/listLocal", [None])["result"]["groups"]  # vscode-jsonrpc's undefined param
            assert raw.call("claudeSync/push", {"operationId": "p", "all": True})["result"]["done"] == 1  # runs git
            assert raw.call("claudeSync/push", {"all": True, "project": "x"})["error"]["code"] == -32602
            assert raw.call("claudeSync/nope")["error"]["code"] == -32601
            raw_shutdown(raw)
        finally:
            watchdog.cancel()
            raw.proc.kill()
    kinds = [m.get("method") for m in raw.received if "method" in m]
    assert kinds == ["claudeSync/progress", "claudeSync/changed"]
    log = (tmp_path / "sidecar.stderr").read_text()
    assert "Traceback" not in log


# -- delete and the never-sync list ----------------------------------------------


async def test_delete_everywhere_and_the_never_sync_list_through_the_sidecar(sidecar, devices):
    a, _ = devices
    s = a.session("acme/api").user("hello").write()
    c = await sidecar(a)
    await c.request("claudeSync/push", {"all": True})
    summary = await c.request("claudeSync/delete", {"sessionIds": [s.session_id[:8]], "where": "everywhere"})
    assert summary["done"] == 1 and "tombstone" in summary["outcomes"][0]["reason"]
    assert not (a.project_dir("acme/api") / f"{s.session_id}.jsonl").exists()
    err = await rpc_error(c.request("claudeSync/delete", {"sessionIds": [s.session_id], "where": "nowhere"}))
    assert err.code != 0

    listed = await c.request("claudeSync/neverSync", {"action": "add", "projects": ["clients/*"]})
    assert listed == {"projects": ["clients/*"], "sessions": []}
    secret = a.session("clients/bank").user("confidential").write()
    summary = await c.request("claudeSync/push", {"all": True})
    reasons = {o["sessionId"]: o["reason"] for o in summary["outcomes"]}
    assert reasons[secret.session_id] == "not synced by choice (never-sync list)"
    # The trees show it as such, name the entry that excludes it, and leave it out of Upload Changed.
    local = await c.request("claudeSync/listLocal")
    [bank] = [g for g in local["groups"] if g["projectKey"] == "clients/bank"]
    assert bank["neverSyncBy"] == "clients/*" and bank["sync"]["label"] == "not synced by choice"
    [row] = bank["sessions"]
    assert row["sync"]["state"] == "neverSync" and row["neverSyncBy"] == "clients/*"
    assert secret.session_id not in local["toUpload"]
    # The deleted session is a tombstone on the remote: drawn as deleted, never to download.
    remote = await c.request("claudeSync/listRemote")
    [gone] = [e for g in remote["groups"] for e in g["entries"] if e["sessionId"] == s.session_id]
    assert gone["sync"]["state"] == "deleted" and s.session_id not in remote["toDownload"]
    assert await c.request("claudeSync/neverSync", {"action": "remove", "projects": ["clients/*"]}) == {"projects": [], "sessions": []}


# -- end-to-end encryption -----------------------------------------------------------


async def test_encryption_is_set_up_joined_and_shown_through_the_sidecar(sidecar, devices):
    a, b = devices
    rich_session(a.paths.claude, a.cwd("acme/api"), str(a.home))
    ca = await sidecar(a)
    assert (await ca.request("claudeSync/encryptionStatus"))["encrypted"] is False
    made = await ca.request("claudeSync/encryptionInit", {"passphrase": "a long enough passphrase"})
    phrase = made["recoveryPhrase"]
    assert len(phrase.split()) == 24 and len(made["keyId"]) == 16
    assert (await ca.request("claudeSync/push", {"operationId": "p1", "all": True}))["done"] == 1
    err = await rpc_error(ca.request("claudeSync/encryptionShowPhrase", {"confirm": False}))
    assert err.data["code"] == "invalid_params"  # type: ignore[attr-defined]
    assert (await ca.request("claudeSync/encryptionShowPhrase", {"confirm": True}))["recoveryPhrase"] == phrase

    status = await ca.request("claudeSync/encryptionStatus")
    assert status["label"] == "end-to-end encrypted" and made["keyId"] in status["detail"]

    cb = await sidecar(b)
    assert (await cb.request("claudeSync/encryptionStatus"))["label"] == "end-to-end encrypted, not joined"
    err = await rpc_error(cb.request("claudeSync/listRemote"))
    assert err.data["code"] == "encryption_required"  # type: ignore[attr-defined]
    assert [r["id"] for r in err.data["remedies"]] == ["joinEncryption", "showDetails"]  # type: ignore[attr-defined]
    err = await rpc_error(cb.request("claudeSync/encryptionJoin", {"secret": "not the passphrase"}))
    assert err.data["code"] == "wrong_key"  # type: ignore[attr-defined]
    assert err.data["remedies"][0] == {"id": "joinEncryption", "title": "Try Again"}  # type: ignore[attr-defined]
    assert (await cb.request("claudeSync/encryptionStatus"))["joined"] is False  # nothing was stored
    assert (await cb.request("claudeSync/encryptionJoin", {"secret": "a long enough passphrase"}))["keyId"] == made["keyId"]
    status = await cb.request("claudeSync/encryptionStatus")
    assert status["joined"] and status["sealed"] == 1
    [entry] = (await cb.request("claudeSync/listRemote"))["entries"]
    assert entry["projectKey"] == "acme/api" and "hello.py" in entry["title"]
