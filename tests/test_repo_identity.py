"""Repository identity (issue #17): URL normalization, work trees, choosing among checkouts, keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_sync.checkouts import CheckoutIndex, Checkouts, choose, identity_of
from claude_sync.engine import in_project
from claude_sync.format.errors import NotPortable
from claude_sync.format.tokens import Flavour
from claude_sync.project import DeviceLayout, NoCheckout, display_name, kind_of, repo_key, split_repo_key, validate_key
from claude_sync.repos import WorkTree, locate, normalize_url, read_work_tree, remotes_in_config
from tests.support.repos import git, make_origin

# -- normalization ------------------------------------------------------------------------

SAME_REPO = [
    "https://github.com/acme/api.git",
    "https://github.com/acme/api",
    "https://github.com/acme/api/",
    "https://github.com/acme/api.git/",
    "https://GitHub.COM/acme/api",
    "http://github.com/acme/api",
    "https://user:s3cret@github.com/acme/api.git",
    "https://x-access-token:ghp_abc@github.com:443/acme/api",
    "ssh://git@github.com/acme/api.git",
    "ssh://git@github.com:22/acme/api",
    "git+ssh://git@github.com/acme/api",
    "git://github.com/acme/api.git",
    "git@github.com:acme/api.git",
    "git@github.com:acme/api",
    "github.com:acme/api/",
    "  git@GITHUB.com:acme/api.git\n",
]


@pytest.mark.parametrize("url", SAME_REPO)
def test_every_spelling_of_one_repository_is_equal(url: str):
    assert normalize_url(url) == "github.com/acme/api"


def test_ports_are_dropped_so_ssh_and_https_on_other_ports_agree():
    assert normalize_url("ssh://git@gitlab.example.com:2222/team/api.git") == "gitlab.example.com/team/api"
    assert normalize_url("https://gitlab.example.com:8443/team/api") == "gitlab.example.com/team/api"
    assert normalize_url("https://[::1]:8443/team/api") == "[::1]/team/api"


def test_the_path_keeps_its_case_and_its_depth():
    assert normalize_url("https://gitlab.com/Group/Sub/Repo.git") == "gitlab.com/Group/Sub/Repo"
    assert normalize_url("https://github.com/acme/api") != normalize_url("https://github.com/acme/api2")
    assert normalize_url("https://github.com/acme/API") != normalize_url("https://github.com/acme/api")


def test_local_repositories_are_their_absolute_path():
    assert normalize_url("/srv/git/api.git") == "/srv/git/api"
    assert normalize_url("/srv/git/api.git/") == "/srv/git/api"
    assert normalize_url("file:///srv/git/api.git") == "/srv/git/api"
    assert normalize_url("/srv/git/api/.git") == "/srv/git/api"
    assert normalize_url("C:\\repos\\api.git") == "c:/repos/api"
    assert normalize_url("file:///C:/repos/api.git") == "c:/repos/api"


@pytest.mark.parametrize("url", ["", "   ", "https://", "https:///x", "relative/path", "../x", "ssh://host/../etc", "a\nb"])
def test_what_names_no_repository_is_none(url: str):
    assert normalize_url(url) is None


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12).filter(
    lambda s: not s.endswith(".git")
)
_host = st.builds(lambda a, b: f"{a}.{b}", _name, st.sampled_from(["com", "org", "io", "example"]))


@st.composite
def _spelling(draw):  # type: ignore[no-untyped-def]
    host, path = draw(_host), draw(st.lists(_name, min_size=1, max_size=4))
    user = draw(st.sampled_from(["", "git@", "user:SECRET@", "x-token:SECRET@"]))  # upper case: never in a name
    port = draw(st.sampled_from(["", ":22", ":443", ":2222", ":8080"]))
    suffix = draw(st.sampled_from(["", ".git", "/", ".git/", "//"]))
    upper = draw(st.booleans())
    h = host.upper() if upper else host
    form = draw(st.sampled_from(["https", "http", "ssh", "git+ssh", "scp"]))
    joined = "/".join(path)
    if form == "scp":
        url = f"{user.replace(':SECRET', '')}{h}:{joined}{suffix}"
    else:
        url = f"{form}://{user}{h}{port}/{joined}{suffix}"
    return url, f"{host}/{joined}"


@given(_spelling())
def test_property_any_spelling_normalizes_to_host_and_path(case):  # type: ignore[no-untyped-def]
    url, expected = case
    assert normalize_url(url) == expected


@given(_spelling())
def test_property_normalizing_is_idempotent_and_drops_credentials(case):  # type: ignore[no-untyped-def]
    url, _ = case
    once = normalize_url(url)
    assert once is not None
    assert normalize_url("https://" + once) == once
    assert "SECRET" not in once and "@" not in once


# -- a repository key --------------------------------------------------------------------


def test_repository_keys_and_their_kind_and_name():
    assert repo_key("github.com/acme/api") == "git:github.com/acme/api"
    assert repo_key("github.com/acme/api", "services/billing") == "git:github.com/acme/api//services/billing"
    assert split_repo_key("git:github.com/acme/api//services/billing") == ("github.com/acme/api", "services/billing")
    assert split_repo_key("acme/api") is None
    assert kind_of("git:/srv/x") == "repository" and kind_of("acme/api") == "projects root" and kind_of("~/x") == "home"
    assert display_name("git:github.com/acme/api//services/billing") == "api/services/billing"
    for bad in ("git:", "git:github.com/../x", "git:github.com/acme/api//../../etc", "git:x//a\\b", "git:a\x00b"):
        with pytest.raises(NotPortable):
            validate_key(bad)


def test_a_repository_owns_its_subfolders_not_a_longer_repository():
    assert in_project("git:h/acme/api//sub", "git:h/acme/api")
    assert in_project("git:h/acme/api", "git:h/acme/api")
    assert not in_project("git:h/acme/api/x", "git:h/acme/api")
    assert in_project("git:h/acme/api//sub/deeper", "git:h/acme/api//sub")
    assert not in_project("git:h/acme/api//subway", "git:h/acme/api//sub")


def test_what_a_user_types_for_a_repository():
    assert identity_of("git@github.com:acme/api.git") == "github.com/acme/api"
    assert identity_of("git:github.com/acme/api//sub") == "github.com/acme/api"
    assert identity_of("github.com/acme/api") == "github.com/acme/api"
    assert identity_of("nothing") is None


# -- reading git's own files ---------------------------------------------------------------


def test_remotes_are_read_from_a_git_config():
    text = '''[core]
\tbare = false
[remote "upstream"]
\turl = https://github.com/upstream/api.git
\tfetch = +refs/heads/*:refs/remotes/upstream/*
[remote "origin"]  # mine
\turl = "git@github.com:me/api.git" ; a comment
[remote "origin"]
\turl = https://other/ignored
'''
    assert remotes_in_config(text) == {"upstream": "https://github.com/upstream/api.git", "origin": "git@github.com:me/api.git"}


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return make_origin(tmp_path, "api.git", ("main", "feature"))


def test_a_work_tree_its_worktrees_and_every_remote(tmp_path: Path, origin: Path):
    clone = tmp_path / "code" / "api"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    git("remote", "add", "fork", "git@github.com:me/api.git", cwd=clone)
    wt = tmp_path / "code" / "api-feature"
    git("worktree", "add", "-q", str(wt), "feature", cwd=clone)
    main = read_work_tree(clone)
    linked = read_work_tree(wt)
    ident = str(origin.parent / "api")
    assert main == WorkTree(str(clone), (("origin", ident), ("fork", "github.com/me/api")), "main", True)
    assert linked == WorkTree(str(wt), main.remotes, "feature", False)  # type: ignore[union-attr]
    found = locate(str(clone / "sub"))
    assert found is not None and found.sub == "sub" and found.tree.identity == ident
    layout = DeviceLayout(str(tmp_path / "code"), str(tmp_path), Flavour.POSIX, Checkouts([str(tmp_path / "code")], tmp_path / "c.json", tmp_path / "m.json"))
    assert layout.key_for(str(clone / "sub")) == f"git:{ident}//sub"
    # The checkout answers to each of its remotes, and to its place under the projects root.
    assert layout.keys_for(str(clone)) == [f"git:{ident}", "git:github.com/me/api", "api"]


def test_the_index_finds_checkouts_and_pulled_sessions_go_to_the_right_one(tmp_path: Path, origin: Path):
    roots = tmp_path / "elsewhere"
    clone = roots / "deep" / "acme-api-2"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    wt = roots / "acme-feature"
    git("worktree", "add", "-q", str(wt), "feature", cwd=clone)
    checkouts = Checkouts([str(roots)], tmp_path / "cache.json", tmp_path / "map.json")
    layout = DeviceLayout(str(tmp_path / "projects"), str(tmp_path), Flavour.POSIX, checkouts)
    ident = str(origin.parent / "api")
    assert layout.cwd_for(f"git:{ident}") == str(clone)
    assert layout.cwd_for(f"git:{ident}//sub/x") == str(clone / "sub" / "x")
    assert layout.cwd_for(f"git:{ident}", "feature") == str(wt)
    assert layout.cwd_for(f"git:{ident}", "gone") == str(clone)
    with pytest.raises(NoCheckout, match="no local checkout of github.com/other/repo"):
        layout.cwd_for("git:github.com/other/repo")
    # The cache is reused while nothing changed, and sees a new clone when its parent folder changes.
    again = Checkouts([str(roots)], tmp_path / "cache.json", tmp_path / "map.json")
    assert not again.index.refresh()
    other = tmp_path / "other.git"
    git("init", "-q", "--bare", str(other), cwd=tmp_path)
    git("clone", "-q", str(other), str(roots / "other"), cwd=tmp_path)
    fresh = Checkouts([str(roots)], tmp_path / "cache.json", tmp_path / "map.json")
    assert fresh.folder_for([str(tmp_path / "other")]) == str(roots / "other")
    # A pinned folder wins, and is remembered.
    pinned = tmp_path / "chosen"
    pinned.mkdir()
    fresh.mappings.pin(ident, str(pinned))
    assert Checkouts([str(roots)], tmp_path / "cache.json", tmp_path / "map.json").folder_for([ident]) == str(pinned)


def test_a_damaged_index_cache_is_walked_again(tmp_path: Path):
    assert CheckoutIndex.from_json("{not json", ["/x"]).trees == {}
    assert CheckoutIndex.from_json('{"version": 1, "roots": ["/x"], "dirs": 3, "trees": {}}', ["/x"]).trees == {}


# -- choosing among checkouts -------------------------------------------------------------


def tree(root: str, branch: str | None, main: bool) -> WorkTree:
    return WorkTree(root, (("origin", "h/r"),), branch, main)


def test_choose_prefers_the_same_branch_then_the_main_work_tree():
    a, b, c = tree("/a", "main", True), tree("/b", "feature", False), tree("/c", "feature", True)
    assert choose([a, b], "feature") == b
    assert choose([a, b, c], "feature") == c  # two on the branch: the main work tree
    assert choose([b, a], "other") == a
    assert choose([b, a], None) == a
    assert choose([tree("/z", "x", False), tree("/y", "w", False)], None).root == "/y"  # type: ignore[union-attr]
    assert choose([], "main") is None


_trees = st.lists(
    st.builds(tree, st.sampled_from(["/a", "/b", "/c", "/d"]), st.sampled_from([None, "main", "dev", "feature"]), st.booleans()),
    max_size=6,
    unique_by=lambda t: t.root,
)


@given(_trees, st.sampled_from([None, "main", "dev", "feature", "other"]))
def test_property_choose(trees, branch):  # type: ignore[no-untyped-def]
    got = choose(trees, branch)
    if not trees:
        assert got is None
        return
    assert got in trees
    assert choose(list(reversed(trees)), branch) == got  # the order found does not matter
    on_branch = [t for t in trees if branch and t.branch == branch]
    if on_branch:
        assert got.branch == branch
    elif any(t.main for t in trees):
        assert got.main

