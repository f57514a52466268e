"""A bulk pull's sessions fetched, checked and rendered ahead, while the engine writes the one before.

A new device's `pull --all` spends its time in three places that need not wait on each other:
the backend (git reading objects, or an HTTP download, and the checks of every file against its
digest and line by line), rewriting paths (CPU-bound Python), and writing files (the kernel).
Here one thread fetches the next sessions through the backend, in the order the engine will ask
for them, and hands each verified bundle to a rendering worker process (portable.Renderer); the
engine takes them in turn and writes them. Every call to the backend during the pull goes through
that one thread, one at a time, as without a prefetch: a backend is never used by two threads at once.
Nothing here writes to the device: a bundle that fails verification or rendering fails when the
engine takes it, exactly as a fetch or a render there would have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .backends.base import Backend
from .deletion import tombstone_of
from .format.bundle import Bundle
from .format.errors import SyncError
from .format.wire import RemoteEntry
from .portable import Renderer, render
from .project import DeviceLayout

log = logging.getLogger(__name__)

AHEAD = 8  # sessions fetched and not yet taken, at most (the Git backend keeps the spilled files of 16)
AHEAD_BYTES = 64 * 1024 * 1024  # and their bytes as listed, at most (one session always goes)


@dataclass
class Fetched:
    """A verified bundle, with its rendering under way when it could be placed ahead."""

    bundle: Bundle
    placed: tuple[str, Path] | None = None  # (working directory, project folder) it is rendered for
    rendered: Future[object] | None = None  # of the Renderer


Placement = Callable[[Bundle], tuple[str, Path]]  # where the engine will write a session


class Prefetch:
    """Fetches (and starts rendering) the planned sessions ahead, in order, on one thread."""

    def __init__(
        self,
        backend: Backend,
        layout: DeviceLayout,
        renderer: Renderer | None,
        place: Placement,
        *,
        ahead: int | None = None,
        ahead_bytes: int | None = None,
    ) -> None:
        self.backend, self.layout, self.renderer, self.place = backend, layout, renderer, place
        self.ahead, self.ahead_bytes = ahead or AHEAD, ahead_bytes or AHEAD_BYTES
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="claude-sync-prefetch")
        self._plan: list[RemoteEntry] = []
        self._next = 0
        self._waiting: dict[str, tuple[Future[Fetched], int]] = {}  # session -> (its fetch, listed size)

    def plan(self, entries: list[RemoteEntry]) -> None:
        """Sessions the engine will fetch whole (new on this device), in the order it will ask."""
        self._plan, self._next = list(entries), 0
        self._fill()

    def _fill(self) -> None:
        held = sum(size for _f, size in self._waiting.values())
        while self._next < len(self._plan) and len(self._waiting) < self.ahead and (not self._waiting or held < self.ahead_bytes):
            e = self._plan[self._next]
            self._next += 1
            if e.session_id in self._waiting:
                continue
            self._waiting[e.session_id] = (self._thread.submit(self._fetch, e.session_id), e.size)
            held += e.size

    def _fetch(self, session_id: str) -> Fetched:
        got = Fetched(self.backend.fetch(session_id))
        if tombstone_of(got.bundle) is not None:
            return got
        try:
            got.placed = self.place(got.bundle)
        except (SyncError, OSError, ValueError) as e:  # the engine meets it again, and reports it
            log.debug("session %s not placed ahead: %s", session_id, e)
            return got
        cwd, folder = got.placed
        if self.renderer is not None and self.renderer.parallel:
            got.rendered = self.renderer.submit(got.bundle, folder.name, cwd)
        else:  # here, on this thread; a failure is raised when the engine takes it
            got.rendered = Future()
            try:
                got.rendered.set_result(render(got.bundle, self.layout, folder.name, cwd))
            except (SyncError, OSError) as e:
                got.rendered.set_exception(e)
        return got

    def rendered(self, fetched: Fetched) -> tuple[str, dict[str, bytes]]:
        """What render() gives for the fetched bundle where it was placed (raises what render() raises)."""
        assert fetched.rendered is not None and fetched.placed is not None
        cwd, folder = fetched.placed
        if self.renderer is not None and self.renderer.parallel:
            return self.renderer.result(fetched.rendered, fetched.bundle, folder.name, cwd)
        return fetched.rendered.result()  # type: ignore[return-value]

    def fetch(self, session_id: str, have: Bundle | None = None) -> Fetched:
        """The session's bundle (fetched ahead when planned, else now, on the same thread)."""
        planned = self._waiting.pop(session_id, None) if have is None else None
        self._fill()
        if planned is None:
            return Fetched(self._thread.submit(self.backend.fetch, session_id, have).result())
        return planned[0].result()  # what the fetch raised is raised here, as from backend.fetch

    def forget(self, session_id: str) -> None:
        """The engine is done with this session: a fetch of it not taken is no longer wanted."""
        planned = self._waiting.pop(session_id, None)
        if planned is not None:
            planned[0].cancel()
            self._fill()

    def close(self) -> None:
        for future, _size in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        self._thread.shutdown(wait=True)

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
