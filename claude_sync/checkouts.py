"""This device's checkouts: where a pulled session of a repository goes.

The index lists the git work trees under the projects root and the extra search roots
of the config (`search_roots`), a few levels deep. It is cached in the data folder with
the modification time of every folder it walked: while none changed, no folder is listed
again (a clone, a removal or a new `git worktree` changes its parent folder's time), and
each work tree's remotes and branch are read again only when its git files changed.

Choosing among several checkouts of one repository: a folder the user pinned
(`claude-sync map`) wins; else a work tree on the session's branch; else the main work
tree; else the first one by path. No checkout: the session has no place here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import atomic
from .repos import Located, WorkTree, locate, normalize_url, read_work_tree

INDEX_VERSION = 1
MAX_DEPTH = 4  # ~/code/org/team/repo: deep enough for the usual layouts, cheap to walk
# Folders that hold dependencies or build output, never a checkout worth placing a session in.
SKIP = frozenset({"node_modules", ".venv", "venv", "__pycache__", "target", "dist", "build", ".cache", "vendor"})


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _tree_stamp(top: str) -> list[int | None]:
    # A work tree's remotes live in its common dir's config and its branch in its HEAD;
    # the .git entry itself changes when a worktree is re-pointed.
    dot = os.path.join(top, ".git")
    if os.path.isdir(dot):
        return [_mtime(dot), _mtime(os.path.join(dot, "config")), _mtime(os.path.join(dot, "HEAD"))]
    return [_mtime(dot)]


@dataclass
class _Cached:
    tree: WorkTree
    stamp: list[int | None]


@dataclass
class CheckoutIndex:
    """The work trees found under some roots (see the module doc)."""

    roots: list[str]
    dirs: dict[str, int | None] = field(default_factory=dict)  # walked folder -> its mtime
    trees: dict[str, _Cached] = field(default_factory=dict)  # work tree top -> what it holds

    # -- building -------------------------------------------------------------

    def refresh(self) -> bool:
        """Walk again what changed since the last walk; whether anything did."""
        changed = False
        if any(_mtime(d) != t for d, t in self.dirs.items()) or not self.dirs:
            found: dict[str, WorkTree] = {}
            self.dirs = {}
            for root in self.roots:
                self._walk(root, 0, found)
            changed = set(found) != set(self.trees)
            self.trees = {top: self.trees.get(top) or _Cached(tree, []) for top, tree in found.items()}  # type: ignore[misc]
        for top, cached in list(self.trees.items()):
            stamp = _tree_stamp(top)
            if stamp != cached.stamp or not cached.stamp:
                tree = read_work_tree(Path(top))
                if tree is None:
                    del self.trees[top]
                else:
                    self.trees[top] = _Cached(tree, stamp)
                changed = True
        return changed

    def _walk(self, folder: str, depth: int, found: dict[str, WorkTree]) -> None:
        self.dirs[folder] = _mtime(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        if any(e.name == ".git" for e in entries):
            tree = read_work_tree(Path(folder))
            if tree is not None:
                found[folder] = tree
        if depth >= MAX_DEPTH:
            return
        for e in entries:
            # Linked worktrees and nested clones sit inside a checkout too: keep walking into it.
            if e.name.startswith(".") or e.name in SKIP:
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    self._walk(e.path, depth + 1, found)
            except OSError:
                continue

    # -- asking ---------------------------------------------------------------

    def checkouts_of(self, identity: str) -> list[WorkTree]:
        return sorted((c.tree for c in self.trees.values() if identity in c.tree.identities), key=lambda t: t.root)

    def all(self) -> list[WorkTree]:
        return sorted((c.tree for c in self.trees.values()), key=lambda t: t.root)

    # -- the cache file -------------------------------------------------------

    def to_json(self) -> str:
        trees = {top: {"tree": asdict(c.tree), "stamp": c.stamp} for top, c in self.trees.items()}
        return json.dumps({"version": INDEX_VERSION, "roots": self.roots, "dirs": self.dirs, "trees": trees})

    @classmethod
    def from_json(cls, text: str, roots: list[str]) -> CheckoutIndex:
        try:
            raw = json.loads(text)
            if raw.get("version") != INDEX_VERSION or raw.get("roots") != roots:
                return cls(roots)
            trees = {}
            for top, c in raw["trees"].items():
                t = c["tree"]
                tree = WorkTree(t["root"], tuple((n, i) for n, i in t["remotes"]), t["branch"], bool(t["main"]))
                trees[top] = _Cached(tree, list(c["stamp"]))
            return cls(roots, dict(raw["dirs"]), trees)
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(roots)  # a damaged cache is only a cache: walk again


def choose(trees: Iterable[WorkTree], branch: str | None) -> WorkTree | None:
    """The checkout a session of `branch` goes to: same branch, else the main work tree, else the first."""
    trees = sorted(trees, key=lambda t: t.root)
    if not trees:
        return None
    if branch:
        same = [t for t in trees if t.branch == branch]
        if same:
            return next((t for t in same if t.main), same[0])
    return next((t for t in trees if t.main), trees[0])


class Mappings:
    """Folders the user pinned for repositories (`claude-sync map`): identity -> folder."""

    def __init__(self, file: Path) -> None:
        self.file = file
        try:
            raw = json.loads(file.read_text("utf-8"))
            self.folders: dict[str, str] = {k: v for k, v in raw.get("folders", {}).items() if isinstance(v, str)}
        except (OSError, ValueError, AttributeError):
            self.folders = {}

    def pin(self, identity: str, folder: str) -> None:
        self.folders[identity] = folder
        self.save()

    def unpin(self, identity: str) -> bool:
        gone = self.folders.pop(identity, None) is not None
        self.save()
        return gone

    def save(self) -> None:
        atomic.write_text(self.file, json.dumps({"folders": self.folders}, indent=1, sort_keys=True))


class Checkouts:
    """The device's answer to "where is repository X checked out here": pins, then the index."""

    def __init__(self, roots: list[str], cache_file: Path, mappings_file: Path) -> None:
        self.roots = [os.path.realpath(r) for r in roots if r]
        self.cache_file = cache_file
        self.mappings = Mappings(mappings_file)
        self._index: CheckoutIndex | None = None
        self._located: dict[str, Located | None] = {}

    def locate(self, cwd: str) -> Located | None:
        """repos.locate, once per folder until `forget` (many sessions share a folder)."""
        if cwd not in self._located:
            self._located[cwd] = locate(cwd)
        return self._located[cwd]

    def forget(self) -> None:
        """Look again: a folder may have become a checkout, a clone may have appeared (each sync starts so)."""
        self._index = None
        self._located = {}

    @property
    def index(self) -> CheckoutIndex:
        if self._index is None:
            try:
                text = self.cache_file.read_text("utf-8")
                self._index = CheckoutIndex.from_json(text, self.roots)
            except OSError:
                self._index = CheckoutIndex(self.roots)
            if self._index.refresh():
                try:
                    atomic.write_text(self.cache_file, self._index.to_json())
                except OSError:
                    pass  # only a cache
        return self._index

    def pinned(self, identity: str) -> str | None:
        return self.mappings.folders.get(identity)

    def folder_for(self, identities: Iterable[str], branch: str | None = None) -> str | None:
        """The local checkout of a repository (any of its identities), or None."""
        identities = list(identities)
        for ident in identities:
            if (pin := self.pinned(ident)) is not None:
                return pin
        trees = {t.root: t for ident in identities for t in self.index.checkouts_of(ident)}
        tree = choose(trees.values(), branch)
        return tree.root if tree else None

    def __getstate__(self) -> dict:
        # Packing workers get the layout pickled: the index is not needed there.
        return {**self.__dict__, "_index": None, "_located": {}}


def identity_of(text: str) -> str | None:
    """What a user typed for a repository: a key (`git:...`), a URL in any spelling, or an identity."""
    text = text.strip()
    if text.startswith("git:"):
        text = text[4:].split("//", 1)[0]
        return text or None
    return normalize_url(text) or (text if "/" in text and "//" not in text and not text.startswith("/") else None)
