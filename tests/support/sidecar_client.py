"""Drive `python -m claude_sync lsp` as the VS Code extension does: a real JSON-RPC client over stdio."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, make_test_lsp_client

from claude_sync.lsp.models import plain  # namedtuples (pygls' view of JSON objects) -> dicts
from tests.support.devices import REPO, Device

SIDECAR = [sys.executable, "-m", "claude_sync", "lsp"]


def sidecar_env(device: Device) -> dict[str, str]:
    # Tokens go to the credential store's file, never to the developer's real keyring.
    return device.env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")


class SidecarClient:
    """One sidecar process for one device (its HOME), and what it sent us, in arrival order."""

    def __init__(self, device: Device, options: dict[str, Any] | None = None) -> None:
        self.device = device
        self.options = options
        self.client: LanguageClient = make_test_lsp_client()
        # ("progress" | "changed", params) and ("result", method), in the order they arrived.
        self.events: list[tuple[str, Any]] = []
        self.client.feature("claudeSync/progress")(lambda params: self.events.append(("progress", plain(params))))
        self.client.feature("claudeSync/changed")(lambda params: self.events.append(("changed", plain(params))))

    async def start(self) -> SidecarClient:
        await self.client.start_io(*SIDECAR, env=sidecar_env(self.device), cwd=str(REPO))
        await self.client.initialize_session(
            types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=self.options)
        )
        return self

    async def stop(self) -> None:
        await self.client.shutdown_session()
        await self.client.stop()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        result = plain(await self.client.protocol.send_request_async(method, {} if params is None else params))
        self.events.append(("result", method))
        return result

    def notes(self, kind: str) -> list[Any]:
        return [p for k, p in self.events if k == kind]

    def take_events(self) -> list[tuple[str, Any]]:
        events, self.events = self.events, []
        return events


class RawJsonRpc:
    """The sidecar over bare pipes, reading stdout byte by byte, to see exactly what it writes there."""

    def __init__(self, device: Device, stderr: IO[bytes]) -> None:
        self.proc = subprocess.Popen(
            SIDECAR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=sidecar_env(device), cwd=REPO
        )
        self.next_id = 0
        self.received: list[dict[str, Any]] = []

    def send(self, method: str, params: Any = None, *, notify: bool = False) -> int | None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        msg_id = None
        if not notify:
            self.next_id += 1
            msg_id = msg["id"] = self.next_id
        body = json.dumps(msg).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return msg_id

    def read_message(self) -> dict[str, Any]:
        """One frame, parsed strictly: headers, a blank line, exactly Content-Length bytes of JSON-RPC."""
        assert self.proc.stdout is not None
        headers = {}
        while True:
            line = self.proc.stdout.readline()
            assert line.endswith(b"\r\n"), f"not a header line on stdout: {line!r}"
            if line == b"\r\n":
                break
            name, sep, value = line.decode("ascii").partition(":")
            assert sep, f"not a header line on stdout: {line!r}"
            headers[name.strip().lower()] = value.strip()
        body = self.proc.stdout.read(int(headers["content-length"]))
        msg = json.loads(body)
        assert msg["jsonrpc"] == "2.0"
        self.received.append(msg)
        return msg

    def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Send a request; read frames until its response."""
        return self.response(self.send(method, params))

    def response(self, msg_id: int | None) -> dict[str, Any]:
        while True:
            msg = self.read_message()
            if msg.get("id") == msg_id and "method" not in msg:
                return msg

    def rest_of_stdout(self) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.read()


StartSidecar = Callable[..., Awaitable[SidecarClient]]


@pytest.fixture
async def sidecar() -> AsyncIterator[StartSidecar]:
    """Start a sidecar for a device; every one started is shut down after the test."""
    started: list[SidecarClient] = []

    async def start(device: Device, **options: Any) -> SidecarClient:
        client = await SidecarClient(device, options or None).start()
        started.append(client)
        return client

    yield start
    for client in started:
        await client.stop()


async def rpc_error(request: Awaitable[Any]) -> JsonRpcException:
    """The JSON-RPC error a request ends with (it must end with one)."""
    with pytest.raises(JsonRpcException) as e:
        await request
    return e.value
