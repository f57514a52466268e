"""Project identity: a working directory expressed so that every device finds its own copy.

Three kinds of project key, tried in this order (keys always use '/'):

* repository: a folder inside a git work tree with a remote is `git:<identity>` at the top
  of the work tree and `git:<identity>//<path inside>` below it, where the identity is the
  normalized URL of the remote (repos.py; `origin` first). Another device places it in its
  own checkout of that repository, wherever that is (checkouts.py);
* projects root: `~/code/acme/api` with projects root `~/code` is `acme/api`;
* home: a folder outside the projects root but inside home is `~/rel/path`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from . import repos
from .checkouts import Checkouts
from .claude_home import project_folder_name
from .format.errors import NotPortable
from .format.layout import CONTROL_CHARACTER
from .format.tokens import HOME, PROJECT_ROOT, PROJECTS_ROOT, REPO_ROOT, Flavour, PathTokens, split_path

HOME_PREFIX = "~"
REPO_PREFIX = "git:"
SUB_SEPARATOR = "//"  # never inside an identity: normalizing drops empty path components

REPOSITORY, PROJECTS_ROOT_KIND, HOME_KIND = "repository", "projects root", "home"


class NoCheckout(NotPortable):
    """A repository this device has no checkout of: the session is listed but not placed."""

    code = "no_local_checkout"

    def __init__(self, identity: str) -> None:
        super().__init__(
            f"no local checkout of {identity}: clone it, or pin a folder with `claude-sync map {identity} FOLDER`"
        )
        self.identity = identity


def repo_key(identity: str, sub: str = "") -> str:
    return REPO_PREFIX + identity + (SUB_SEPARATOR + sub if sub else "")


def split_repo_key(key: str) -> tuple[str, str] | None:
    """(identity, path inside the repository) of a repository key; None for the other kinds."""
    if not key.startswith(REPO_PREFIX):
        return None
    identity, _, sub = key[len(REPO_PREFIX):].partition(SUB_SEPARATOR)
    return identity, sub


def kind_of(key: str) -> str:
    if key.startswith(REPO_PREFIX):
        return REPOSITORY
    return HOME_KIND if key.split("/")[0] == HOME_PREFIX else PROJECTS_ROOT_KIND


def display_name(key: str) -> str:
    """How a listing names a project: the repository's short name (plus the subfolder), else the key."""
    split = split_repo_key(key)
    if split is None:
        return key
    identity, sub = split
    return repos.short_name(identity) + ("/" + sub if sub else "")


def _rel(path: str, base: str, flavour: Flavour) -> list[str] | None:
    pd, pc = split_path(path, flavour)
    bd, bc = split_path(base, flavour)
    if flavour is Flavour.WINDOWS:
        # Windows file names compare without case.
        if pd.upper() != bd.upper() or [c.lower() for c in pc[: len(bc)]] != [c.lower() for c in bc]:
            return None
    elif pc[: len(bc)] != bc:
        return None
    return pc[len(bc) :]


def project_key_for(cwd: str, projects_root: str, home: str, flavour: Flavour) -> str:
    """The portable key of a working directory; NotPortable when it has none."""
    if CONTROL_CHARACTER.search(cwd):  # every device would refuse its key (validate_key)
        raise NotPortable(f"{cwd!r} holds a control character, which no project key may")
    rel = _rel(cwd, projects_root, flavour)
    if rel is not None:
        return "/".join(rel) or "."
    rel = _rel(cwd, home, flavour)
    if rel is not None:
        return "/".join([HOME_PREFIX, *rel])
    raise NotPortable(
        f"{cwd} is neither under the projects root {projects_root} nor under the home directory {home}, "
        "so it has no place on another device"
    )


def validate_key(key: str) -> None:
    # A key names folders here and shows in listings and hovers: no line breaks or terminal escapes.
    if CONTROL_CHARACTER.search(key):
        raise NotPortable(f"invalid project key {key!r}: it holds a control character")
    split = split_repo_key(key)
    if split is not None:
        identity, sub = split
        bad = (
            not identity
            or len(key) > 2048
            or any(p in ("", ".", "..") for p in identity.lstrip("/").split("/"))
            or (sub and any(p in ("", ".", "..") or "\\" in p or ":" in p for p in sub.split("/")))
        )
        if bad:
            raise NotPortable(f"invalid project key {key!r}")
        return
    parts = key.split("/")
    if key != "." and any(p in ("", ".", "..") or "\\" in p or ":" in p for p in parts[1 if parts[0] == HOME_PREFIX else 0 :]):
        raise NotPortable(f"invalid project key {key!r}")


def cwd_for_key(key: str, projects_root: str, home: str, flavour: Flavour) -> str:
    """This device's working directory for a project key."""
    validate_key(key)
    parts = key.split("/")
    if parts[0] == HOME_PREFIX:
        base, parts = home, parts[1:]
    else:
        base = projects_root
        if key == ".":
            parts = []
    sep = "\\" if flavour is Flavour.WINDOWS else "/"
    base = base.rstrip("\\/") if len(base) > 1 else base
    return base + "".join(sep + p for p in parts)


@dataclass(frozen=True)
class DeviceLayout:
    """The paths of one device that sessions are rewritten against."""

    projects_root: str
    home: str
    flavour: Flavour
    # This device's checkouts; without them (tests, tools) projects are keyed by folder only.
    checkouts: Checkouts | None = field(default=None, compare=False)
    # The repository root of each folder, as found so far (remembering_roots): looking it up
    # takes a stat of every folder up to the filesystem's root, for each session of a project.
    roots: dict[str, str | None] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of_device(
        cls, projects_root: str, home: str, flavour: Flavour, checkouts: Checkouts | None = None
    ) -> DeviceLayout:
        """This device's layout, with the projects root as the client sees it (symlinks resolved)."""
        root = os.path.realpath(projects_root) if os.path.isdir(projects_root) else projects_root
        return cls(projects_root=root, home=home, flavour=flavour, checkouts=checkouts)

    def remembering_roots(self) -> DeviceLayout:
        """This layout, looking up each folder's repository root once: for one bulk pull, during
        which no repository comes or goes that the pull should see."""
        return replace(self, roots={})

    def _canonical_root(self, cwd: str) -> str | None:
        if self.roots is None:
            return repos.canonical_root(cwd)
        if cwd not in self.roots:
            self.roots[cwd] = repos.canonical_root(cwd)
        return self.roots[cwd]

    def key_for(self, cwd: str) -> str:
        if self.checkouts is not None:
            found = self.checkouts.locate(cwd)
            if found is not None and found.tree.identity is not None:
                return repo_key(found.tree.identity, found.sub)
        return project_key_for(cwd, self.projects_root, self.home, self.flavour)

    def keys_for(self, cwd: str) -> list[str]:
        """Every key a folder is known by: through each remote of its checkout, then by its place."""
        keys = []
        if self.checkouts is not None and (found := self.checkouts.locate(cwd)) is not None:
            keys = [repo_key(ident, found.sub) for ident in found.tree.identities]
        try:
            keys.append(project_key_for(cwd, self.projects_root, self.home, self.flavour))
        except NotPortable:
            if not keys:
                raise
        return keys

    def cwd_for(self, key: str, branch: str | None = None) -> str:
        """This device's folder for a key; NoCheckout for a repository not checked out here.

        `branch`: the session's branch, to choose among several checkouts of its repository."""
        validate_key(key)
        split = split_repo_key(key)
        if split is None:
            return cwd_for_key(key, self.projects_root, self.home, self.flavour)
        identity, sub = split
        top = self.checkouts.folder_for([identity], branch) if self.checkouts is not None else None
        if top is None:
            raise NoCheckout(identity)
        sep = "\\" if self.flavour is Flavour.WINDOWS else "/"
        return top.rstrip("\\/") + "".join(sep + p for p in sub.split("/") if p)

    def tokens_for(
        self, project_cwd: str, project_folder: str | None = None, key: str | None = None, on_disk: bool = True
    ) -> PathTokens:
        """The tokens of a project; `project_folder` is the client's folder for it under projects/.

        `key`, the project's key: for a subfolder of a repository it says where the top of the
        checkout is (${REPO_ROOT}). `on_disk`: look up the repository the folder is in on this
        device, whose folder under projects/ the client keeps auto-memory in (${REPO_FOLDER});
        titles in a listing go without it.
        """
        paths = {PROJECT_ROOT: project_cwd, PROJECTS_ROOT: self.projects_root, HOME: self.home}
        top = self._checkout_top(project_cwd, key)
        if top is not None:
            paths[REPO_ROOT] = top
        repo_folder = None
        if on_disk and self.flavour is _NATIVE and os.path.isabs(project_cwd):
            root = self._canonical_root(project_cwd)
            # Outside a repository (or at its top) the client keeps memory in the project's own folder.
            repo_folder = project_folder_name(root) if root is not None and root != project_cwd else project_folder
        return PathTokens(paths, self.flavour, project_folder, repo_folder)

    def _checkout_top(self, cwd: str, key: str | None) -> str | None:
        """The top of the checkout for a key naming a subfolder of a repository: `cwd` without the subfolder."""
        split = split_repo_key(key) if key else None
        if split is None or not split[1]:
            return None
        sub = [p for p in split[1].split("/") if p]
        drive, comps = split_path(cwd, self.flavour)
        tail = comps[len(comps) - len(sub) :]
        if self.flavour is Flavour.WINDOWS:
            tail, sub = [c.lower() for c in tail], [c.lower() for c in sub]
        if len(comps) <= len(sub) or tail != sub:
            return None  # not below its checkout (or the checkout would be a filesystem root)
        sep = "\\" if self.flavour is Flavour.WINDOWS else "/"
        head = f"{drive}:" if self.flavour is Flavour.WINDOWS else ""
        return head + "".join(sep + c for c in comps[: len(comps) - len(sub)])


_NATIVE = Flavour.WINDOWS if os.name == "nt" else Flavour.POSIX
