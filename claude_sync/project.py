"""Project identity: a working directory expressed relative to the device.

`~/code/acme/api` with projects root `~/code` is the project key `acme/api`
on every device; a directory outside the projects root but inside home is
carried as `~/rel/path`. Keys always use '/'.
"""

from __future__ import annotations

from dataclasses import dataclass

from .format.errors import NotPortable
from .format.tokens import HOME, PROJECT_ROOT, PROJECTS_ROOT, Flavour, PathTokens, split_path

HOME_PREFIX = "~"


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

    def key_for(self, cwd: str) -> str:
        return project_key_for(cwd, self.projects_root, self.home, self.flavour)

    def cwd_for(self, key: str) -> str:
        return cwd_for_key(key, self.projects_root, self.home, self.flavour)

    def tokens_for(self, project_cwd: str, project_folder: str | None = None) -> PathTokens:
        """The tokens of a project; `project_folder` is the client's folder for it under projects/."""
        return PathTokens(
            {PROJECT_ROOT: project_cwd, PROJECTS_ROOT: self.projects_root, HOME: self.home},
            self.flavour,
            project_folder,
        )
