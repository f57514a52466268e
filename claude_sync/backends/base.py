"""The one interface every backend implements (contract tests run against each)."""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass

from ..format.bundle import Bundle
from ..format.errors import BackendError
from ..format.wire import RemoteEntry


@dataclass
class PushItem:
    bundle: Bundle
    base: str | None  # content digest seen on the remote when deciding; None = expected absent
    force: bool = False  # replace the remote copy even when it is longer (the user asked)


class PartialPush(BackendError):
    """Some bundles of a push failed on their own (too large, invalid); the rest went through."""

    def __init__(self, results: dict[str, PushResult], failures: dict[str, str]) -> None:
        super().__init__("; ".join(f"{sid}: {why}" for sid, why in failures.items()))
        self.results, self.failures = results, failures


class PushResult(str, enum.Enum):
    PUSHED = "pushed"
    CONFLICT = "conflict"  # the remote changed since `base`: decide again
    HELD = "held"  # stored here, not yet on the remote: publish() sends it (after hold())


class Backend(abc.ABC):
    name: str = "backend"

    def refresh(self) -> None:
        """Bring the view of the remote up to date (a fetch, for Git)."""

    @abc.abstractmethod
    def entries(self) -> list[RemoteEntry]:
        """Every session the remote holds (as of the last refresh)."""

    @abc.abstractmethod
    def fetch(self, session_id: str, have: Bundle | None = None) -> Bundle:
        """The verified bundle of a session (BundleError when it fails verification).

        `have` is the copy this device holds, if any: a backend may then transfer
        only what that copy lacks. The result is the same either way.
        """

    @abc.abstractmethod
    def push(self, items: list[PushItem]) -> dict[str, PushResult]:
        """Store bundles unless the remote moved past their base; never force.

        A backend may send only what is new against the remote copy `base`; the result is the same.
        """

    def remove(self, bases: dict[str, str]) -> dict[str, PushResult]:
        """Remove objects (session id -> the content digest expected there) from the remote; an
        object that changed since is a CONFLICT and stays. Only compaction calls it, for tombstones."""
        raise BackendError(f"the {self.name} backend cannot remove objects from the remote")

    def stage(self, bundle: Bundle) -> None:
        """A hint during a bulk push: this bundle is likely to be pushed soon, and is new on the
        remote. A backend may start storing it (Git compresses it while the engine packs the
        next sessions); push() still decides. By default nothing happens."""

    def sealer(self, session_id: str) -> Callable[[Bundle], object] | None:
        """A picklable function a packing worker of a bulk push applies to this session's bundle
        once packed (the result travels back on the bundle, `made_ahead`), or None. An encrypted
        remote seals there, on the worker's core. By default nothing."""
        return None

    def hold(self) -> bool:
        """Asked at the start of a bulk push: keep what push() stores here (answering HELD) until
        publish() sends all of it at once. True when the backend does; by default it does not."""
        return False

    def publish(self) -> dict[str, PushResult]:
        """Send what push() held since hold(): PUSHED, or CONFLICT for a session the remote changed
        meanwhile (decide again). Ends the holding."""
        return {}

    def unreadable(self) -> dict[str, str]:
        """Sessions the remote holds but cannot list (session id -> why), as of the last refresh."""
        return {}

    def close(self) -> None:
        pass

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
