"""The real sync server in a subprocess on 127.0.0.1, for tests.

`SyncServer.start()` runs `python -m claude_sync serve` on a free port with its own data
dir and waits for /health; `stop()` ends it by its pid. Its output goes to `log_file`, so
tests can read what it logged.

Fixtures:
* ``private_sync_server`` -> a server process of the test's own, with a user and token
                             (for tests that stop, kill or reconfigure it)
* ``sync_server``         -> a fresh user and token on one server process shared by the
                             session (users see only their own sessions, so tests stay apart)
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_sync import credentials
from claude_sync.backends.http import HttpBackend
from claude_sync.format import version, wire
from claude_sync.server.sqlite_storage import SqliteStorage
from claude_sync.server.storage import Storage
from claude_sync.server.stores import open_storage
from devtools.server_process import ServerProcess
from tests.support.devices import Device


class SyncServer(ServerProcess):
    def __init__(
        self,
        data: Path,
        *,
        max_bundle_bytes: int | None = None,
        database: str | None = None,
        args: list[str] | None = None,
    ) -> None:
        super().__init__(data, max_bundle_bytes=max_bundle_bytes, database=database, args=args)
        self.user = "alice"
        self.token = ""
        self.shared = False

    def start(self) -> SyncServer:
        super().start()
        return self

    def as_user(self, name: str) -> SyncServer:
        """A view of this running server as a new user with its own token; it cannot stop the process."""
        view = copy.copy(self)
        view.proc, view.shared = None, True
        view.user, view.token = name, self.add_user(name)
        return view

    def _own(self) -> None:
        if self.shared:
            raise RuntimeError("this server is shared by other tests: use private_sync_server to stop or kill it")

    def stop(self) -> None:
        self._own()
        super().stop()

    def kill(self) -> None:
        self._own()
        super().kill()

    def restart(self) -> SyncServer:
        self._own()
        self.stop()
        return self.start()

    # -- users and clients -------------------------------------------------

    def storage(self) -> Storage:
        """The server's store, opened beside it (as the administrator's commands do)."""
        if self.database:
            return open_storage(database=self.database)
        return SqliteStorage(self.data)

    def admin(self, what: str, *args: object, **kw: object) -> object:
        store = self.storage()
        try:
            return getattr(store, what)(*args, **kw)
        finally:
            store.close()

    def add_user(self, name: str, token_name: str | None = None) -> str:
        return str(self.admin("add_user", name, token_name=token_name))

    def revoke(self, name: str, token_name: str | None = None) -> int:
        return int(self.admin("revoke", name, token_name))  # type: ignore[call-overload]

    def client(self, token: str | None = None) -> httpx.Client:
        """A raw HTTP client; token None: the default user's, "" none at all."""
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers[wire.FORMAT] = str(version.FORMAT_VERSION)  # as a current device says (older ones cannot write)
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def backend(self, token: str | None = None, **kw: object) -> HttpBackend:
        token = self.token if token is None else token
        kw.setdefault("backoff", 0.05)
        return HttpBackend(self.url, lambda: token, **kw)  # type: ignore[arg-type]

    def device(self, root: Path, name: str, projects: str, token: str | None = None, **config: object) -> Device:
        """A simulated device using this server, its token stored through the credential store."""
        dev = Device(root, name, projects, backend="server", server_url=self.url, **config)
        credentials.set_token(self.url, self.token if token is None else token, dev.paths)
        return dev

    # -- what is on disk ---------------------------------------------------

    def stray_files(self) -> list[str]:
        """Files under tmp/ and blobs/ that no listed session accounts for."""
        store = self.storage()
        assert isinstance(store, SqliteStorage)
        used = {e.sha256 for u in store.users() for e in store.sessions(u.name)}
        out = [str(p.relative_to(self.data)) for p in (self.data / "tmp").rglob("*") if p.is_file()]
        out += [
            str(p.relative_to(self.data))
            for p in (self.data / "blobs").rglob("*")
            if p.is_file() and p.name not in used
        ]
        return sorted(out)


@pytest.fixture
def no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep tokens away from the developer's real keyring: the credential store falls back to its file.

    Set for this process (keyring caches its backend) and, through the environment, for subprocesses.
    """
    import keyring
    from keyring.backends import fail

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def private_sync_server(start_sync_server: Callable[..., SyncServer]) -> SyncServer:
    return start_sync_server()


@pytest.fixture
def start_sync_server(tmp_path: Path, no_os_keyring: None) -> Iterator[Callable[..., SyncServer]]:
    """Start servers of the test's own with options (e.g. max_bundle_bytes); all are stopped at the end."""
    started: list[SyncServer] = []

    def start(name: str = "server-data", **options: Any) -> SyncServer:
        server = SyncServer(tmp_path / name, **options)
        server.data.mkdir()
        server.token = server.add_user(server.user)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def _shared_sync_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncServer]:
    server = SyncServer(tmp_path_factory.mktemp("shared-sync-server") / "data")
    server.data.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


_users = itertools.count(1)


@pytest.fixture
def sync_server(_shared_sync_server: SyncServer, no_os_keyring: None) -> SyncServer:
    return _shared_sync_server.as_user(f"user{next(_users)}")
