"""Tests of the real-remote test fixtures themselves, with plain `git` subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # so `tests.support` imports under a bare `pytest` too
    sys.path.insert(0, _ROOT)

pytest_plugins = ["tests.support.fixtures"]
pytest.register_assert_rewrite("tests.support")

from tests.support import fixtures as fx
from tests.support.git_remotes import (
    HttpGitServer,
    SshGitServer,
    http_git_server,
    isolated_git_env,
    ssh_git_server,
)

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
FAST = 10.0  # seconds: a failing auth must come back well before this


def git(
    env: dict[str, str], *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*GIT, *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def commit_file(env: dict[str, str], repo: Path, name: str, text: str, msg: str) -> str:
    (repo / name).write_text(text)
    git(env, "add", name, cwd=repo)
    git(env, "commit", "-q", "-m", msg, cwd=repo)
    return git(env, "rev-parse", "HEAD", cwd=repo).stdout.strip()


def remote_head(bare: Path, env: dict[str, str], branch: str = "main") -> str:
    return git(env, "--git-dir", str(bare), "rev-parse", f"refs/heads/{branch}").stdout.strip()


def round_trip(env: dict[str, str], url: str, bare: Path, work: Path) -> None:
    """clone (empty) -> commit -> push -> second clone -> commit/push -> fetch in the first."""
    a, b = work / "a", work / "b"
    git(env, "clone", "-q", url, str(a))
    git(env, "checkout", "-q", "-B", "main", cwd=a)
    c1 = commit_file(env, a, "one.txt", "hello\n", "first")
    git(env, "push", "-q", "origin", "main", cwd=a)
    assert remote_head(bare, env) == c1

    git(env, "clone", "-q", "--branch", "main", url, str(b))
    assert (b / "one.txt").read_text() == "hello\n"
    c2 = commit_file(env, b, "two.txt", "world\n", "second")
    git(env, "push", "-q", "origin", "main", cwd=b)
    assert remote_head(bare, env) == c2

    git(env, "fetch", "-q", "origin", cwd=a)
    assert git(env, "rev-parse", "origin/main", cwd=a).stdout.strip() == c2
    git(env, "merge", "-q", "--ff-only", "origin/main", cwd=a)
    assert (a / "two.txt").read_text() == "world\n"


def assert_fails_fast(env: dict[str, str], url: str, *needles: str) -> str:
    start = time.monotonic()
    proc = subprocess.run(
        [*GIT, "ls-remote", url],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,  # a hang fails the test instead of blocking the run
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, proc.stdout
    assert elapsed < FAST, f"took {elapsed:.1f}s"
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    return proc.stderr


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


# ------------------------------------------------------------------------------- SSH


@pytest.mark.ssh
def test_ssh_url_and_env_shape(ssh_remote: fx.GitRemote) -> None:
    server = ssh_remote.server
    assert isinstance(server, SshGitServer)
    assert ssh_remote.url == f"ssh://{server.user}@127.0.0.1:{server.port}{ssh_remote.path}"
    assert ssh_remote.path.is_absolute() and (ssh_remote.path / "HEAD").is_file()
    cmd = ssh_remote.env["GIT_SSH_COMMAND"]
    for part in (
        f"-i {server.key_path}",
        f"-p {server.port}",
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "BatchMode=yes",
    ):
        assert part in cmd
    assert ssh_remote.bad_key_env is not None
    assert str(server.bad_key_path) in ssh_remote.bad_key_env["GIT_SSH_COMMAND"]
    assert (ssh_remote.path / "HEAD").read_text().strip() == "ref: refs/heads/main"


@pytest.mark.ssh
def test_ssh_clone_commit_push_fetch(
    ssh_remote: fx.GitRemote, isolated_git_env, tmp_path: Path
) -> None:
    env = isolated_git_env(ssh_remote.env)
    round_trip(env, ssh_remote.url, ssh_remote.path, tmp_path)


@pytest.mark.ssh
def test_ssh_bad_key_fails_fast(ssh_remote: fx.GitRemote, isolated_git_env) -> None:
    env = isolated_git_env(ssh_remote.bad_key_env)
    assert_fails_fast(env, ssh_remote.url, "Permission denied")


@pytest.mark.ssh
def test_ssh_missing_repo_fails(ssh_remote: fx.GitRemote, isolated_git_env) -> None:
    env = isolated_git_env(ssh_remote.env)
    url = ssh_remote.server.url_for(ssh_remote.path.parent / "does-not-exist.git")
    assert_fails_fast(env, url)


@pytest.mark.ssh
def test_ssh_works_with_gitpython(ssh_remote: fx.GitRemote, isolated_git_env, tmp_path) -> None:
    gitpython = pytest.importorskip("git")
    ident = {k: "t" for k in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")}
    ident.update(GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_EMAIL="t@t")
    env = isolated_git_env({**ssh_remote.env, **ident})
    repo = gitpython.Repo.init(tmp_path / "w", initial_branch="main")
    with repo.git.custom_environment(**env):
        (tmp_path / "w" / "f.txt").write_text("x\n")
        repo.index.add(["f.txt"])
        repo.git.commit("-m", "c")
        repo.create_remote("origin", ssh_remote.url)
        repo.remote("origin").push("main:main")
    assert remote_head(ssh_remote.path, env) == repo.head.commit.hexsha


@pytest.mark.ssh
def test_ssh_server_context_stops(tmp_path: Path) -> None:
    fx.require_sshd()
    with ssh_git_server(tmp_path) as server:
        bare = server.make_bare_repo("ctx")
        env = isolated_git_env(tmp_path / "home", server.env)
        git(env, "ls-remote", server.url_for(bare))
        pid, port = server.pid, server.port
    assert port_closed(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# ------------------------------------------------------------------------------ HTTP


def test_http_url_shape(http_remote: fx.GitRemote) -> None:
    server = http_remote.server
    assert http_remote.url == f"http://127.0.0.1:{server.port}/{http_remote.path.name}"
    assert http_remote.url.endswith(".git")
    cfg = git(
        isolated_git_env(http_remote.path.parent / "h"),
        *("--git-dir", str(http_remote.path), "config", "http.receivepack"),
    )
    assert cfg.stdout.strip() == "true"


def test_http_clone_push(http_remote: fx.GitRemote, isolated_git_env, tmp_path: Path) -> None:
    env = isolated_git_env(http_remote.env)
    round_trip(env, http_remote.url, http_remote.path, tmp_path)


def test_http_protocol_v0_push(http_remote: fx.GitRemote, isolated_git_env, tmp_path) -> None:
    env = isolated_git_env()
    a = tmp_path / "a"
    git(env, "-c", "protocol.version=0", "clone", "-q", http_remote.url, str(a))
    c = commit_file(env, a, "x.txt", "x\n", "x")
    git(env, "-c", "protocol.version=0", "push", "-q", "origin", "HEAD:main", cwd=a)
    assert remote_head(http_remote.path, env) == c


def test_http_large_push_chunked(http_remote: fx.GitRemote, isolated_git_env, tmp_path) -> None:
    """A pack larger than http.postBuffer goes out chunked; the server must take it."""
    env = isolated_git_env()
    a = tmp_path / "a"
    git(env, "clone", "-q", http_remote.url, str(a))
    (a / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git(env, "add", "big.bin", cwd=a)
    git(env, "commit", "-q", "-m", "big", cwd=a)
    git(env, "-c", "http.postBuffer=65536", "push", "-q", "origin", "HEAD:main", cwd=a)
    b = tmp_path / "b"
    git(env, "clone", "-q", http_remote.url, str(b))
    assert (b / "big.bin").read_bytes() == (a / "big.bin").read_bytes()


def test_http_auth_missing_credentials_fail_fast(
    http_remote_auth: fx.GitRemote, isolated_git_env
) -> None:
    env = isolated_git_env()
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert_fails_fast(env, http_remote_auth.url)


def test_http_auth_wrong_credentials_fail_fast(
    http_remote_auth: fx.GitRemote, isolated_git_env
) -> None:
    env = isolated_git_env()
    assert isinstance(http_remote_auth.server, HttpGitServer)
    url = http_remote_auth.server.url_for(http_remote_auth.path, "sync-user", "wrong")
    assert_fails_fast(env, url)


def test_http_auth_correct_credentials_succeed(
    http_remote_auth: fx.GitRemote, isolated_git_env, tmp_path: Path
) -> None:
    assert http_remote_auth.authed_url and "@" in http_remote_auth.authed_url
    env = isolated_git_env()
    round_trip(env, http_remote_auth.authed_url, http_remote_auth.path, tmp_path)


def test_http_server_context_stops(tmp_path: Path) -> None:
    with http_git_server(tmp_path, username="u", password="p") as server:
        bare = server.make_bare_repo("ctx")
        env = isolated_git_env(tmp_path / "home")
        git(env, "ls-remote", server.url_for(bare, "u", "p"))
        port = server.port
    assert port_closed(port)


# --------------------------------------------------------------------- skip/fail policy


def test_missing_sshd_skips_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fx.git_remotes, "SSHD_PATH", tmp_path / "no-sshd")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="openssh-server"):
        fx.require_sshd()


def test_missing_sshd_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fx.git_remotes, "SSHD_PATH", tmp_path / "no-sshd")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        fx.require_sshd()
