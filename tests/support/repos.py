"""Git checkouts for tests of repository identity (issue #17): a local bare "origin" and clones of it."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_origin(parent: Path, name: str = "acme-api.git", branches: tuple[str, ...] = ("main",)) -> Path:
    """A bare repository with one commit (a file in services/billing/) on each of `branches`."""
    bare = parent / "origin" / name
    git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=parent)
    seed = parent / "origin-seed"
    git("clone", "-q", str(bare), str(seed), cwd=parent)
    (seed / "services" / "billing").mkdir(parents=True)
    (seed / "services" / "billing" / "README").write_text("billing\n")
    git("add", ".", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "seed", cwd=seed)
    for branch in branches:
        git("push", "-q", "origin", f"HEAD:{branch}", cwd=seed)
    return bare
