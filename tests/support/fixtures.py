"""pytest fixtures for real Git remotes on 127.0.0.1.

Load with ``pytest_plugins = ["tests.support.fixtures"]`` (in the top-level conftest.py or a
test module). The servers are session-scoped; every test gets its own fresh bare repository.

* ``ssh_remote``       -> :class:`GitRemote` over SSH (``env`` carries GIT_SSH_COMMAND,
                          ``bad_key_env`` an unauthorized key)
* ``http_remote``      -> :class:`GitRemote` over smart HTTP, no auth
* ``http_remote_auth`` -> :class:`GitRemote` over smart HTTP behind Basic auth
                          (``url`` has no credentials, ``authed_url`` has them)
* ``git_ssh_server`` / ``git_http_server`` / ``git_http_auth_server`` -> the session servers
* ``isolated_git_env`` -> a function ``(extra=None) -> dict`` giving an environment for git
                          subprocesses with HOME in a temp dir and GIT_CONFIG_NOSYSTEM=1

The SSH fixtures skip when ``/usr/sbin/sshd`` is absent, except under CI (env CI set and not
"false"/"0"), where they fail loudly.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import pytest

from . import git_remotes
from .git_remotes import (
    HttpGitServer,
    SshGitServer,
    http_git_server,
    ssh_git_server,
)
from .git_remotes import isolated_git_env as _isolated_git_env

HTTP_TEST_USER = "sync-user"
HTTP_TEST_PASSWORD = "s3cret pass/word"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_sshd() -> None:
    """Skip (locally) or fail (in CI) when sshd is not installed."""
    if git_remotes.SSHD_PATH.exists():
        return
    msg = (
        f"{git_remotes.SSHD_PATH} is missing: the SSH git remote tests need openssh-server "
        "(apt-get install -y openssh-server)"
    )
    if _in_ci():
        pytest.fail(f"CI is set and {msg}", pytrace=False)
    pytest.skip(msg)


def require_git() -> None:
    if shutil.which("git") is None:
        msg = "git is not installed"
        if _in_ci():
            pytest.fail(f"CI is set and {msg}", pytrace=False)
        pytest.skip(msg)


@dataclass
class GitRemote:
    """One fresh bare repository on a running server."""

    path: Path  # the bare repository on disk (inspect with `git --git-dir`)
    url: str  # clone URL (no credentials)
    env: dict[str, str]  # extra variables for the git client (GIT_SSH_COMMAND for SSH)
    server: SshGitServer | HttpGitServer = field(repr=False)
    bad_key_env: dict[str, str] | None = None  # SSH only: an unauthorized key
    authed_url: str | None = None  # HTTP: URL with the server's credentials (== url if no auth)
    username: str | None = None
    password: str | None = None


def _repo_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip(".-")[:60] or "repo"
    return f"{base}-{uuid4().hex[:8]}"


# ----------------------------------------------------------------- session-scoped servers


@pytest.fixture(scope="session")
def git_ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    require_git()
    require_sshd()
    with ssh_git_server(tmp_path_factory.mktemp("git-ssh-server")) as server:
        yield server


@pytest.fixture(scope="session")
def git_http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpGitServer]:
    require_git()
    with http_git_server(tmp_path_factory.mktemp("git-http-server")) as server:
        yield server


@pytest.fixture(scope="session")
def git_http_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpGitServer]:
    require_git()
    with http_git_server(
        tmp_path_factory.mktemp("git-http-auth-server"),
        username=HTTP_TEST_USER,
        password=HTTP_TEST_PASSWORD,
    ) as server:
        yield server


# ----------------------------------------------------------------- per-test remotes


@pytest.fixture
def ssh_remote(git_ssh_server: SshGitServer, request: pytest.FixtureRequest) -> GitRemote:
    path = git_ssh_server.make_bare_repo(_repo_name(request))
    url = git_ssh_server.url_for(path)
    return GitRemote(
        path=path,
        url=url,
        env=git_ssh_server.env,
        server=git_ssh_server,
        bad_key_env=git_ssh_server.bad_key_env,
        authed_url=url,
        username=git_ssh_server.user,
    )


@pytest.fixture
def http_remote(git_http_server: HttpGitServer, request: pytest.FixtureRequest) -> GitRemote:
    path = git_http_server.make_bare_repo(_repo_name(request))
    url = git_http_server.url_for(path)
    return GitRemote(path=path, url=url, env={}, server=git_http_server, authed_url=url)


@pytest.fixture
def http_remote_auth(
    git_http_auth_server: HttpGitServer, request: pytest.FixtureRequest
) -> GitRemote:
    server = git_http_auth_server
    path = server.make_bare_repo(_repo_name(request))
    return GitRemote(
        path=path,
        url=server.url_for(path),
        env={},
        server=server,
        authed_url=server.authed_url_for(path),
        username=server.username,
        password=server.password,
    )


@pytest.fixture
def isolated_git_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``isolated_git_env(extra=None)`` -> env for git subprocesses; HOME=<tmp_path>/home."""

    def make(extra: dict[str, str] | None = None) -> dict[str, str]:
        return _isolated_git_env(tmp_path / "home", extra)

    return make
