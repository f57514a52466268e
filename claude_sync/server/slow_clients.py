"""Connections that send too slowly are closed, so slow (or stalled) uploads cannot hold the server's sockets.

uvicorn waits for a request's headers and body as long as the client likes: 600 clients that open a
connection and send nothing more exhaust the process's file descriptors, and everyone else gets
errors. This protocol gives the headers of each request one deadline (a trickle of bytes does not
extend it), and a body `read_timeout` seconds between two pieces. While the application works on a
request nothing is timed; between requests uvicorn's own keep-alive timeout applies.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_READ_TIMEOUT = 30.0


class TimelyH11Protocol(H11Protocol):
    read_timeout = DEFAULT_READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._stall: asyncio.TimerHandle | None = None
        self._waiting_for_headers = False
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # between requests: this one's headers are coming
            if not self._waiting_for_headers:
                self._arm()
                self._waiting_for_headers = True
            return
        self._waiting_for_headers = False
        if cycle.more_body:  # a body arriving: each piece restarts the clock
            self._arm()
        else:  # the application has the request: it takes the time it needs
            self._cancel()

    def _arm(self) -> None:
        self._cancel()
        self._stall = self.loop.call_later(self.read_timeout, self._too_slow)

    def _cancel(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _too_slow(self) -> None:
        self._stall = None
        self.logger.info("closing a connection that sent nothing for %s s", self.read_timeout)
        self.transport.close()


def timely_protocol(read_timeout: float) -> type[TimelyH11Protocol]:
    return type("TimelyH11Protocol", (TimelyH11Protocol,), {"read_timeout": read_timeout})
