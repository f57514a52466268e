"""Repository identity: which repository a working directory belongs to, whatever its location.

A project is the same project on every device when it is a checkout of the same repository:
its identity is the normalized URL of a remote plus the path inside the work tree. The URL
is normalized so that every spelling of one repository is equal:

    https://user:token@GitHub.com:443/acme/api.git/   ->  github.com/acme/api
    ssh://git@github.com:22/acme/api                  ->  github.com/acme/api
    git@github.com:acme/api.git                       ->  github.com/acme/api
    /srv/git/api.git  or  file:///srv/git/api.git     ->  /srv/git/api

Scheme, credentials, ports, `.git`, trailing slashes and the case of the host are dropped.
Ports go because one host serves SSH and HTTPS on different ones (GitLab: 22 or 2222 and
443); two repositories with the same host and path on different ports are not worth
telling apart. The path keeps its case: only some hosts ignore it.

Git's own files are read directly (the config's remotes, HEAD, a worktree's `.git` file):
working out the identity of many sessions must not start a `git` per directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# ssh://, git://, http(s)://, git+ssh://, ftp(s):// ... : scheme://[user[:pw]@]host[:port]/path
_URL_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<auth>[^@/]*)@)?(?P<host>\[[^\]]*\]|[^/:]*)(?::(?P<port>[^/]*))?(?P<path>/.*)?$", re.I)
# scp-like: [user@]host:path, where host has no slash and path does not start with //
_SCP_RE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]*\]|[^/:@]+):(?P<path>(?!//).*)$")


def normalize_url(url: str) -> str | None:
    """The identity of a remote URL, or None when it names no repository."""
    url = url.strip()
    if not url or any(c in url for c in "\x00\n\r"):
        return None
    m = _URL_RE.match(url)
    if m:
        scheme = m["scheme"].lower()
        path = m["path"] or ""
        if scheme == "file":
            return _local(path) if not m["host"] or m["host"].lower() == "localhost" else None
        host = m["host"].lower()
        if not host:
            return None
        return _join(host, path)
    # A Windows drive path (C:\x or C:/x) looks scp-like: it is local.
    if re.match(r"^[A-Za-z]:[\\/]", url) or url.startswith(("/", "\\\\", "./", "../", "~")):
        return _local(url)
    m = _SCP_RE.match(url)
    if m and "\\" not in url:
        return _join(m["host"].lower(), m["path"])
    return None


def _join(host: str, path: str) -> str | None:
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    while parts and parts[-1].lower().endswith(".git"):
        parts[-1] = parts[-1][:-4]
        if parts[-1]:
            break
        parts.pop()
    if not parts or any(p in (".", "..") for p in parts):
        return None
    return host + "/" + "/".join(parts)


def _local(path: str) -> str | None:
    """A repository on this file system: its absolute path, `.git` and trailing slashes dropped."""
    path = path.replace("\\", "/")
    drive = ""
    if re.match(r"^/?[A-Za-z]:/", path):  # /C:/x in file URLs
        path = path.lstrip("/")
        drive, path = path[:2].lower(), path[2:]
    parts = [p for p in path.split("/") if p and p != "."]
    while parts and parts[-1] == ".git":
        parts.pop()  # a work tree's .git folder names the work tree's repository
    if parts and parts[-1].lower().endswith(".git") and len(parts[-1]) > 4:
        parts[-1] = parts[-1][:-4]
    if not parts or ".." in parts or (not drive and not path.startswith("/")):
        return None  # relative: means nothing away from the checkout it was cloned from
    return drive + "/" + "/".join(parts)


def clone_url(identity: str) -> str:
    """A URL to clone a repository from, given only its identity: the path of a local one, else
    HTTPS on its host (the spelling that needs no SSH key; the user may give another of the same
    repository instead)."""
    return identity if identity.startswith("/") or re.match(r"^[a-z]:/", identity) else f"https://{identity}"


def short_name(identity: str) -> str:
    """What a listing calls a repository: the last component of its path (`api`)."""
    return identity.rstrip("/").rsplit("/", 1)[-1]


# -- reading a work tree ---------------------------------------------------------------

_SECTION_RE = re.compile(r'^\s*\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]\s*(.*)$')
_VAR_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*?))?\s*$")


def _unquote(value: str) -> str:
    out, quoted, i = [], False, 0
    while i < len(value):
        c = value[i]
        if c == '"':
            quoted = not quoted
        elif c == "\\" and i + 1 < len(value):
            i += 1
            out.append({"n": "\n", "t": "\t", "b": "\b"}.get(value[i], value[i]))
        elif c in "#;" and not quoted:
            break
        else:
            out.append(c)
        i += 1
    return "".join(out).strip()


def remotes_in_config(text: str) -> dict[str, str]:
    """The URL of each remote in a git config file (the first `url` of each), in file order."""
    remotes: dict[str, str] = {}
    section: tuple[str, str | None] = ("", None)
    for line in text.splitlines():
        m = _SECTION_RE.match(line)
        if m:
            section = (m[1].lower(), m[2])
            line = m[3]
            if not line.strip():
                continue
        v = _VAR_RE.match(line)
        if v and section[0] == "remote" and section[1] is not None and v[1].lower() == "url" and v[2]:
            remotes.setdefault(section[1], _unquote(v[2]))
    return remotes


@dataclass(frozen=True)
class WorkTree:
    """A git work tree of this device: where it is, its repository's remotes, its branch."""

    root: str  # the work tree's top folder
    remotes: tuple[tuple[str, str], ...]  # (name, identity), origin first
    branch: str | None  # None when HEAD is detached
    main: bool  # the repository's main work tree (not a linked `git worktree`)

    @property
    def identities(self) -> list[str]:
        return list(dict.fromkeys(ident for _name, ident in self.remotes))

    @property
    def identity(self) -> str | None:
        """The identity of the preferred remote: origin, else the first one."""
        return self.remotes[0][1] if self.remotes else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError:
        return None


def git_dirs(top: Path) -> tuple[Path, Path, bool] | None:
    """(git dir, common dir, is the main work tree) of the work tree whose top is `top`."""
    dot = top / ".git"
    if dot.is_dir():
        return dot, dot, True
    text = _read(dot) if dot.is_file() else None
    if text is None or not text.startswith("gitdir:"):
        return None
    gitdir = Path(text[len("gitdir:"):].strip())
    if not gitdir.is_absolute():
        gitdir = top / gitdir
    common_text = _read(gitdir / "commondir")
    common = gitdir
    if common_text and common_text.strip():
        common = Path(common_text.strip())
        if not common.is_absolute():
            common = gitdir / common
    return gitdir, common, False


def read_work_tree(top: Path) -> WorkTree | None:
    """The work tree whose top folder is `top`, or None when `top` is not one."""
    dirs = git_dirs(top)
    if dirs is None:
        return None
    gitdir, common, main = dirs
    config = _read(common / "config") or ""
    named = remotes_in_config(config)
    order = sorted(named, key=lambda n: (n != "origin", list(named).index(n)))
    remotes = tuple((n, ident) for n in order if (ident := normalize_url(_resolve_local(named[n], top))) is not None)
    head = (_read(gitdir / "HEAD") or "").strip()
    branch = head[len("ref: refs/heads/"):] if head.startswith("ref: refs/heads/") else None
    return WorkTree(str(top), remotes, branch, main)


def _resolve_local(url: str, top: Path) -> str:
    # A relative local remote (`../origin.git`) is relative to the work tree it was cloned into.
    if url.startswith(("./", "../")):
        return os.path.normpath(os.path.join(top, url))
    return url


def find_top(cwd: str) -> Path | None:
    """The top folder of the work tree that holds `cwd`, if any."""
    p = Path(cwd)
    for d in (p, *p.parents):
        try:
            if (d / ".git").exists():
                return d
        except OSError:
            return None
    return None


def canonical_root(cwd: str) -> str | None:
    """The folder the client keys a repository's shared state by (its auto-memory, since
    2.1.332): the top of the main work tree, also for a folder in a linked worktree.

    Mirrors the client's findCanonicalGitRoot: a linked worktree counts as its main work
    tree only when that one has a `.git` folder (not for a bare repository's worktrees)."""
    top = find_top(cwd)
    if top is None:
        return None
    dirs = git_dirs(top)
    if dirs is None or dirs[2]:
        return str(top)
    common = Path(os.path.normpath(dirs[1]))
    if common.name == ".git" and common.is_dir():
        return str(common.parent)
    return str(top)


@dataclass(frozen=True)
class Located:
    """Where a working directory is in its repository."""

    tree: WorkTree
    sub: str  # the path inside the work tree, '/'-separated, '' at the top


def locate(cwd: str) -> Located | None:
    """The work tree (with a remote) that holds `cwd`, and the path inside it."""
    top = find_top(cwd)
    if top is None:
        return None
    tree = read_work_tree(top)
    if tree is None or not tree.remotes:
        return None
    rel = Path(cwd).relative_to(top).parts
    if any(p in ("", ".", "..") for p in rel):
        return None
    return Located(tree, "/".join(rel))
