"""Clients that send too slowly cannot hold the server's connections (and file descriptors)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx

from devtools.server_process import ServerProcess


def _stalled(port: int, payload: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(60)  # far beyond the server's read timeout: a hang fails the test instead of passing it
    s.sendall(payload)
    return s


def _closed_by_server(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    s.close()
    return got


def test_stalled_headers_and_bodies_are_cut_off_and_others_are_served(tmp_path: Path):
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "claude_sync", "serve", "--host", "127.0.0.1", "--data", str(data), "--read-timeout", "1"]
    with ServerProcess(data, command=cmd) as server:
        port = server.port
        # headers that never end, even when a byte trickles in now and then
        headers = _stalled(port, b"POST /api/sessions/push HTTP/1.1\r\nHost: x\r\n")
        # a body that stops halfway
        body = _stalled(
            port,
            b"POST /api/sessions/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
            b"X-Bundle-SHA256: " + b"0" * 64 + b"\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10,
        )
        many = [_stalled(port, b"GET /health HTTP/1.1\r\n") for _ in range(50)]
        assert _closed_by_server(headers) == b""
        answer = _closed_by_server(body)
        assert answer == b"" or b"HTTP/1.1 4" in answer.split(b"\r\n")[0]
        for s in many:
            _closed_by_server(s)
        assert httpx.get(f"{server.url}/health", timeout=30).status_code == 200
