"""Before a remote is saved: can this device reach it, is it let in, and may it write there?

Nothing is written to the remote: Git is asked with `ls-remote` and a dry-run push, the sync
server with its health route and one page of the session list.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .. import __version__
from .remedies import Backend, Remedy, change_url, set_token, show_details

if TYPE_CHECKING:
    import httpx

Check = Literal["reachable", "authorised", "writable"]
TIMEOUT = 30.0
PROBE_REF = "refs/heads/claude-sync-write-check"
# What git and ssh say when the remote answered but did not let us in.
_DENIED = (
    "permission denied",
    "authentication failed",
    "could not read username",
    "could not read password",
    "access denied",
    "403",
    "401",
    "not authorized",
    "unauthorized",
    "read only",
    "read-only",
    "publickey",
)


class RemoteCheck:
    """The checks in order; the first that fails stops the rest (they depend on it)."""

    def __init__(self, backend: Backend, url: str) -> None:
        self.backend, self.url = backend, url
        self.checks: list[dict[str, Any]] = []
        self.remedies: list[Remedy] = []

    def passed(self, name: Check, message: str) -> None:
        self.checks.append({"name": name, "ok": True, "message": message})

    def failed(self, name: Check, message: str, *remedies: Remedy) -> RemoteCheck:
        self.checks.append({"name": name, "ok": False, "message": message})
        self.remedies = [*remedies, show_details()]
        return self

    def view(self) -> dict[str, Any]:
        failure = next((c for c in self.checks if not c["ok"]), None)
        where = "the Git repository" if self.backend == "git" else "the sync server"
        if failure is None:
            message = f"{where} {self.url} is reachable, lets this device in and accepts its sessions."
        else:
            message = f"{where} {self.url}: {failure['message']}"
        return {
            "ok": failure is None,
            # A remote that cannot be reached or refuses this device is unusable; one that only
            # refuses writes can still be read from.
            "severity": "info" if failure is None else ("warning" if failure["name"] == "writable" else "error"),
            "backend": self.backend,
            "url": self.url,
            "message": message,
            "checks": self.checks,
            "remedies": self.remedies,
        }


# -- Git ---------------------------------------------------------------------------------------


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never")
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=15"  # never wait for a passphrase
    return env


def _git(args: list[str], cwd: str | None = None) -> tuple[bool, str]:
    try:
        r = subprocess.run(
            ["git", *args], cwd=cwd, env=_git_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return False, f"no answer within {TIMEOUT:.0f} s"
    except OSError as e:
        return False, f"cannot run git: {e}"
    lines = [line.strip() for line in r.stderr.splitlines() if line.strip()]
    return r.returncode == 0, " ".join(lines[-3:]) or f"git exited with {r.returncode}"


def _local_path(url: str) -> Path | None:
    """The folder of a repository given as a path or a file:// URL; None for a network remote."""
    if url.startswith("file://"):
        return Path(urlsplit(url).path)
    if "://" in url or (":" in url.split("/")[0] and not os.path.isabs(url)):
        return None  # https://..., ssh://..., git@host:path
    return Path(os.path.expanduser(url))


def check_git(url: str, branch: str) -> dict[str, Any]:
    check = RemoteCheck("git", url)
    local = _local_path(url)
    if local is not None and not local.exists():
        return check.failed("reachable", f"there is no repository at {local}", change_url("git")).view()
    ok, said = _git(["ls-remote", "--heads", url])
    if not ok:
        if any(word in said.lower() for word in _DENIED):
            check.passed("reachable", "the host answered")
            return check.failed("authorised", f"this device was not let in: {said}", change_url("git")).view()
        return check.failed("reachable", f"cannot reach it: {said}", change_url("git")).view()
    check.passed("reachable", "git answered")
    check.passed("authorised", "this device may read it")
    if local is not None:
        # A dry run against a folder writes nothing and so proves nothing: ask the file system.
        writable = all(os.access(d, os.W_OK) for d in (local, local / "objects", local / "refs") if d.exists())
        if not writable:
            return check.failed("writable", f"this device may not write to {local}", change_url("git")).view()
        check.passed("writable", "this device may write to it")
        return check.view()
    with tempfile.TemporaryDirectory(prefix="claude-sync-check-") as tmp:
        ok, said = _probe_push(tmp, url, branch)
    if not ok:
        return check.failed("writable", f"this device may not push to it: {said}", change_url("git")).view()
    check.passed("writable", "a dry-run push was accepted")
    return check.view()


def _probe_push(tmp: str, url: str, branch: str) -> tuple[bool, str]:
    """A dry-run push of an empty commit: the remote checks the right to push and nothing lands."""
    ident = ["-c", "user.name=claude-sync", "-c", "user.email=claude-sync@localhost"]
    for args in (["init", "-q", tmp], [*ident, "-C", tmp, "commit", "-q", "--allow-empty", "-m", "write check"]):
        ok, said = _git(args)
        if not ok:
            return False, said
    return _git(["-C", tmp, "push", "--dry-run", "--porcelain", url, f"HEAD:{PROBE_REF}-{branch}"])


# -- the sync server -------------------------------------------------------------------------------


def check_server(url: str, token: str | None, ca_bundle: str | None) -> dict[str, Any]:
    check = RemoteCheck("server", url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return check.failed("reachable", "not a server URL (expected https://host[:port])", change_url("server")).view()
    # Imported here: it (with its CLI's libraries) adds 50 ms to the sidecar's start, before the first listing.
    import httpx

    verify: str | bool = ca_bundle or True
    try:
        with httpx.Client(
            base_url=url.rstrip("/"), verify=verify, timeout=httpx.Timeout(15.0), follow_redirects=False,
            headers={"User-Agent": f"claude-sync/{__version__}"},
        ) as client:
            try:
                health = client.get("/health")
            except httpx.HTTPError as e:
                return check.failed("reachable", f"cannot reach it: {e or type(e).__name__}", change_url("server")).view()
            if health.status_code != 200 or _json(health).get("status") != "ok":
                return check.failed(
                    "reachable", f"it answered {health.status_code}, not as a claude-sync server does", change_url("server")
                ).view()
            check.passed("reachable", f"claude-sync server {_json(health).get('version', '')}".strip())
            if not token:
                return check.failed("authorised", "no token is set for it", set_token()).view()
            listing = client.get("/api/sessions", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"})
    except (OSError, ValueError) as e:  # an unreadable CA bundle
        return check.failed("reachable", f"cannot use the CA bundle {ca_bundle}: {e}", show_details()).view()
    if listing.status_code in (401, 403):
        return check.failed("authorised", "it did not accept the token", set_token()).view()
    if listing.status_code != 200:
        return check.failed("authorised", f"it answered {listing.status_code} to the session list", change_url("server")).view()
    check.passed("authorised", "the token was accepted")
    # The server gives every user it accepts its own space to write; there is no read-only token.
    check.passed("writable", "every accepted user may store its sessions")
    return check.view()


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
