"""Prometheus metrics in the text exposition format (version 0.0.4), for `GET /metrics`.

Per replica: requests by route, method and status; their latency as a histogram; bytes
received and sent. For the whole store (every replica sees the same): users, sessions
and stored bytes. Labels carry route templates, never ids or user names.

Small enough to write here rather than depend on prometheus_client: three counters, one
histogram and three gauges, rendered on demand.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .storage import StorageStats

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATS_TTL = 10.0  # seconds a storage figure is reused: scrapes should not scan the index each time

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels)
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[Labels, int] = defaultdict(int)
        self.latency_buckets: dict[Labels, list[int]] = {}
        self.latency_sum: dict[Labels, float] = defaultdict(float)
        self.latency_count: dict[Labels, int] = defaultdict(int)
        self.bytes_received: dict[Labels, int] = defaultdict(int)
        self.bytes_sent: dict[Labels, int] = defaultdict(int)
        self.in_flight = 0
        self._stats: tuple[float, StorageStats] | None = None

    def observe(self, route: str, method: str, status: int, seconds: float, received: int, sent: int) -> None:
        by_status = (("route", route), ("method", method), ("status", str(status)))
        by_route = (("route", route), ("method", method))
        with self._lock:
            self.requests[by_status] += 1
            counts = self.latency_buckets.setdefault(by_route, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self.latency_sum[by_route] += seconds
            self.latency_count[by_route] += 1
            self.bytes_received[by_route] += received
            self.bytes_sent[by_route] += sent

    def storage_stats(self, fetch: Callable[[], StorageStats]) -> StorageStats | None:
        now = time.monotonic()
        if self._stats is None or now - self._stats[0] > STATS_TTL:
            try:
                self._stats = (now, fetch())
            except Exception:  # the database is down: the request figures still matter
                return None
        return self._stats[1]

    def render(self, stats: StorageStats | None) -> str:
        out: list[str] = []

        def family(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("claude_sync_requests_total", "counter", "HTTP requests answered, by route, method and status.")
            for labels, n in sorted(self.requests.items()):
                out.append(f"claude_sync_requests_total{_labels(labels)} {n}")
            family("claude_sync_request_duration_seconds", "histogram", "Time to answer a request, body included.")
            for labels, counts in sorted(self.latency_buckets.items()):
                for bound, n in zip(BUCKETS, counts):
                    out.append(
                        f"claude_sync_request_duration_seconds_bucket{_labels((*labels, ('le', str(bound))))} {n}"
                    )
                out.append(
                    f"claude_sync_request_duration_seconds_bucket{_labels((*labels, ('le', '+Inf')))} "
                    f"{self.latency_count[labels]}"
                )
                out.append(f"claude_sync_request_duration_seconds_sum{_labels(labels)} {self.latency_sum[labels]:.6f}")
                out.append(f"claude_sync_request_duration_seconds_count{_labels(labels)} {self.latency_count[labels]}")
            family("claude_sync_received_bytes_total", "counter", "Request body bytes received, by route.")
            for labels, n in sorted(self.bytes_received.items()):
                out.append(f"claude_sync_received_bytes_total{_labels(labels)} {n}")
            family("claude_sync_sent_bytes_total", "counter", "Response body bytes sent, by route.")
            for labels, n in sorted(self.bytes_sent.items()):
                out.append(f"claude_sync_sent_bytes_total{_labels(labels)} {n}")
            family("claude_sync_requests_in_flight", "gauge", "Requests being answered by this replica.")
            out.append(f"claude_sync_requests_in_flight {self.in_flight}")
        if stats is not None:
            family("claude_sync_users", "gauge", "Users of the whole store.")
            out.append(f"claude_sync_users {stats.users}")
            family("claude_sync_sessions", "gauge", "Sessions stored, all users.")
            out.append(f"claude_sync_sessions {stats.sessions}")
            family("claude_sync_stored_bytes", "gauge", "Bytes of the stored bundles, all users (what quotas count).")
            out.append(f"claude_sync_stored_bytes {stats.bytes}")
        return "\n".join(out) + "\n"


class MetricsMiddleware:
    """Counts every HTTP request at the ASGI level: status, time to the last byte, bytes each way."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        seen: dict[str, Any] = {"status": 500, "received": 0, "sent": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["received"] += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["sent"] += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight += 1
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            self.metrics.in_flight -= 1
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            self.metrics.observe(
                path, scope["method"], seen["status"], time.perf_counter() - start, seen["received"], seen["sent"]
            )
