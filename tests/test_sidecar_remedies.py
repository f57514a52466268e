"""The sidecar on a first start and when things go wrong: what the extension needs to guide a user.

Real sidecar processes driven through a real JSON-RPC client; real remotes (bare Git repositories,
Git over smart HTTP, the sync server) on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.support.claude_fixture import rich_session
from tests.support.devices import Device
from tests.support.fixtures import GitRemote
from tests.support.sidecar_client import rpc_error
from tests.support.sync_server import SyncServer


def remedy_ids(err: JsonRpcException) -> list[str]:
    return [r["id"] for r in err.data["remedies"]]


def no_command_line(text: str) -> bool:
    """What an extension user reads never sends them to a CLI they may not have."""
    return "claude-sync " not in text and "`" not in text and "--" not in text


def checks(result: dict[str, Any]) -> dict[str, bool]:
    return {c["name"]: c["ok"] for c in result["checks"]}


# -- a first start -------------------------------------------------------------------------


async def test_an_unconfigured_device_lists_nothing_and_an_operation_offers_configure_device(sidecar, tmp_path):
    dev = Device(tmp_path, "fresh", "code")
    dev.paths.config_file.unlink()
    dev.rich_session()
    c = await sidecar(dev)
    # Listing is not an error: the views show their welcome with buttons instead.
    listing = await c.request("claudeSync/listLocal")
    assert (listing["configured"], listing["groups"], listing["toUpload"]) == (False, [], [])
    assert (await c.request("claudeSync/listRemote"))["configured"] is False
    err = await rpc_error(c.request("claudeSync/push", {"operationId": "x", "all": True}))
    assert err.code == -32001 and remedy_ids(err) == ["configureDevice"]
    assert err.data["remedies"][0]["title"] == "Configure Device"
    assert "not set up" in err.message and no_command_line(err.message)


async def test_a_first_remote_alone_needs_the_device_first_and_says_so_without_a_command_line(sidecar, tmp_path):
    dev = Device(tmp_path, "fresh", "code")
    dev.paths.config_file.unlink()
    c = await sidecar(dev)
    err = await rpc_error(c.request("claudeSync/configure", {"gitRepoUrl": str(tmp_path / "r.git")}))
    assert "projects root" in err.message and no_command_line(err.message)
    assert remedy_ids(err) == ["configureDevice", "showDetails"]


# -- testing a remote before it is saved ------------------------------------------------------


async def test_check_remote_passes_a_bare_repository_and_saves_nothing(sidecar, devices, tmp_path):
    a, _ = devices
    c = await sidecar(a)
    before = a.paths.config_file.read_text()
    other = tmp_path / "other.git"
    subprocess.run(["git", "init", "-q", "--bare", str(other)], check=True)
    result = await c.request("claudeSync/checkRemote", {"backend": "git", "gitRepoUrl": str(other)})
    assert result["ok"] is True and result["severity"] == "info" and result["remedies"] == []
    assert checks(result) == {"reachable": True, "authorised": True, "writable": True}
    assert a.paths.config_file.read_text() == before and c.notes("changed") == []


async def test_check_remote_of_a_missing_repository_fails_reachable_with_change_url(sidecar, devices, tmp_path):
    a, _ = devices
    c = await sidecar(a)
    result = await c.request("claudeSync/checkRemote", {"backend": "git", "gitRepoUrl": str(tmp_path / "nope.git")})
    assert result["ok"] is False and result["severity"] == "error"
    assert checks(result) == {"reachable": False}
    assert [r["id"] for r in result["remedies"]] == ["changeUrl", "showDetails"]
    assert result["remedies"][0]["backend"] == "git"
    result = await c.request("claudeSync/checkRemote", {"backend": "git", "gitRepoUrl": "ssh://git@127.0.0.1:1/x.git"})
    assert result["ok"] is False and checks(result) == {"reachable": False}


async def test_check_remote_over_http_tells_reachable_authorised_and_writable_apart(sidecar, devices, http_remote, http_remote_auth):
    a, _ = devices
    c = await sidecar(a)
    result = await c.request("claudeSync/checkRemote", {"backend": "git", "gitRepoUrl": http_remote.url})
    assert checks(result) == {"reachable": True, "authorised": True, "writable": True}, result

    # The host answers, but not without credentials.
    result = await c.request("claudeSync/checkRemote", {"backend": "git", "gitRepoUrl": http_remote_auth.url})
    assert checks(result) == {"reachable": True, "authorised": False}, result
    assert result["severity"] == "error"

    # Readable, but pushes are refused: a warning, since the sessions there can still be downloaded.
    read_only: GitRemote = http_remote
    subprocess.run(["git", "--git-dir", str(read_only.path), "config", "http.receivepack", "false"], check=True)
    result = await c.request("claudeSync/checkRemote", {"backend": "git", "gitRepoUrl": read_only.url})
    assert checks(result) == {"reachable": True, "authorised": True, "writable": False}, result
    assert result["severity"] == "warning" and "may not push" in result["message"]
    assert subprocess.run(["git", "--git-dir", str(read_only.path), "for-each-ref"], capture_output=True, text=True).stdout == ""


async def test_check_remote_of_the_sync_server_checks_the_token(sidecar, sync_server: SyncServer, devices):
    a, _ = devices
    c = await sidecar(a)
    good = await c.request("claudeSync/checkRemote", {"backend": "server", "serverUrl": sync_server.url, "token": sync_server.token})
    assert good["ok"] is True and checks(good) == {"reachable": True, "authorised": True, "writable": True}

    bad = await c.request("claudeSync/checkRemote", {"backend": "server", "serverUrl": sync_server.url, "token": "wrong"})
    assert checks(bad) == {"reachable": True, "authorised": False} and bad["severity"] == "error"
    assert [r["id"] for r in bad["remedies"]] == ["setToken", "showDetails"]

    none = await c.request("claudeSync/checkRemote", {"backend": "server", "serverUrl": sync_server.url})
    assert checks(none) == {"reachable": True, "authorised": False} and "no token" in none["message"]

    closed = await c.request("claudeSync/checkRemote", {"backend": "server", "serverUrl": "http://127.0.0.1:1"})
    assert checks(closed) == {"reachable": False} and [r["id"] for r in closed["remedies"]] == ["changeUrl", "showDetails"]


# -- errors carry their remedy ---------------------------------------------------------------------


async def test_a_token_the_server_refuses_offers_set_token_without_a_command_line(sidecar, sync_server: SyncServer, devices):
    a, _ = devices
    c = await sidecar(a)
    await c.request("claudeSync/configure", {"backend": "server", "serverUrl": sync_server.url})
    await c.request("claudeSync/setToken", {"token": "not-the-token"})
    err = await rpc_error(c.request("claudeSync/listRemote"))
    assert err.code == -32002 and err.data["code"] == "backend_error"
    assert remedy_ids(err) == ["setToken", "showDetails"] and no_command_line(err.message), err.message


async def test_an_unreachable_repository_offers_change_url_and_details(sidecar, tmp_path):
    dev = Device(tmp_path, "alpha", "code", git_url=str(tmp_path / "gone.git"))
    c = await sidecar(dev)
    err = await rpc_error(c.request("claudeSync/listRemote"))
    assert err.code == -32002 and remedy_ids(err) == ["changeUrl", "showDetails"]
    assert err.data["remedies"][0]["backend"] == "git"


async def test_a_domain_error_is_logged_by_the_extension_only(sidecar, tmp_path, capfd):
    dev = Device(tmp_path, "alpha", "code", git_url=str(tmp_path / "gone.git"))
    c = await sidecar(dev)
    await rpc_error(c.request("claudeSync/listRemote"))
    assert "gone.git" not in capfd.readouterr().err  # the sidecar's stderr goes to the same output channel


# -- the remote view: which remote, fetched when ----------------------------------------------------


async def test_list_remote_names_the_remote_and_when_it_was_fetched(sidecar, devices, bare_remote):
    a, _ = devices
    c = await sidecar(a)
    assert (await c.request("claudeSync/status"))["remote"]["fetchedAt"] is None
    listing = await c.request("claudeSync/listRemote")
    assert listing["remote"] == {"backend": "git", "url": str(bare_remote), "branch": "main", "label": f"Git (main) · {bare_remote}"}
    assert listing["fetchedAt"].endswith("+00:00")
    assert (await c.request("claudeSync/status"))["remote"]["fetchedAt"] == listing["fetchedAt"]


# -- summaries ------------------------------------------------------------------------------------


async def test_upload_all_counts_not_portable_sessions_apart_from_failures(sidecar, devices):
    a, _ = devices
    a.rich_session("acme/api")
    for i in range(2):
        rich_session(a.paths.claude, f"/srv/elsewhere-{i}", str(a.home))
    c = await sidecar(a)
    summary = await c.request("claudeSync/push", {"operationId": "all", "all": True})
    assert (summary["done"], summary["skipped"], summary["notPortable"], summary["failed"]) == (1, 2, 2, 0)
    assert summary["text"] == "Upload: 1 done, 2 skipped, not portable."
    progress = [p for p in c.notes("progress") if p["status"] == "skipped"]
    assert len(progress) == 2 and all("not portable" in p["message"] for p in progress)


def test_cli_hints_are_cut_from_messages_meant_for_the_extension() -> None:
    from claude_sync.lsp.remedies import without_cli_hints

    assert without_cli_hints(
        "the sync server https://s:8443 did not accept the token (bad): set a valid one with `claude-sync token set`"
    ) == "the sync server https://s:8443 did not accept the token (bad)"
    assert without_cli_hints("no token for http://h:1/: run `claude-sync token set` (it reads the token from stdin)") == (
        "no token for http://h:1/"
    )
    assert without_cli_hints(
        "cannot verify the TLS certificate of https://x: bad (configure the CA with `claude-sync configure --ca-bundle FILE`)"
    ) == "cannot verify the TLS certificate of https://x: bad"
    assert without_cli_hints("git fetch failed: fatal: no such repo") == "git fetch failed: fatal: no such repo"

