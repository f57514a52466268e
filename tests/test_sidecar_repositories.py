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
        {"identity": ident, "key": f"git:{ident}", "name": "acme-api", "cloneUrl": ident, "folder": str(chosen),
         "pinned": True, "checkouts": []}
    ]
    [entry] = (await c.request("claudeSync/listRemote"))["entries"]
    assert entry["localFolder"] == str(chosen)
    pulled = await c.request("claudeSync/pull", {"sessionIds": [s.session_id]})
    assert pulled["done"] == 1
    assert FixtureSession(b.paths.claude, str(chosen), s.session_id).transcript.is_file()

    unpinned = await c.request("claudeSync/mapRepository", {"repository": ident, "folder": None})
    # No checkout, no pin: still known from the remote listing, with nowhere to go.
    assert [(r["identity"], r["folder"], r["pinned"]) for r in unpinned["repositories"]] == [(ident, None, False)]
    err = await rpc_error(c.request("claudeSync/mapRepository", {"repository": "not a url", "folder": str(chosen)}))
    assert "names no repository" in str(err)


async def test_a_repository_with_no_checkout_is_cloned_where_the_user_says_and_its_sessions_follow(sidecar, devices, tmp_path: Path):  # noqa: F811
    a, b = devices
    origin = make_origin(tmp_path)
    clone = a.projects / "api"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    s = FixtureSession(a.paths.claude, str(clone / "services")).user("hi").assistant("ok").write()
    a.engine().push(Selection(all=True))
    ident = str(origin.parent / "acme-api")

    c = await sidecar(b)
    await c.request("claudeSync/listRemote")
    [repo] = (await c.request("claudeSync/repositories"))["repositories"]
    assert (repo["identity"], repo["folder"], repo["cloneUrl"]) == (ident, None, ident)
    parent = b.home / "src"
    parent.mkdir()
    # Another repository's URL is refused before anything is cloned.
    err = await rpc_error(c.request("claudeSync/cloneRepository", {"repository": ident, "parent": str(parent), "url": str(tmp_path / "nope.git")}))
    assert "is not the repository" in str(err) and list(parent.iterdir()) == []
    # A clone that fails (the origin's objects are gone) leaves nothing behind.
    objects = tmp_path / "origin" / "acme-api.git" / "objects"
    objects.rename(objects.with_name("objects-away"))
    err = await rpc_error(c.request("claudeSync/cloneRepository", {"repository": f"git:{ident}", "parent": str(parent)}))
    assert "cannot clone" in str(err) and list(parent.iterdir()) == []
    objects.with_name("objects-away").rename(objects)

    done = await c.request("claudeSync/cloneRepository", {"repository": f"git:{ident}", "parent": str(parent)})
    assert done["folder"] == str(parent / "acme-api") and (parent / "acme-api" / "services" / "billing" / "README").is_file()
    [repo] = done["repositories"]
    assert repo["folder"] == str(parent / "acme-api") and repo["pinned"]
    err = await rpc_error(c.request("claudeSync/cloneRepository", {"repository": ident, "parent": str(parent)}))
    assert "already exists" in str(err)
    assert (await c.request("claudeSync/pull", {"sessionIds": [s.session_id]}))["done"] == 1
    assert FixtureSession(b.paths.claude, str(parent / "acme-api" / "services"), s.session_id).transcript.is_file()
    [group] = (await c.request("claudeSync/listLocal"))["groups"]
    assert (group["projectKey"], group["projectName"], group["projectKind"]) == (f"git:{ident}//services", "acme-api/services", "repository")
