"""Real Git remotes on 127.0.0.1 for tests: an OpenSSH server and a smart-HTTP server.

Both servers are private to the test run: every file they use (config, host key, client keys,
authorized keys, logs, pid file, bare repositories) lives in the temp folder handed to them, they
listen on 127.0.0.1 only, and they stop when their context manager exits.

* :func:`ssh_git_server` runs ``/usr/sbin/sshd -D`` with its own config; clients reach it with
  ``GIT_SSH_COMMAND`` (see :attr:`SshGitServer.env`) and never read ``~/.ssh``.
* :func:`http_git_server` runs a small threaded HTTP server of ours that hands each request to
  ``git http-backend`` as CGI, with optional HTTP Basic auth.

Use :func:`isolated_git_env` to build a client environment that ignores the real ``~/.gitconfig``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import getpass
import http.server
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SSHD_PATH = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
SERVER_START_TIMEOUT = 15.0


# --------------------------------------------------------------------------- helpers


def isolated_git_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``os.environ`` for a git client that cannot see the real user config.

    HOME (and XDG_CONFIG_HOME) point into ``home``, the system config is ignored, terminal
    prompts are off, and variables that would redirect git or ssh are dropped. ``extra`` (for
    instance a server's ``env``) is merged last.
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") and k not in {"SSH_AUTH_SOCK", "SSH_ASKPASS", "XDG_CONFIG_HOME"}
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",
        SSH_ASKPASS="",
        LC_ALL="C",
        LANG="C",
    )
    if extra:
        env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        cmd,
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


def _current_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return getpass.getuser()


class _BareRepoMaker:
    """Creates bare repositories (initial branch ``main``) under one root folder."""

    def __init__(self, root: Path, git_home: Path, http_receivepack: bool = False) -> None:
        self.repos_root = root
        self._git_env = isolated_git_env(git_home)
        self._http_receivepack = http_receivepack
        self._lock = threading.Lock()
        self.repos_root.mkdir(parents=True, exist_ok=True)

    def make_bare_repo(self, name: str) -> Path:
        """``git init --bare`` a new repository ``<name>.git`` ('.git' is not doubled)."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad repository name {name!r}")
        if not name.endswith(".git"):
            name += ".git"
        path = self.repos_root / name
        with self._lock:
            if path.exists():
                raise FileExistsError(path)
            _run(
                ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)],
                env=self._git_env,
            )
        if self._http_receivepack:
            _run(
                ["git", "--git-dir", str(path), "config", "http.receivepack", "true"],
                env=self._git_env,
            )
        return path.resolve()


# --------------------------------------------------------------------------- SSH


@dataclass
class SshGitServer:
    """A running sshd on 127.0.0.1 that serves git over SSH for one user."""

    port: int
    user: str
    host: str
    base_dir: Path
    key_path: Path  # private key authorized on the server
    bad_key_path: Path  # private key NOT authorized on the server
    log_path: Path
    pid: int
    _repos: _BareRepoMaker = field(repr=False)

    @staticmethod
    def _ssh_command(key: Path, port: int) -> str:
        return shlex.join(
            [
                "ssh",
                "-F", "/dev/null",  # never read ~/.ssh/config
                "-i", str(key),
                "-p", str(port),
                "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none",
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10",
                "-o", "LogLevel=ERROR",
            ]
        )  # fmt: skip

    @property
    def ssh_command(self) -> str:
        """GIT_SSH_COMMAND value with the authorized key."""
        return self._ssh_command(self.key_path, self.port)

    @property
    def env(self) -> dict[str, str]:
        """Variables to merge into a git client's environment (GIT_SSH_COMMAND)."""
        return {"GIT_SSH_COMMAND": self.ssh_command}

    @property
    def bad_key_env(self) -> dict[str, str]:
        """Like :attr:`env` but with a key the server does not accept."""
        return {"GIT_SSH_COMMAND": self._ssh_command(self.bad_key_path, self.port)}

    @property
    def repos_root(self) -> Path:
        return self._repos.repos_root

    def make_bare_repo(self, name: str) -> Path:
        return self._repos.make_bare_repo(name)

    def url_for(self, bare_repo_path: Path) -> str:
        path = Path(bare_repo_path).resolve()
        return f"ssh://{self.user}@{self.host}:{self.port}{urllib.parse.quote(str(path))}"


def _write_sshd_config(d: Path, port: int, user: str) -> Path:
    server_home = d / "server-home"
    server_home.mkdir(exist_ok=True)
    cfg = d / "sshd_config"
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {d / 'host_ed25519'}",
        f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "AuthorizedKeysCommand none",
        "AuthorizedPrincipalsFile none",
        f"AllowUsers {user}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "PermitEmptyPasswords no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",
        "PermitUserRC no",
        "PermitUserEnvironment no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "PermitTunnel no",
        "UseDNS no",
        "LoginGraceTime 20",
        "MaxStartups 50:30:100",
        "MaxSessions 50",
        "AcceptEnv GIT_PROTOCOL",
        # The session shell gets a throwaway HOME (no real ~/.bashrc, ~/.gitconfig).
        f'SetEnv HOME="{server_home}" GIT_CONFIG_NOSYSTEM=1',
        "LogLevel VERBOSE",
    ]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def _keygen(path: Path, comment: str) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def ssh_git_server(tmp_dir: Path) -> Iterator[SshGitServer]:
    """Run a private sshd on 127.0.0.1 serving git for the current user (root here)."""
    sshd = SSHD_PATH if SSHD_PATH.exists() else None
    if sshd is None:
        found = shutil.which("sshd")
        sshd = Path(found) if found else None
    if sshd is None:
        raise FileNotFoundError(f"{SSHD_PATH} is missing (apt-get install -y openssh-server)")
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    else:
        with contextlib.suppress(OSError):
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)

    d = Path(tmp_dir).resolve() / "sshd"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    user = _current_user()
    _keygen(d / "host_ed25519", "test-host")
    _keygen(d / "client_ed25519", "test-client")
    _keygen(d / "bad_client_ed25519", "test-unauthorized-client")
    (d / "authorized_keys").write_text((d / "client_ed25519.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    log_path = d / "sshd.log"

    proc: subprocess.Popen | None = None
    last_error = ""
    try:
        for _attempt in range(5):
            port = _free_port()
            cfg = _write_sshd_config(d, port, user)
            log_path.write_text("")
            proc = subprocess.Popen(
                [str(sshd), "-D", "-f", str(cfg), "-E", str(log_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # not hit by the terminal's Ctrl-C twice
            )
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            ready = False
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if "Server listening on" in log_path.read_text(errors="replace"):
                    ready = True
                    break
                time.sleep(0.02)
            if ready:
                break
            _stop_process(proc)
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            last_error = f"{err}\n{log_path.read_text(errors='replace')}"
            proc = None
            if "Address already in use" not in last_error and "Cannot bind" not in last_error:
                break
        if proc is None:
            raise RuntimeError(f"sshd did not start:\n{last_error}")
        if proc.stderr:
            proc.stderr.close()
        server = SshGitServer(
            port=port,
            user=user,
            host="127.0.0.1",
            base_dir=d,
            key_path=d / "client_ed25519",
            bad_key_path=d / "bad_client_ed25519",
            log_path=log_path,
            pid=proc.pid,
            _repos=_BareRepoMaker(d / "repos", d / "git-home"),
        )
        yield server
    finally:
        if proc is not None:
            _stop_process(proc)


# --------------------------------------------------------------------------- HTTP


class _ThreadingHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    # set by http_git_server
    project_root: Path
    credentials: tuple[str, str] | None
    backend_env: dict[str, str]
    backend_log: Path
    log_lock: threading.Lock


class _GitCgiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ThreadingHTTPServer
    server_version = "test-git-http/1"

    def log_message(self, format: str, *args: object) -> None:
        with self.server.log_lock, open(self.server.backend_log, "a") as f:
            f.write(f"{self.address_string()} {format % args}\n")

    # ---- request body

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after chunk
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ---- auth

    def _authorized_user(self) -> tuple[bool, str]:
        creds = self.server.credentials
        if creds is None:
            return True, ""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False, ""
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, ""
        return (user, password) == creds, user

    def _send(self, code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    # ---- CGI

    def _handle(self) -> None:
        ok, user = self._authorized_user()
        if not ok:
            # Drain a small body so the connection stays usable; otherwise close it.
            if self.command == "POST":
                self.close_connection = True
            self._send(
                401,
                [
                    ("WWW-Authenticate", 'Basic realm="git test server"'),
                    ("Content-Type", "text/plain"),
                ]
                + ([("Connection", "close")] if self.close_connection else []),
                b"authentication required\n",
            )
            return

        body = self._read_body() if self.command == "POST" else b""
        path, _, query = self.path.partition("?")
        env = dict(self.server.backend_env)
        env.update(
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL=self.request_version,
            SERVER_SOFTWARE=self.server_version,
            SERVER_NAME="127.0.0.1",
            SERVER_PORT=str(self.server.server_address[1]),
            REMOTE_ADDR=self.client_address[0],
            REQUEST_METHOD=self.command,
            PATH_INFO=urllib.parse.unquote(path),
            QUERY_STRING=query,
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            CONTENT_LENGTH=str(len(body)),
        )
        if user:
            env["REMOTE_USER"] = user
            env["AUTH_TYPE"] = "Basic"
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]

        proc = subprocess.run(
            ["git", "http-backend"],
            check=False,
            input=body,
            env=env,
            capture_output=True,
            timeout=300,
        )
        if proc.stderr:
            with self.server.log_lock, open(self.server.backend_log, "ab") as f:
                f.write(proc.stderr)
        out = proc.stdout
        m = re.search(rb"\r?\n\r?\n", out)
        if m is None:
            self._send(500, [("Content-Type", "text/plain")], b"bad CGI output\n" + out[:2000])
            return
        head, payload = out[: m.start()], out[m.end() :]
        code = 200
        headers: list[tuple[str, str]] = []
        for raw in head.splitlines():
            name, _, value = raw.decode("latin-1").partition(":")
            name, value = name.strip(), value.strip()
            if not name:
                continue
            if name.lower() == "status":
                code = int(value.split()[0])
            elif name.lower() != "content-length":
                headers.append((name, value))
        self._send(code, headers, payload)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()


@dataclass
class HttpGitServer:
    """A running smart-HTTP git server on 127.0.0.1 (``git http-backend`` behind our server)."""

    port: int
    host: str
    base_dir: Path
    username: str | None
    password: str | None
    log_path: Path
    _repos: _BareRepoMaker = field(repr=False)

    @property
    def repos_root(self) -> Path:
        return self._repos.repos_root

    @property
    def env(self) -> dict[str, str]:
        """Variables a git client needs (none: present for symmetry with the SSH server)."""
        return {}

    def make_bare_repo(self, name: str) -> Path:
        """A new bare repo (initial branch main) with ``http.receivepack true``."""
        return self._repos.make_bare_repo(name)

    def url_for(
        self,
        bare_repo_path: Path,
        username: str | None = None,
        password: str | None = None,
    ) -> str:
        """``http://127.0.0.1:<port>/<name>.git``; with credentials embedded if given."""
        rel = Path(bare_repo_path).resolve().relative_to(self.repos_root.resolve())
        auth = ""
        if username is not None:
            auth = urllib.parse.quote(username, safe="")
            if password is not None:
                auth += ":" + urllib.parse.quote(password, safe="")
            auth += "@"
        return f"http://{auth}{self.host}:{self.port}/{urllib.parse.quote(rel.as_posix())}"

    def authed_url_for(self, bare_repo_path: Path) -> str:
        """URL with this server's own username/password embedded (plain URL without auth)."""
        return self.url_for(bare_repo_path, self.username, self.password)


@contextlib.contextmanager
def http_git_server(
    tmp_dir: Path, username: str | None = None, password: str | None = None
) -> Iterator[HttpGitServer]:
    """Serve bare repos under ``tmp_dir`` over smart HTTP on 127.0.0.1, optional Basic auth."""
    if (username is None) != (password is None):
        raise ValueError("give both username and password, or neither")
    d = Path(tmp_dir).resolve() / f"http-{next(_http_counter)}"
    d.mkdir(parents=True, exist_ok=True)
    repos = _BareRepoMaker(d / "repos", d / "git-home", http_receivepack=True)
    log_path = d / "http.log"
    log_path.write_text("")

    backend_env = isolated_git_env(d / "backend-home")
    backend_env.update(GIT_PROJECT_ROOT=str(repos.repos_root), GIT_HTTP_EXPORT_ALL="1")

    httpd = _ThreadingHTTPServer(("127.0.0.1", 0), _GitCgiHandler)
    httpd.project_root = repos.repos_root
    httpd.credentials = (username, password) if username is not None else None  # type: ignore[assignment]
    httpd.backend_env = backend_env
    httpd.backend_log = log_path
    httpd.log_lock = threading.Lock()
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
        name=f"git-http-{httpd.server_address[1]}",
    )  # fmt: skip
    thread.start()
    try:
        yield HttpGitServer(
            port=httpd.server_address[1],
            host="127.0.0.1",
            base_dir=d,
            username=username,
            password=password,
            log_path=log_path,
            _repos=repos,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


_http_counter = itertools.count()
