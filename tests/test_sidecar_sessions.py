"""Sessions in the sidecar as the views show them: sync states, grouping, filtering, transcripts
and resuming. Real sidecars through a real JSON-RPC client; two devices sharing a bare repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from claude_sync import spill
from claude_sync.engine import DONE
from claude_sync.format import bundle
from claude_sync.lsp import actions
from claude_sync.lsp.models import SidecarOptions
from claude_sync.lsp.transcript import render_part
from tests.support.claude_fixture import rich_session
from tests.support.sidecar_client import rpc_error


def rows(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["sessionId"]: s for g in listing["groups"] for s in g["sessions"]}


def states(listing: dict[str, Any]) -> dict[str, str]:
    return {sid: s["sync"]["state"] for sid, s in rows(listing).items()}


def remote_states(listing: dict[str, Any]) -> dict[str, str]:
    return {e["sessionId"]: e["sync"]["state"] for g in listing["groups"] for e in g["entries"]}


def grow(transcript: Path, text: str) -> None:
    rec = json.loads(transcript.read_text().splitlines()[-1])
    rec.update(type="user", message={"role": "user", "content": text}, uuid=f"grown-{len(text)}-{text[:8]}")
    with transcript.open("a") as f:
        f.write(json.dumps(rec) + "\n")


async def test_states_follow_both_sides_without_reading_content(sidecar, devices):
    a, b = devices
    one, two = a.rich_session("acme/api"), a.rich_session("acme/web")
    stray = rich_session(a.paths.claude, "/srv/elsewhere", str(a.home))
    sa, sb = await sidecar(a), await sidecar(b)

    # The remote was never listed from here: nothing can be said yet.
    assert set(states(await sa.request("claudeSync/listLocal")).values()) == {"unknown", "notPortable"}

    await sa.request("claudeSync/push", {"operationId": "up", "sessionIds": [one.session_id]})
    await sa.request("claudeSync/listRemote")
    local = await sa.request("claudeSync/listLocal")
    assert states(local) == {one.session_id: "synced", two.session_id: "onlyHere", stray.session_id: "notPortable"}
    assert local["toUpload"] == [two.session_id] and local["toDownload"] == []
    row = rows(local)[one.session_id]["sync"]
    assert row == {"state": "synced", "label": "in sync", "icon": "pass", "color": "charts.green", "badge": ""}

    grow(one.transcript, "one more thing")
    assert states(await sa.request("claudeSync/listLocal"))[one.session_id] == "changedHere"

    remote = await sb.request("claudeSync/listRemote")
    assert remote_states(remote) == {one.session_id: "onlyThere"} and remote["toDownload"] == [one.session_id]
    await sb.request("claudeSync/pull", {"operationId": "down", "all": True})
    assert states(await sb.request("claudeSync/listLocal")) == {one.session_id: "synced"}

    await sa.request("claudeSync/push", {"operationId": "again", "sessionIds": [one.session_id]})
    await sb.request("claudeSync/listRemote")
    assert states(await sb.request("claudeSync/listLocal")) == {one.session_id: "newerThere"}
    [beta_copy] = list(b.paths.claude.glob(f"projects/*/{one.session_id}.jsonl"))
    grow(beta_copy, "continued on beta")
    listing = await sb.request("claudeSync/listLocal")
    assert states(listing) == {one.session_id: "diverged"}
    assert listing["toUpload"] == listing["toDownload"] == [one.session_id]
    [group] = listing["groups"]
    assert group["sync"]["state"] == "diverged" and group["sync"]["label"] == "1 to upload"


async def test_groups_newest_first_collapsed_beyond_three_one_size_everywhere(sidecar, devices):
    a, _ = devices
    many = [a.rich_session("acme/big") for _ in range(4)]
    late = a.session("acme/late", day=9).user("the newest one").write()
    c = await sidecar(a)
    await c.request("claudeSync/push", {"operationId": "up", "all": True})
    local = await c.request("claudeSync/listLocal")
    assert [g["projectKey"] for g in local["groups"]] == ["acme/late", "acme/big"]
    big = local["groups"][1]
    assert big["collapsed"] is True and local["groups"][0]["collapsed"] is False
    stamps = [s["lastTimestamp"] for s in big["sessions"]]
    assert stamps == sorted(stamps, reverse=True) and len(stamps) == len(many)
    remote = await c.request("claudeSync/listRemote")
    sizes = {e["sessionId"]: e["sizeText"] for g in remote["groups"] for e in g["entries"]}
    assert sizes == {sid: s["sizeText"] for sid, s in rows(await c.request("claudeSync/listLocal")).items()}
    assert late.session_id in sizes


async def test_a_filter_by_project_state_device_and_words(sidecar, devices):
    a, _ = devices
    api = a.rich_session("acme/api")
    a.rich_session("acme/web")
    c = await sidecar(a)
    await c.request("claudeSync/push", {"operationId": "up", "sessionIds": [api.session_id]})
    await c.request("claudeSync/listRemote")
    assert set(rows(await c.request("claudeSync/listLocal", {"query": "project:api"}))) == {api.session_id}
    only = await c.request("claudeSync/listLocal", {"query": "state:only"})
    assert api.session_id not in rows(only) and len(rows(only)) == 1 and only["filtered"] is True
    assert set(rows(await c.request("claudeSync/listLocal", {"query": "state:synced hello"}))) == {api.session_id}
    remote = await c.request("claudeSync/listRemote", {"query": "device:beta", "refresh": False})
    assert remote["groups"] == [] and len(remote["entries"]) == 1
    assert len((await c.request("claudeSync/listRemote", {"query": "device:alpha", "refresh": False}))["groups"]) == 1


async def test_open_transcript_renders_prompts_answers_and_tool_calls_here_and_on_the_remote(sidecar, devices):
    a, b = devices
    s = a.rich_session("acme/api")
    sa, sb = await sidecar(a), await sidecar(b)
    local = await sa.request("claudeSync/transcript", {"sessionId": s.session_id})
    text = local["markdown"]
    assert text.startswith("# ") and "## You · " in text and "## Claude · " in text and "**Tool call: " in text
    assert local["more"] is False and '"type"' not in text  # readable, not JSON
    await sa.request("claudeSync/push", {"operationId": "up", "all": True})
    remote = await sb.request("claudeSync/transcript", {"sessionId": s.session_id, "side": "remote"})
    assert "**Tool call: " in remote["markdown"] and str(a.home) not in remote["markdown"]
    assert b.cwd("acme/api") in remote["markdown"]  # with this device's paths
    err = await rpc_error(sa.request("claudeSync/transcript", {"sessionId": "no-such-session"}))
    assert err.code == -32004


@pytest.mark.parametrize("kind", ["git", "server"])
def test_a_remote_transcript_that_waits_in_a_temp_file_opens(kind, devices, tmp_path, monkeypatch, request):  # type: ignore[no-untyped-def]
    """A large file of a fetched session is a temp file (spill.py), gone when the engine closes: the
    remote transcript is read from it before then."""
    if kind == "server":
        server = request.getfixturevalue("sync_server")
        devices = server.device(tmp_path / "s", "alpha", "code"), server.device(tmp_path / "s", "beta", "work/projects")
    a, b = devices
    s = a.rich_session("acme/api")
    assert a.push(all=True).count(DONE) == 1
    monkeypatch.setattr(spill, "SPILL_BYTES", 64)  # every file spills
    if kind == "server":  # and the server's bundle unpacks past the in-memory limit, so it streams
        monkeypatch.setattr(bundle, "_IN_MEMORY_UNPACKED", 64)
    shown = actions.transcript(b.paths, SidecarOptions(), s.session_id, "remote", 0)
    assert "**Tool call: " in shown["markdown"] and b.cwd("acme/api") in shown["markdown"]
    assert str(a.home) not in shown["markdown"]


def test_a_long_transcript_comes_in_parts_read_line_by_line() -> None:
    lines = (
        json.dumps({"type": "user", "message": {"role": "user", "content": f"prompt {i} " + "x" * 5000}}).encode()
        for i in range(200)
    )
    first = render_part(lines, "Long", 0)
    assert first["more"] is True and "prompt 0 " in first["markdown"] and "prompt 199 " not in first["markdown"]
    last = render_part(
        (json.dumps({"type": "user", "message": {"role": "user", "content": f"prompt {i} " + "x" * 5000}}).encode() for i in range(200)),
        "Long",
        2,
    )
    assert last["more"] is False and "prompt 199 " in last["markdown"] and "(part 3)" in last["markdown"]


async def test_resume_plan_warns_about_another_branch_and_changes_the_session_did_not_make(sidecar, devices):
    a, b = devices
    s = a.rich_session("acme/api")
    cwd = a.cwd("acme/api")
    git = ["git", "-C", cwd, "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run(["git", "init", "-q", "-b", "main", cwd], check=True)
    (Path(cwd) / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    c = await sidecar(a)
    plan = await c.request("claudeSync/resumePlan", {"sessionId": s.session_id})
    assert plan == {"sessionId": s.session_id, "local": True, "cwd": cwd, "command": f"claude --resume {s.session_id}", "warnings": []}

    subprocess.run([*git, "checkout", "-qb", "feature"], check=True)
    (Path(cwd) / "README.md").write_text("changed by hand\n")
    warnings = (await c.request("claudeSync/resumePlan", {"sessionId": s.session_id}))["warnings"]
    assert warnings == [
        "the checkout is on branch feature, but the session ran on main",
        "the checkout has uncommitted changes the session did not make: README.md",
    ]

    await c.request("claudeSync/push", {"operationId": "up", "all": True})
    sb = await sidecar(b)
    await sb.request("claudeSync/listRemote")
    assert (await sb.request("claudeSync/resumePlan", {"sessionId": s.session_id}))["local"] is False
