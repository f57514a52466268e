"""The sidecar's view of repositories (issue #17): where each one's sessions go, and pinning a folder."""

from __future__ import annotations

from pathlib import Path

from claude_sync.engine import Selection
from tests.support.claude_fixture import FixtureSession
from tests.support.repos import git, make_origin
from tests.support.sidecar_client import rpc_error, sidecar  # noqa: F401 - the fixture


async def test_remote_entries_name_their_repository_and_a_pinned_folder_places_them(sidecar, devices, tmp_path: Path):  # noqa: F811
    a, b = devices
    origin = make_origin(tmp_path)
    clone = a.projects / "api"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    s = FixtureSession(a.paths.claude, str(clone)).user("hi").assistant("ok").write()
    a.engine().push(Selection(all=True))
    ident = str(origin.parent / "acme-api")

    c = await sidecar(b)
    [entry] = (await c.request("claudeSync/listRemote"))["entries"]
    assert (entry["projectName"], entry["projectKind"], entry["repository"]) == ("acme-api", "repository", ident)
    assert entry["localFolder"] is None and entry["placement"] == "no local checkout"

    chosen = b.home / "chosen"
    chosen.mkdir()
    mapped = await c.request("claudeSync/mapRepository", {"repository": f"git:{ident}", "folder": str(chosen)})
    assert mapped["repositories"] == [
        {"identity": ident, "key": f"git:{ident}", "name": "acme-api", "folder": str(chosen), "pinned": True, "checkouts": []}
    ]
    [entry] = (await c.request("claudeSync/listRemote"))["entries"]
    assert entry["localFolder"] == str(chosen)
    pulled = await c.request("claudeSync/pull", {"sessionIds": [s.session_id]})
    assert pulled["done"] == 1
    assert FixtureSession(b.paths.claude, str(chosen), s.session_id).transcript.is_file()

    unpinned = await c.request("claudeSync/mapRepository", {"repository": ident, "folder": None})
    assert unpinned == {"repositories": []}  # no checkout, no pin: known only from the remote listing
    err = await rpc_error(c.request("claudeSync/mapRepository", {"repository": "not a url", "folder": str(chosen)}))
    assert "names no repository" in str(err)
