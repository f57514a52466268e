"""Fixtures for end-to-end tests that run the real Claude Code CLI against a mock API.

- ``claude_bin`` (session): path of the pinned client (``CLAUDE_CODE_VERSION`` picks
  another), installed by ``scripts/install-claude-code.sh`` (cached outside the repo). An
  install failure FAILS the test with the installer's output; set ``CLAUDE_SYNC_SKIP_E2E=1``
  to skip these tests instead. ``CLAUDE_SYNC_CLAUDE_BIN=/path/to/claude`` uses that binary as is.
- ``claude_version`` (session): its version tuple, e.g. ``(2, 1, 197)``.
- ``client`` (parametrized ``pinned`` / ``newest``): a :class:`Client` for tests that must
  hold on both clients named in ``claude-code-versions.json``: the pinned one and the newest
  verified one (``CLAUDE_SYNC_NEWEST_CLAUDE_CODE=<version>`` replaces the latter; that is
  how ``scripts/e2e-newest.sh`` runs the suite against the release npm serves today).
- ``clients`` (session): both, as a dict by role, for tests that mix versions.
- ``mock_api``: a started :class:`MockMessagesAPI` (no script: every request gets a
  short text answer); tests call ``mock_api.set_script(...)``. Teardown fails the test
  if a script raised.
- ``make_machine``: factory ``make_machine(name="a") -> ClaudeMachine`` with its own HOME
  under ``tmp_path/name``, talking to ``mock_api``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # helpers are plain modules beside this file
    sys.path.insert(0, str(HERE))

from claude_client import ClaudeMachine, client_version
from mock_messages_api import MockMessagesAPI

REPO = HERE.parent.parent
INSTALL_SCRIPT = REPO / "scripts" / "install-claude-code.sh"
INSTALL_TIMEOUT = 1200

# Taken at import time, before any fixture points HOME at a temp dir (tests/conftest.py
# does, per test): the client cache must stay in the real user's cache folder.
_CACHE_ROOT = os.environ.get("CLAUDE_SYNC_CACHE") or os.path.join(
    os.environ.get("HOME") or os.path.expanduser("~"), ".cache", "claude-sync-sessions"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            inside = Path(str(item.path)).resolve().is_relative_to(HERE)
        except (AttributeError, ValueError):
            inside = False
        if inside:
            item.add_marker(pytest.mark.e2e)


def _skip_requested() -> bool:
    return os.environ.get("CLAUDE_SYNC_SKIP_E2E", "").strip().lower() in ("1", "true", "yes")


VERSIONS_FILE = REPO / "claude-code-versions.json"
CLIENT_ROLES = ("pinned", "newest")


@dataclass(frozen=True)
class Client:
    """One Claude Code client the tests run: its role, version and executable."""

    role: str  # "pinned" or "newest"
    version: tuple[int, ...]
    bin: str

    def __str__(self) -> str:
        return f"{self.role} {'.'.join(map(str, self.version))}"


def recorded_versions() -> dict[str, str]:
    """The pinned and the newest verified client versions (claude-code-versions.json)."""
    data = json.loads(VERSIONS_FILE.read_text("utf-8"))
    return {"pinned": data["pinned"], "newest": data["newest_verified"]}


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """Absolute path of the pinned ``claude`` executable (installing it if needed)."""
    if _skip_requested():
        pytest.skip("CLAUDE_SYNC_SKIP_E2E=1: end-to-end tests with the real client skipped")
    override = os.environ.get("CLAUDE_SYNC_CLAUDE_BIN")
    if override:
        if not os.access(override, os.X_OK):
            pytest.fail(f"CLAUDE_SYNC_CLAUDE_BIN={override!r} is not an executable file")
        return override
    return _install(os.environ.get("CLAUDE_CODE_VERSION") or "pinned")


@pytest.fixture(scope="session")
def clients() -> dict[str, Client]:
    """Both clients of claude-code-versions.json, by role (installed if needed)."""
    if _skip_requested():
        pytest.skip("CLAUDE_SYNC_SKIP_E2E=1: end-to-end tests with the real client skipped")
    versions = recorded_versions()
    versions["newest"] = os.environ.get("CLAUDE_SYNC_NEWEST_CLAUDE_CODE") or versions["newest"]
    out = {}
    for role in CLIENT_ROLES:
        path = _install(versions[role])
        out[role] = Client(role, client_version(path), path)
    return out


@pytest.fixture(params=CLIENT_ROLES)
def client(request: pytest.FixtureRequest, clients: dict[str, Client]) -> Client:
    """Each of the two clients in turn (a test using it runs twice)."""
    return clients[request.param]


def _install(version: str) -> str:
    """Install a client with the install script; its executable's path."""
    if not INSTALL_SCRIPT.exists():
        pytest.fail(f"install script missing: {INSTALL_SCRIPT}")
    try:
        proc = subprocess.run(
            ["bash", str(INSTALL_SCRIPT), version], capture_output=True, text=True,
            env={**os.environ, "CLAUDE_SYNC_CACHE": _CACHE_ROOT},
            timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"installing the Claude Code CLI timed out after {INSTALL_TIMEOUT}s "
            f"({INSTALL_SCRIPT}); stderr so far:\n{exc.stderr or ''}\n"
            "Set CLAUDE_SYNC_SKIP_E2E=1 to skip the end-to-end tests."
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    path = lines[-1].strip() if lines else ""
    if proc.returncode != 0 or not path or not os.access(path, os.X_OK):
        pytest.fail(
            f"installing the Claude Code CLI failed (exit {proc.returncode}) with {INSTALL_SCRIPT}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}\n"
            "The end-to-end tests need npm and the npm registry. "
            "Set CLAUDE_SYNC_SKIP_E2E=1 to skip them."
        )
    return path


@pytest.fixture(scope="session")
def claude_version(claude_bin: str) -> tuple[int, ...]:
    """Version of ``claude_bin`` as a tuple, e.g. ``(2, 1, 197)``."""
    return client_version(claude_bin)


@pytest.fixture
def mock_api() -> Iterator[MockMessagesAPI]:
    """A running mock Messages API on 127.0.0.1 (stopped after the test)."""
    with MockMessagesAPI() as api:
        yield api
        if api.errors:
            pytest.fail(f"mock API script raised: {api.errors!r}")


@pytest.fixture
def make_machine(
    tmp_path: Path, claude_bin: str, mock_api: MockMessagesAPI
) -> Callable[..., ClaudeMachine]:
    """Factory for simulated machines: ``make_machine("a")``, ``make_machine("b")``."""
    made: dict[str, ClaudeMachine] = {}

    def factory(name: str = "machine", *, client: Client | None = None, **kwargs) -> ClaudeMachine:
        if name in made:
            return made[name]
        m = ClaudeMachine(tmp_path / name, client.bin if client else claude_bin, mock_api.url, name=name, **kwargs)
        made[name] = m
        return m

    return factory
