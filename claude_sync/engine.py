"""SyncEngine: decides, per session, what push and pull do, and does it.

Every bulk operation goes on after a single failure and ends with a Summary.
Decisions (see docs/how-it-works.md):

* identical content (same digest)             -> nothing to do
* remote unchanged since our last sync         -> push our version
* one copy's logs extend the other's           -> the longer copy wins, whatever the clocks say
* diverged                                     -> last writer wins; a replaced local copy is backed up
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

from . import atomic, claude_home, forks, never_sync
from .backends import Backend, PushItem, PushResult
from .backends.base import PartialPush
from .backups import prune
from .checkouts import Checkouts, identity_of
from .config import Config, Paths, this_flavour
from .deletion import DELETED_TITLE, continued_after, move_to_backups, tombstone_bundle, tombstone_of, when
from .discovery import LocalSession, discover
from .format.bundle import MEMORY_KIND, Bundle, content_digest, memory_object_id, parse_time
from .format.errors import BundleError, NotPortable, SyncError, UsageError
from .format.layout import LEGACY_AGENTS, is_session_folder_file
from .format.locking import exclusive
from .format.tombstone import Tombstone
from .format.wire import RemoteEntry
from .memory import apply_memory, memory_files, pack_memory
from .merge import merged_bundle
from .meta_cache import MetaCache
from .portable import PARALLEL_MIN_BYTES, Packer, Renderer, pack, render, render_title, session_branch
from .prefetch import Fetched, Prefetch
from .project import SUB_SEPARATOR, DeviceLayout, NoCheckout, repo_key, split_repo_key
from .repos import clone_url, normalize_url, short_name
from .restore import RestorePlan, write_restore
from .state import SyncState
from .sweep import kept_from_sweep, mtime_floor, safe_mtime
from .transcript import legacy_agent_owner, legacy_agent_owner_of
from .versions import Relation, compare

log = logging.getLogger(__name__)

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
REMOTE_ONLY = "on the remote only: removed from this device (the client's cleanup, or a local delete); pull it by id to fetch it"
KEPT_HERE = "deleted on the remote, kept on this device only"
# The reason of a session skipped because its working directory has no place on other devices:
# not a failure (nothing went wrong, and retrying does not help). Summaries count these apart.
NOT_PORTABLE = "not portable"
CONFLICT_ROUNDS = 3
STALE_TEMP_SECONDS = 60.0  # a temp file of ours this old in the client's folders was left by a killed sync
# A bulk push goes out in about PUSH_BATCHES batches (a commit each, for Git) within these bounds:
# packing the next batch overlaps with sending this one, and memory stays bounded: a push holds
# the batch it builds, the batch in flight and what the packer has ready (portable.AHEAD_BYTES),
# so with 256 MB batches a 20,000-session corpus peaked at 808 MB; with 32 to 64 MB, 399 MB, as fast.
# Since the Git backend gzips files itself (format 6) batches of 32 MB push the 2 GB corpus as fast
# as 64 MB ones, and the push's own peak went from 433 to 380 MB.
PUSH_BATCHES = 8
PUSH_BATCH_BYTES = (32 * 1024 * 1024, 32 * 1024 * 1024)

Progress = Callable[[int, int, "Outcome"], None]


@dataclass
class Outcome:
    session_id: str
    status: str  # done | skipped | failed
    reason: str = ""
    project_key: str | None = None
    title: str = ""
    depends_on: list[str] = field(default_factory=list)  # sessions this one needs (fork parents)


@dataclass
class Summary:
    action: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        return 1 if self.count(FAILED) else 0

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "done": self.count(DONE),
            "skipped": self.count(SKIPPED),
            "failed": self.count(FAILED),
            "outcomes": [asdict(o) for o in self.outcomes],
        }

    def line(self) -> str:
        return f"{self.action}: {self.count(DONE)} done, {self.count(SKIPPED)} skipped, {self.count(FAILED)} failed"


@dataclass
class _Push:
    bundle: Bundle
    why: str
    base: str | None  # the remote version this push replaces
    force: bool = False


@dataclass
class _PushRun:
    """One call of push: what it was asked for and what it has settled so far, handed along its
    steps (never kept on the engine, which outlives it)."""

    summary: Summary
    state: SyncState
    total: int
    progress: Progress | None
    force: bool = False  # replace remote copies even when they are longer
    packer: Packer | None = None  # packs the sessions of this push ahead, in worker processes
    done: int = 0
    # Stored by the backend, to be published at the end (Backend.hold): session -> (local session,
    # content digest, its outcome once published). No bundle is kept: a conflict packs it again.
    held: dict[str, tuple[LocalSession, str, Outcome]] = field(default_factory=dict)

    def settle(self, out: Outcome) -> None:
        self.done += 1
        self.summary.outcomes.append(out)
        if self.progress:
            self.progress(self.done, self.total, out)


@dataclass
class Selection:
    """What a push or pull applies to: everything, one project, or sessions by id or prefix."""

    all: bool = False
    project: str | None = None
    ids: tuple[str, ...] = ()

    def check(self) -> None:
        from .format.errors import UsageError

        if sum([self.all, self.project is not None, bool(self.ids)]) != 1:
            raise UsageError("name what to sync: --all, --project KEY, or one or more session ids / prefixes")


class _InFlight:
    """At most one batch being pushed in a background thread; always waited for before the lock is let go."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._pending: dict[str, tuple[LocalSession, _Push]] = {}
        self._results: dict[str, PushResult] = {}
        self._error: BaseException | None = None

    def start(self, pending: dict[str, tuple[LocalSession, _Push]], push: Callable[[], dict[str, PushResult]]) -> None:
        assert self._thread is None

        def run() -> None:
            try:
                self._results = push()
            except BaseException as e:  # noqa: BLE001 - raised again in the engine's thread by land()
                self._error = e

        self._pending, self._results, self._error = pending, {}, None
        self._thread = threading.Thread(target=run, name="claude-sync-push", daemon=True)
        self._thread.start()

    def land(self) -> tuple[dict[str, tuple[LocalSession, _Push]], dict[str, PushResult]] | None:
        if self._thread is None:
            return None
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise self._error
        return self._pending, self._results

    def __enter__(self) -> _InFlight:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _check_legacy_agents(sid: str, plan: RestorePlan) -> None:
    """Legacy agent logs share the project folder with other sessions' and say whose they are only in
    their records: never replace another session's, nor write one that claims another session."""
    for name, data in plan.files.items():
        if not name.startswith(LEGACY_AGENTS + "/"):
            continue
        path = plan.target(name)
        claimed, start = None, 0
        while isinstance(data, bytes) and claimed is None and start < len(data):
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            claimed, start = legacy_agent_owner_of(data[start:end]), end + 1
        mine = legacy_agent_owner(str(path)) if path.exists() else None
        for owner in (claimed, mine):
            if owner is not None and owner != sid:
                raise BundleError(f"session {sid}: {name!r} is a log of session {owner}; nothing was written")
def is_memory(e: RemoteEntry) -> bool:
    """A project's memory object, stored beside the sessions (not a session)."""
    return e.session_id == memory_object_id(e.project_key)


def in_project(key: str | None, project: str) -> bool:
    """Whether a session's key is the project's or one of its subfolders'."""
    if key is None:
        return False
    split = split_repo_key(project)
    if split is not None:
        # The top of a repository owns its subfolders (`git:id//sub`), not another repository `git:id/x`.
        below = project + (SUB_SEPARATOR if not split[1] else "/")
        return key == project or key.startswith(below)
    project = project.strip("/")
    return key == project or key.startswith(project + "/")


def _match_ids(wanted: Iterable[str], available: list[str]) -> tuple[list[str], list[Outcome]]:
    """Resolve ids and unique prefixes; unknown and ambiguous ones become failures."""
    chosen, errors = [], []
    for w in wanted:
        hits = [sid for sid in available if sid.startswith(w.lower())]
        if len(hits) == 1 or w.lower() in hits:
            chosen.append(w.lower() if w.lower() in hits else hits[0])
        elif not hits:
            errors.append(Outcome(w, FAILED, "no such session"))
        else:
            errors.append(Outcome(w, FAILED, "ambiguous prefix: " + ", ".join(sorted(hits)[:10])))
    return list(dict.fromkeys(chosen)), errors


class SyncEngine:
    def __init__(
        self,
        config: Config,
        paths: Paths | None = None,
        backend: Backend | None = None,
        *,
        lock_timeout: float = 600.0,
        stop_when_unreachable: bool = False,
    ) -> None:
        self.config = config
        self.paths = paths or Paths.current()
        self._backend = backend
        # How long to wait for another sync (CLI, hooks, sidecar) before giving up with Busy.
        self.lock_timeout = lock_timeout
        # The sidecar wants a remote that cannot be refreshed as one error, not a failure per session.
        self.stop_when_unreachable = stop_when_unreachable
        self._backed_up = False  # a backup was made by this engine since the last prune
        self._prefetch: Prefetch | None = None  # during a bulk pull: sessions fetched and rendered ahead
        # A pull of fewer bytes of sessions new here fetches and renders one session after the other
        # (a thread and a worker process cost more than they save).
        self.prefetch_min_bytes = PARALLEL_MIN_BYTES
        self.render_in_worker: bool | None = None  # None: when a core is free (see _render_in_worker)
        self._placing = threading.Lock()  # the layout's lookups, also made by the prefetch thread
        self._swept: set[Path] | None = None  # during a pull: folders swept of temp files a killed sync left
        self._mtime_floor: tuple[float | None] | None = None  # during a pull: sweep.mtime_floor, read once
        # The branch each pulled bundle names (read from its transcript's last MB): a bundle is placed
        # twice, ahead on the prefetch thread and again when written; a weak reference holds no bundle.
        self._branches: dict[str, tuple[weakref.ref[Bundle], str | None]] = {}
        self.checkouts = Checkouts(
            [config.projects_root, *config.search_roots, str(self.paths.home)],
            self.paths.cache / "checkouts.json",
            self.paths.mappings_file,
        )
        self.layout = DeviceLayout.of_device(config.projects_root, str(self.paths.home), this_flavour(), self.checkouts)
        # Each working directory's project key, until the checkouts are looked at again: a sync asks
        # for a session's key at each of its steps, and thousands of sessions share a few dozen folders.
        self._keys: dict[str, str | None] = {}

    # -- plumbing ----------------------------------------------------------

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from .encryption.setup import open_sealed  # cryptography only when a remote is used

            self._backend = open_sealed(self.config, self.paths)
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def _lock(self):  # type: ignore[no-untyped-def]
        return exclusive(self.paths.lock_file, self.lock_timeout)

    def local_sessions(self) -> list[LocalSession]:
        self._look_again()  # each listing or sync sees the checkouts as they are now
        return discover(self.paths.claude, MetaCache(self.paths.cache / "sessions.json"))

    def _look_again(self) -> None:
        self.checkouts.forget()
        self._keys.clear()

    def project_key(self, s: LocalSession) -> str | None:
        cwd = s.cwd
        if not cwd:
            return None
        if cwd not in self._keys:
            try:
                self._keys[cwd] = self.layout.key_for(cwd)
            except (NotPortable, ValueError):
                self._keys[cwd] = None
        return self._keys[cwd]

    def project_keys(self, project: str) -> list[str]:
        """What `--project` names: a folder of this device (every key it is known by: each remote
        of its checkout, and its place), a repository URL in any spelling, or a key."""
        if os.path.isabs(project) and os.path.isdir(project):
            try:
                return self.layout.keys_for(os.path.realpath(project))
            except NotPortable:
                return [project]
        if not project.startswith(("git:", "~")) and (identity := normalize_url(project)) is not None and ":" in project:
            return [repo_key(identity)]
        return [project]

    def _in_selection(self, key: str | None, projects: list[str]) -> bool:
        return any(in_project(key, p) for p in projects)

    # -- repositories and their checkouts (issue #17) ---------------------------

    def _identity(self, text: str) -> str:
        identity = identity_of(text)
        if identity is None:
            raise UsageError(f"{text!r} names no repository: give its URL (any spelling) or its git: key")
        return identity

    def pin(self, repository: str, folder: str) -> str:
        """Remember `folder` as this device's checkout of a repository; its sessions go there."""
        identity = self._identity(repository)
        path = os.path.realpath(os.path.expanduser(folder))
        if not os.path.isdir(path):
            raise UsageError(f"{folder} is not a folder of this device")
        self.checkouts.mappings.pin(identity, path)
        return identity

    def unpin(self, repository: str) -> None:
        identity = self._identity(repository)
        if not self.checkouts.mappings.unpin(identity):
            raise UsageError(f"no folder is pinned for {identity}")

    def clone(self, repository: str, parent: str, url: str | None = None) -> str:
        """Clone a repository this device has no checkout of into `parent`/<its name>, and pin it
        there; `url`: another spelling to clone from (it must name the same repository)."""
        identity = self._identity(repository)
        url = url.strip() if url else clone_url(identity)
        if normalize_url(url) != identity:
            raise UsageError(f"{url} is not the repository {identity}: nothing was cloned")
        base = os.path.realpath(os.path.expanduser(parent))
        if not os.path.isdir(base):
            raise UsageError(f"{parent} is not a folder of this device")
        target = os.path.join(base, short_name(identity))
        if os.path.lexists(target):
            raise UsageError(f"{target} already exists: choose it with `map` if it is a checkout, or another folder")
        # No prompt can be answered here (the sidecar has no terminal): git and ssh fail instead of
        # waiting for one; a new session has no controlling terminal for ssh to ask on.
        done = subprocess.run(
            ["git", "clone", "--quiet", "--", url, target],
            env=dict(os.environ, GIT_TERMINAL_PROMPT="0"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
        if done.returncode != 0:
            if os.path.isdir(target):
                shutil.rmtree(target, ignore_errors=True)  # ours: it did not exist before the clone
            why = (done.stderr or "").strip().splitlines()
            raise SyncError(f"cannot clone {url}: {why[-1] if why else f'git exited with {done.returncode}'}")
        self.pin(identity, target)
        return target

    def repository_map(self, entries: list[RemoteEntry] | None = None, known: Iterable[str] = ()) -> list[dict]:
        """Each repository this device knows (a checkout, a pin, a remote session's key, or one of
        `known`, identities from a listing) and its folder."""
        identities: dict[str, None] = {}
        for tree in self.checkouts.index.all():
            identities.update(dict.fromkeys(tree.identities))
        identities.update(dict.fromkeys(self.checkouts.mappings.folders))
        identities.update(dict.fromkeys(known))
        for e in entries or []:
            split = split_repo_key(e.project_key)
            if split is not None:
                identities[split[0]] = None
        table = []
        for identity in sorted(identities):
            folder = self.checkouts.folder_for([identity])
            table.append({
                "identity": identity,
                "key": repo_key(identity),
                "name": short_name(identity),
                "clone_url": clone_url(identity),
                "folder": folder,
                "pinned": self.checkouts.pinned(identity) is not None,
                "checkouts": [t.root for t in self.checkouts.index.checkouts_of(identity)],
            })
        return table

    def remote(self) -> list[RemoteEntry]:
        self._look_again()
        with self._lock():
            self.backend.refresh()
            entries = self.backend.entries()
        return [
            e.model_copy(update={"title": render_title(e.title, e.project_key, self.layout)})
            for e in entries
            if not is_memory(e)
        ]

    def remote_statuses(self, entries: list[RemoteEntry]) -> dict[str, str]:
        """Why a remote session is not synced here, for listings (CLI and sidecar)."""
        state = SyncState(self.paths.state_file)
        here = {s.session_id for s in self.local_sessions()}
        out = {}
        for e in entries:
            sid = e.session_id
            if e.message_count == 0 and e.title == DELETED_TITLE:
                out[sid] = "deleted"
            elif self._never_sync_entry(e):
                out[sid] = "not synced by choice"
            elif sid not in here and state.known(sid) and state.tombstone(sid) is None:
                out[sid] = "on the remote only"
        return out

    # -- push --------------------------------------------------------------

    def push(
        self,
        sel: Selection,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        *,
        force: bool = False,
    ) -> Summary:
        """Upload sessions; `force` replaces remote copies even when they are longer."""
        sel.check()
        summary = Summary("push")
        with self._lock(), Packer(self.layout, self.config.device) as packer, _InFlight() as flying:
            # A configuration error stops here, before any session is touched. Opened under the lock:
            # opening a Git backend sets up its local mirror, which two syncs must not do at once.
            _ = self.backend
            sessions = self.local_sessions()
            chosen, errors = self._select_local(sessions, sel)
            summary.outcomes.extend(errors)
            chosen, excluded = self._without_never_sync(chosen)
            summary.outcomes.extend(excluded)
            state = SyncState(self.paths.state_file)
            try:
                self.backend.refresh()
            except SyncError as e:
                if self.stop_when_unreachable:
                    raise
                summary.outcomes.extend(Outcome(s.session_id, FAILED, str(e), title=s.meta.title) for s in chosen)
                return summary
            pending: dict[str, tuple[LocalSession, _Push]] = {}
            pending_bytes = 0
            remote = {e.session_id: e for e in self.backend.entries()}
            # Tokenizing is CPU-bound: what changed is packed ahead, on every core.
            changed = [
                s for s in chosen
                if self.project_key(s) is not None and not self._unchanged(s, remote.get(s.session_id), state)
            ]
            packer.plan(changed, self.backend.sealer)
            run = _PushRun(summary, state, len(chosen), progress, force, packer)
            low, high = PUSH_BATCH_BYTES
            batch_bytes = min(high, max(low, sum(s.size for s in changed) // PUSH_BATCHES))
            # More than one batch: the backend may keep them here and send them at once at the end.
            holding = sum(s.size for s in changed) > batch_bytes and self.backend.hold()
            for s in chosen:
                if cancel is not None and cancel.is_set():
                    out = Outcome(s.session_id, SKIPPED, "cancelled", title=s.meta.title)
                else:
                    out, item = self._decide_push(s, remote.get(s.session_id), run)
                    if item is not None:
                        pending[s.session_id] = (s, item)
                        pending_bytes += sum(f.size for f in item.bundle.manifest.files)
                        if pending_bytes >= batch_bytes:
                            # This batch goes out in the background while the next one is packed.
                            self._land(flying, run)
                            flying.start(pending, functools.partial(self._push_items, pending, summary))
                            pending, pending_bytes = {}, 0
                        continue
                run.settle(out)
            run.packer = None  # what is decided again from here is packed here
            self._land(flying, run)
            self._push_pending(pending, run)
            if holding:
                self._publish(run)
            self._push_memory(self._memory_keys([self.project_key(s) for s in chosen], sel), run)
            state.save()
            self._prune_backups()
        return summary

    def _land(self, flying: _InFlight, run: _PushRun) -> None:
        """Wait for the batch pushed in the background, and settle it as _push_pending does."""
        landed = flying.land()
        if landed is not None:
            pending, results = landed
            self._push_pending(pending, run, results)

    def _push_pending(
        self, pending: dict[str, tuple[LocalSession, _Push]], run: _PushRun, pushed: dict[str, PushResult] | None = None
    ) -> None:
        """Push what was decided (`pushed`: already pushed, with these results), deciding again for
        sessions the remote changed meanwhile."""
        for _round in range(CONFLICT_ROUNDS):
            if not pending:
                break
            results = self._push_items(pending, run.summary) if pushed is None else pushed
            pushed = None
            again: dict[str, tuple[LocalSession, _Push]] = {}
            remote = {e.session_id: e for e in self.backend.entries()}
            for sid, res in results.items():
                s, push = pending[sid]
                if res is PushResult.PUSHED:
                    run.state.record(sid, content_digest(push.bundle), s.files)
                    out = Outcome(sid, DONE, push.why, push.bundle.manifest.project_key, s.meta.title)
                elif res is PushResult.HELD:  # settled when published
                    out = Outcome(sid, DONE, push.why, push.bundle.manifest.project_key, s.meta.title)
                    run.held[sid] = (s, content_digest(push.bundle), out)
                    continue
                else:
                    decided = self._decide_again(s, remote.get(sid), run, again)
                    if decided is None:
                        continue
                    out = decided
                run.settle(out)
            pending = again
        for sid, (s, _p) in pending.items():
            run.summary.outcomes.append(Outcome(sid, FAILED, "the remote kept changing; try again", title=s.meta.title))
        run.state.save()  # a long push that is interrupted keeps what went through

    def _publish(self, run: _PushRun) -> None:
        """Send what the backend held; what the remote changed meanwhile is decided again."""
        held, run.held = run.held, {}
        try:
            results = self.backend.publish()
        except SyncError as e:
            for _s, _digest, out in held.values():
                out.status, out.reason = FAILED, str(e)
                run.settle(out)
            return
        remote = {e.session_id: e for e in self.backend.entries()}
        again: dict[str, tuple[LocalSession, _Push]] = {}
        for sid, (s, digest, out) in held.items():
            if results.get(sid) is PushResult.PUSHED:
                run.state.record(sid, digest, s.files)
            else:
                decided = self._decide_again(s, remote.get(sid), run, again)
                if decided is None:
                    continue
                out = decided
            run.settle(out)
        self._push_pending(again, run)

    def _decide_again(
        self, s: LocalSession, r: RemoteEntry | None, run: _PushRun, again: dict[str, tuple[LocalSession, _Push]]
    ) -> Outcome | None:
        """A session the remote changed under a push: its outcome, or None when it goes out again (into `again`)."""
        out, item = self._decide_push(s, r, run)
        if item is not None:
            again[s.session_id] = (s, item)
            return None
        return out

    def _push_items(self, pending: dict[str, tuple[LocalSession, _Push]], summary: Summary) -> dict[str, PushResult]:
        items = [PushItem(p.bundle, p.base, p.force) for _s, p in pending.values()]
        try:
            return self.backend.push(items)
        except PartialPush as e:
            for sid, why in e.failures.items():
                s, _p = pending.pop(sid)
                summary.outcomes.append(Outcome(sid, FAILED, why, title=s.meta.title))
            return e.results
        except SyncError as e:
            for sid, (s, _p) in list(pending.items()):
                summary.outcomes.append(Outcome(sid, FAILED, str(e), title=s.meta.title))
            pending.clear()
            return {}

    def _decide_push(self, s: LocalSession, r: RemoteEntry | None, run: _PushRun) -> tuple[Outcome, _Push | None]:
        """What to do with one local session: an outcome now, or a bundle to push."""
        sid = s.session_id
        key = self.project_key(s)
        base = Outcome(sid, SKIPPED, "", key, s.meta.title)
        if key is None:
            base.reason = f"{NOT_PORTABLE}: {self._not_portable_why(s)}"
            return base, None
        if r is None and not run.force and (why := self.backend.unreadable().get(sid)):
            # The remote holds something under this id that cannot be read (a forgery, on an encrypted
            # remote): neither treated as new nor overwritten without being asked (push --force).
            return Outcome(sid, FAILED, why, key, s.meta.title), None
        try:
            if self._unchanged(s, r, run.state):
                base.reason = "up to date"
                return base, None
            b = run.packer.pack(s) if run.packer is not None else pack(s, self.layout, self.config.device)
            digest = content_digest(b)
            if r is not None and r.content_sha256 == digest:
                run.state.record(sid, digest, s.files)
                if r.project_key != b.manifest.project_key:
                    # Same session, a new key: its manifest is replaced, under the same id (no duplicate).
                    return base, _Push(b, f"re-keyed from {r.project_key} to {b.manifest.project_key}", r.content_sha256)
                base.reason = "up to date"
                return base, None
            if r is None:
                if run.packer is not None and run.packer.parallel:
                    # A backend may start storing a session that is new on the remote right away (Git:
                    # its compression overlaps with packing the next sessions); push() still decides.
                    self.backend.stage(b)
                return base, _Push(b, "new on the remote", None)
            if run.state.tombstone(sid) == r.content_sha256:
                t = tombstone_of(self.backend.fetch(sid))
                if t is not None:
                    return self._over_tombstone(s, b, r, t, run.state, base)
            if r.content_sha256 == run.state.content(sid):
                return base, _Push(b, "updated", r.content_sha256)
            if run.force:
                return base, _Push(b, "replaced the remote copy (forced)", r.content_sha256, force=True)
            remote = self.backend.fetch(sid, have=b).in_memory()  # only what this copy lacks travels
            t = tombstone_of(remote)
            if t is not None:
                return self._over_tombstone(s, b, r, t, run.state, base)
            rel = compare(b.files, remote.files)
            if rel is Relation.LOCAL_AHEAD:
                return base, _Push(b, "extends the remote copy", r.content_sha256)
            if rel is Relation.SAME:
                run.state.record(sid, digest, s.files)
                base.reason = "up to date"
                return base, None
            if rel is Relation.REMOTE_AHEAD:
                base.reason = "the remote copy is longer (continued on another device); pull it first, or push --force"
                return base, None
            # Continued on both devices: keep every turn of both, here and on the remote.
            merged = merged_bundle(b, remote)
            why = f"merged with the copy from {remote.manifest.device}"
            if sid not in claude_home.live_sessions(self.paths.claude):
                self._write(merged, s, why, b.read_sizes)
            return base, _Push(merged, why, r.content_sha256)
        except SyncError as e:
            return Outcome(sid, FAILED, str(e), key, s.meta.title), None
        except OSError as e:
            return Outcome(sid, FAILED, f"cannot read the session: {e}", key, s.meta.title), None

    def _over_tombstone(
        self, s: LocalSession, b: Bundle, r: RemoteEntry, t: Tombstone, state: SyncState, base: Outcome
    ) -> tuple[Outcome, _Push | None]:
        """A local copy meets the tombstone of its session on the remote."""
        if state.kept(s.session_id):
            base.reason = KEPT_HERE
            return base, None
        if continued_after(s, t):
            why = f"brought back: continued here after it was deleted on {t.device} ({when(t)})"
            return base, _Push(b, why, r.content_sha256, force=True)
        base.reason = f"deleted on the remote by {t.device} ({when(t)}); the next pull moves the copy here into the backups"
        return base, None

    def _without_never_sync(self, sessions: list[LocalSession]) -> tuple[list[LocalSession], list[Outcome]]:
        kept, excluded = [], []
        for s in sessions:
            key = self.project_key(s)
            if never_sync.never_synced(self.config, s.session_id, key, s.cwd):
                excluded.append(Outcome(s.session_id, SKIPPED, never_sync.REASON, key, s.meta.title))
            else:
                kept.append(s)
        return kept, excluded

    def _never_sync_entry(self, e: RemoteEntry) -> bool:
        cwd: str | None = None
        if self.config.never_sync_projects:  # the folder is looked up only for a project's entries
            try:
                cwd = self.layout.cwd_for(e.project_key)
            except (SyncError, ValueError):
                pass
        return never_sync.never_synced(self.config, e.session_id, e.project_key, cwd)

    def _not_portable_why(self, s: LocalSession) -> str:
        if not s.cwd:
            return "it records no working directory"
        try:
            self.layout.key_for(s.cwd)
        except (NotPortable, ValueError) as e:
            return str(e)
        return s.cwd

    def _unchanged(self, s: LocalSession, r: RemoteEntry | None, state: SyncState) -> bool:
        """The remote holds what this device last synced, and the local files did not change since."""
        sid = s.session_id
        return (
            r is not None
            and r.project_key == self.project_key(s)  # else re-keyed (an older key, or the repository's now)
            and state.content(sid) == r.content_sha256
            and state.in_sync(sid)
            and state.unchanged(sid, s.files)
        )

    def _select_local(self, sessions: list[LocalSession], sel: Selection) -> tuple[list[LocalSession], list[Outcome]]:
        if sel.all:
            return sessions, []
        if sel.project is not None:
            projects = self.project_keys(sel.project)
            return [s for s in sessions if self._in_selection(self.project_key(s), projects)], []
        by_id = {s.session_id: s for s in sessions}
        ids, errors = _match_ids(sel.ids, sorted(by_id))
        # A fork goes with its parent (the parent first): the child cannot be resumed without it.
        parents: dict[str, set[str]] = {}
        todo = list(ids)
        while todo:
            sid = todo.pop()
            if sid not in parents and sid in by_id:
                parents[sid] = {p for p in forks.parents_of(sid, by_id[sid].files) if p in by_id}
                todo.extend(parents[sid])
        return [by_id[i] for i in forks.with_parents(ids, parents)], errors

    # -- pull --------------------------------------------------------------

    def pull(self, sel: Selection, progress: Progress | None = None, cancel: threading.Event | None = None) -> Summary:
        sel.check()
        self._look_again()
        summary = Summary("pull")
        with self._lock():
            _ = self.backend  # under the lock, as in push
            try:
                self.backend.refresh()
                entries = self.backend.entries()
            except SyncError as e:
                if self.stop_when_unreachable:
                    raise
                summary.outcomes.append(Outcome("*", FAILED, str(e)))
                return summary
            # Temp files of a pull that was killed mid-write (the lock is ours: no pull is writing them now).
            claude = self.paths.claude
            self._swept = {*_subfolders(claude / "projects"), claude / "todos"}
            atomic.sweep(self._swept, STALE_TEMP_SECONDS)
            # Sessions the remote holds but cannot list fail by name (their project is unknown).
            unreadable = self.backend.unreadable()
            memory = {e.session_id: e for e in entries if is_memory(e)}
            entries = [e for e in entries if not is_memory(e)]
            if sel.all:
                chosen = list(entries)
                broken = sorted(unreadable)
            elif sel.project is not None:
                projects = self.project_keys(sel.project)
                chosen = [e for e in entries if self._in_selection(e.project_key, projects)]
                broken = []
            else:
                by_id = {e.session_id: e for e in entries}
                ids, errors = _match_ids(sel.ids, sorted({*by_id, *unreadable}))
                summary.outcomes.extend(errors)
                chosen = [by_id[i] for i in ids if i in by_id]
                broken = [i for i in ids if i not in by_id]
            summary.outcomes.extend(Outcome(sid, FAILED, unreadable[sid]) for sid in broken)
            local = {s.session_id: s for s in self.local_sessions()}
            live = claude_home.live_sessions(self.paths.claude)
            state = SyncState(self.paths.state_file)
            if sel.all or sel.project is not None:
                chosen = self._bulk_pull_filter(chosen, local, state, summary)
            remote_by_id = {e.session_id: e for e in entries}
            queued = {e.session_id for e in chosen}
            behind = atomic.WriteBehind()  # sessions new here are synced to disk in the background
            # Sessions new here are fetched, checked and rendered ahead while the ones before are written.
            new_here = [e for e in chosen if e.session_id not in local and e.session_id not in live]
            bulk = len(new_here) > 1 and sum(e.size for e in new_here) >= self.prefetch_min_bytes
            ahead = self.layout.remembering_roots()  # every session of a project looks up the same root
            renderer = Renderer(ahead) if bulk and self._render_in_worker() else None
            self._prefetch = Prefetch(self.backend, ahead, renderer, self._place) if bulk else None
            try:
                if self._prefetch is not None:
                    self._prefetch.plan(new_here)
                self._pull_chosen(chosen, remote_by_id, queued, local, live, state, summary, behind, progress, cancel)
            finally:
                if self._prefetch is not None:
                    self._prefetch.close()
                    self._prefetch = None
                if renderer is not None:
                    renderer.close()
                self._swept = self._mtime_floor = None
                self._branches.clear()
                self._settle_written(behind.drain(wait=True), state)
                behind.close()
            self._pull_memory(self._memory_keys([e.project_key for e in chosen], sel), memory, summary, state)
            state.save()
            self._prune_backups()
        return summary

    def _pull_chosen(
        self,
        chosen: list[RemoteEntry],
        remote_by_id: dict[str, RemoteEntry],
        queued: set[str],
        local: dict[str, LocalSession],
        live: dict[str, int],
        state: SyncState,
        summary: Summary,
        behind: atomic.WriteBehind,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> None:
        """Pull each chosen session (and the parents of forks among them), one after the other."""
        i = 0
        while i < len(chosen):
            entry = chosen[i]
            i += 1
            sid = entry.session_id
            if cancel is not None and cancel.is_set():
                out = Outcome(sid, SKIPPED, "cancelled", entry.project_key, entry.title)
            elif sid in live:
                why = f"in use by a running Claude Code (pid {live[sid]}); it will be pulled next time"
                out = Outcome(sid, SKIPPED, why, entry.project_key, entry.title)
            else:
                try:
                    out = self._pull_one(entry, local.get(sid), state, behind)
                except Exception as ex:  # noqa: BLE001 - one session's surprise must not stop the others
                    log.exception("pulling session %s failed", sid)
                    out = Outcome(sid, FAILED, f"unexpected error: {type(ex).__name__}: {ex}", entry.project_key, entry.title)
            # A fork's parent comes along as its own session (unless it is here already or missing).
            missing = [p for p in out.depends_on if p not in remote_by_id and p not in local]
            if missing:
                out.reason += f"; it was forked from {', '.join(missing)}, which is not on the remote"
            for parent in out.depends_on:
                if parent in remote_by_id and parent not in queued:
                    queued.add(parent)
                    chosen.append(remote_by_id[parent])
            summary.outcomes.append(out)
            if self._prefetch is not None:
                self._prefetch.forget(sid)
            self._settle_written(behind.drain(), state)
            if progress:
                progress(i, len(chosen), out)

    @staticmethod
    def _settle_written(committed: list[tuple[object, BaseException | None]], state: SyncState) -> None:
        """Record in the state the sessions whose files are now in place; those that could not be put in place fail."""
        for token, error in committed:
            out, record = cast("tuple[Outcome, Callable[[], None]]", token)
            if error is None:
                record()
            else:
                out.status, out.reason = FAILED, f"cannot write the session: {error}"

    def _bulk_pull_filter(
        self, chosen: list[RemoteEntry], local: dict[str, LocalSession], state: SyncState, summary: Summary
    ) -> list[RemoteEntry]:
        """What a bulk pull (and the SessionStart hook) leaves alone: the never-sync list, sessions
        removed from this device (the client's own cleanup is not a delete: the remote is the
        archive), and tombstones this device already applied."""
        out = []
        for e in chosen:
            sid = e.session_id
            why = ""
            if self._never_sync_entry(e):
                why = never_sync.REASON
            elif sid not in local and state.known(sid):
                if state.tombstone(sid) == e.content_sha256:
                    continue  # deleted, and this device knows it: nothing to say
                if state.tombstone(sid) is None:
                    why = REMOTE_ONLY
            if why:
                summary.outcomes.append(Outcome(sid, SKIPPED, why, e.project_key, e.title))
            else:
                out.append(e)
        return out

    # -- delete ------------------------------------------------------------

    def delete(self, ids: Iterable[str], *, local: bool, remote: bool) -> Summary:
        """Delete sessions here (into the backups), on the remote (a tombstone), or both."""
        from .format.errors import UsageError

        if not (local or remote):
            raise UsageError("say where to delete: --local, --remote or --everywhere")
        summary = Summary("delete")
        with self._lock():
            _ = self.backend if remote else None
            here = {s.session_id: s for s in self.local_sessions()}
            entries: dict[str, RemoteEntry] = {}
            if remote:
                self.backend.refresh()
                entries = {e.session_id: e for e in self.backend.entries() if not is_memory(e)}
            chosen, errors = _match_ids(ids, sorted(set(here) | set(entries)))
            summary.outcomes.extend(errors)
            state = SyncState(self.paths.state_file)
            live = claude_home.live_sessions(self.paths.claude)
            for sid in chosen:
                s, r = here.get(sid), entries.get(sid)
                title = s.meta.title if s else (r.title if r else "")
                key = self.project_key(s) if s else (r.project_key if r else None)
                out = Outcome(sid, DONE, "", key, title)
                if local and s is not None and sid in live:
                    out.status, out.reason = FAILED, f"open in a running Claude Code (pid {live[sid]}); close it first"
                    summary.outcomes.append(out)
                    continue
                notes = []
                try:
                    if remote:
                        notes.append(self._tombstone(sid, s, r, key, state, kept=not local))
                    if local:
                        if s is None:
                            notes.append("not on this device")
                        else:
                            backup = move_to_backups(s, self.paths.claude, self.paths.backups, "deleted with claude-sync delete")
                            notes.append(f"moved to the backups ({backup.name})" if backup else "removed here")
                except SyncError as e:
                    out.status, notes = FAILED, [str(e)]
                out.reason = "; ".join(notes)
                summary.outcomes.append(out)
            state.save()
        return summary

    def _tombstone(
        self, sid: str, s: LocalSession | None, r: RemoteEntry | None, key: str | None, state: SyncState, *, kept: bool
    ) -> str:
        if r is None:
            return "not on the remote"
        if state.tombstone(sid) == r.content_sha256:
            if kept:
                state.mark_deleted(sid, r.content_sha256, kept=True)
            return "already deleted on the remote"
        t = tombstone_of(self.backend.fetch(sid)) if r.message_count == 0 else None
        if t is not None:
            state.mark_deleted(sid, r.content_sha256, kept=kept)
            return "already deleted on the remote"
        b = tombstone_bundle(sid, key or r.project_key, self.config.device, r.content_sha256)
        results = self.backend.push([PushItem(b, r.content_sha256, force=True)])
        if results.get(sid) is not PushResult.PUSHED:
            raise SyncError("the remote copy changed meanwhile; look at it (pull) and delete again")
        state.mark_deleted(sid, content_digest(b), kept=kept)
        return "deleted on the remote (a tombstone stays, so other devices delete their copies)"

    # -- compact -----------------------------------------------------------

    def compact(self) -> Summary:
        """Remove from the remote the tombstones older than `tombstone_days`."""
        summary = Summary("compact")
        with self._lock():
            self.backend.refresh()
            expired: dict[str, str] = {}
            for e in self.backend.entries():
                # A tombstone lists with no messages; its kind is only known by reading it (it is tiny).
                if e.message_count or is_memory(e):
                    continue
                try:
                    t = tombstone_of(self.backend.fetch(e.session_id))
                except SyncError as ex:
                    summary.outcomes.append(Outcome(e.session_id, FAILED, str(ex), e.project_key))
                    continue
                if t is None:
                    continue
                if t.expired(self.config.tombstone_days):
                    expired[e.session_id] = e.content_sha256
                else:
                    summary.outcomes.append(Outcome(e.session_id, SKIPPED, f"tombstone kept until {self.config.tombstone_days} days after {when(t)}", e.project_key))
            if expired:
                results = self.backend.remove(expired)
                for sid, res in results.items():
                    if res is PushResult.PUSHED:
                        summary.outcomes.append(Outcome(sid, DONE, "expired tombstone removed from the remote"))
                    else:
                        summary.outcomes.append(Outcome(sid, SKIPPED, "changed on the remote meanwhile; kept"))
        return summary

    # -- project memory (opt-in per project, its own object) ------------------

    def _memory_keys(self, keys: Iterable[str | None], sel: Selection) -> list[str]:
        """The opted-in projects a sync touches: those of its sessions, and the one it names."""
        touched = {k for k in keys if k}
        if sel.project is not None:
            touched.update(k.strip("/") for k in self.project_keys(sel.project))
        return sorted(touched & set(self.config.memory_projects))

    def _project_folder(self, key: str) -> Path:
        return claude_home.find_project_folder(self.paths.claude / "projects", self.layout.cwd_for(key))

    def _push_memory(self, keys: list[str], run: _PushRun) -> None:
        if not keys:
            return
        remote = {e.session_id: e for e in self.backend.entries()}
        for key in keys:
            mid = memory_object_id(key)
            out = Outcome(mid, SKIPPED, "", key, f"project memory of {key}")
            try:
                folder = self._project_folder(key)
                b = pack_memory(folder, key, self.layout, self.config.device)
                r = remote.get(mid)
                if b is None:
                    out.reason = "no project memory on this device"
                elif r is not None and r.content_sha256 == content_digest(b):
                    run.state.record(mid, r.content_sha256, memory_files(folder))
                    out.reason = "up to date"
                elif r is not None and r.content_sha256 != run.state.content(mid) and not run.force:
                    out.reason = "the project memory on the remote changed on another device; pull it first (or push --force)"
                else:
                    results = self.backend.push([PushItem(b, r.content_sha256 if r else None, run.force)])
                    if results.get(mid) is PushResult.PUSHED:
                        run.state.record(mid, content_digest(b), memory_files(folder))
                        out.status, out.reason = DONE, "project memory pushed"
                    else:
                        out.reason = "the project memory on the remote changed meanwhile; pull it first"
            except SyncError as e:
                out.status, out.reason = FAILED, str(e)
            except OSError as e:
                out.status, out.reason = FAILED, f"cannot read the project memory: {e}"
            run.summary.outcomes.append(out)

    def _pull_memory(self, keys: list[str], memory: dict[str, RemoteEntry], summary: Summary, state: SyncState) -> None:
        for key in keys:
            mid = memory_object_id(key)
            r = memory.get(mid)
            if r is None:
                continue
            out = Outcome(mid, SKIPPED, "", key, f"project memory of {key}")
            try:
                folder = self._project_folder(key)
                local = pack_memory(folder, key, self.layout, self.config.device)
                if local is not None and content_digest(local) == r.content_sha256:
                    state.record(mid, r.content_sha256, memory_files(folder))
                    out.reason = "up to date"
                elif local is not None and state.content(mid) == r.content_sha256:
                    out.reason = "the project memory changed here since the last sync; push it"
                else:
                    b = self.backend.fetch(mid)
                    if b.manifest.kind != MEMORY_KIND or b.manifest.project_key != key:
                        raise BundleError(f"{mid} on the remote is not the project memory of {key}")
                    written, backup = apply_memory(b, folder, self.layout, self.paths.claude, self.paths.backups)
                    after = pack_memory(folder, key, self.layout, self.config.device)
                    state.record(mid, r.content_sha256, memory_files(folder), local=content_digest(after) if after else None)
                    out.status = DONE
                    out.reason = f"project memory: {written} file(s) written" + (" (replaced files backed up)" if backup else "")
            except SyncError as e:
                out.status, out.reason = FAILED, str(e)
            except OSError as e:
                out.status, out.reason = FAILED, f"cannot write the project memory: {e}"
            summary.outcomes.append(out)

    def _pull_one(
        self, e: RemoteEntry, local: LocalSession | None, state: SyncState, behind: atomic.WriteBehind | None = None
    ) -> Outcome:
        sid = e.session_id
        out = Outcome(sid, SKIPPED, "", e.project_key, e.title)
        if local is None:
            try:
                with self._placing:
                    self.layout.cwd_for(e.project_key)
            except NoCheckout as ex:
                # Listed, not placed: the user clones the repository or pins a folder (`map`).
                out.reason = str(ex)
                return out
            except SyncError:
                pass  # reported below, as before
        try:
            lb: Bundle | None = None
            if local is not None:
                if state.content(sid) == e.content_sha256 and state.unchanged(sid, local.files):
                    out.reason = "up to date"
                    return out
                lb = pack(local, self.layout, self.config.device)
                if content_digest(lb) == e.content_sha256:
                    state.record(sid, e.content_sha256, local.files)
                    out.reason = "up to date"
                    return out
            fetched = self._fetch(sid, lb)  # only what the local copy lacks travels
            remote = fetched.bundle
            t = tombstone_of(remote)
            if t is not None:
                return self._pull_tombstone(e, t, local, state, out)
            out.depends_on = forks.session_ids(remote.manifest.depends_on)  # read from the remote: checked
            reason = "new on this device"
            if state.tombstone(sid) is not None:
                reason = f"brought back: continued on {e.device} after it was deleted"
            if lb is not None:
                remote = remote.in_memory()  # compared with the local copy (a new one streams to disk)
                rel = compare(lb.files, remote.files)
                if rel is Relation.SAME:
                    state.record(sid, e.content_sha256, local.files)  # type: ignore[union-attr]
                    out.reason = "up to date"
                    return out
                if rel is Relation.LOCAL_AHEAD:
                    out.reason = "the local copy is longer (continued here); push it"
                    return out
                if rel is Relation.DIVERGED:
                    # Continued on both devices: keep every turn of both (the local copy is backed up).
                    remote = merged_bundle(lb, remote)
                    reason = f"merged with the copy from {e.device} (local copy backed up)"
                else:
                    reason = "updated"
            group = atomic.Group() if behind is not None else None
            written = self._write(remote, local, reason, lb.read_sizes if lb is not None else {}, group, fetched)
            digest = content_digest(remote)
            out.status, out.reason = DONE, reason
            if group is not None and group.files:  # in place (and recorded) once synced to disk
                behind.submit(group, (out, functools.partial(state.record, sid, e.content_sha256, written, local=digest)))  # type: ignore[union-attr]
            else:
                state.record(sid, e.content_sha256, written, local=digest)
            return out
        except SyncError as ex:
            out.status, out.reason = FAILED, str(ex)
            return out
        except OSError as ex:
            out.status, out.reason = FAILED, f"cannot write the session: {ex}"
            return out

    def _pull_tombstone(
        self, e: RemoteEntry, t: Tombstone, local: LocalSession | None, state: SyncState, out: Outcome
    ) -> Outcome:
        sid = e.session_id
        deleted = f"deleted on the remote by {t.device} ({when(t)})"
        if local is None:
            state.mark_deleted(sid, e.content_sha256)
            out.reason = deleted
        elif state.kept(sid):
            out.reason = KEPT_HERE
        elif continued_after(local, t):
            out.reason = f"{deleted}, but continued here after that: push it to bring it back"
        else:
            backup = move_to_backups(local, self.paths.claude, self.paths.backups, deleted)
            state.mark_deleted(sid, e.content_sha256)
            out.status = DONE
            out.reason = f"{deleted}; the copy here moved to the backups" + (f" ({backup.name})" if backup else "")
        return out

    def _write(
        self,
        remote: Bundle,
        local: LocalSession | None,
        reason: str,
        read_sizes: dict[str, int],
        group: atomic.Group | None = None,
        fetched: Fetched | None = None,
    ) -> dict[str, Path]:
        cwd, project_dir = self._place(remote)
        if fetched is not None and fetched.bundle is remote and fetched.rendered is not None and fetched.placed == (cwd, project_dir):
            assert self._prefetch is not None
            _cwd, files = self._prefetch.rendered(fetched)
        else:  # not rendered ahead, or for another place than it now goes (a folder appeared meanwhile)
            _cwd, files = render(remote, self.layout, project_dir.name, cwd)
        plan = RestorePlan(
            remote.session_id,
            self.paths.claude,
            project_dir,
            files,
            mtime=self._transcript_mtime(parse_time(remote.manifest.last_modified)) or None,
            read_sizes=read_sizes if local is not None and local.project_dir == project_dir else {},
        )
        if local is not None and local.project_dir != project_dir:
            # The copy here lives under another folder: back it up, and the client finds only one.
            plan.superseded = [p for n, p in local.files.items() if is_session_folder_file(n)]
        _check_legacy_agents(remote.session_id, plan)
        backup, written = write_restore(plan, self.paths.backups, reason, group, self._swept)
        self._backed_up = self._backed_up or backup is not None
        return written

    def _transcript_mtime(self, last_activity: float) -> float:
        if self._swept is None or not last_activity:  # not in a pull: the settings as they are now
            return safe_mtime(last_activity, self.paths.claude)
        if self._mtime_floor is None:
            self._mtime_floor = (mtime_floor(self.paths.claude),)
        return kept_from_sweep(last_activity, self._mtime_floor[0])

    def _render_in_worker(self) -> bool:
        """Whether a bulk pull renders in a worker process or on its prefetch thread. The worker
        takes the rewriting of paths off this process's GIL, but costs CPU of its own (starting,
        and every file through a pipe both ways): it pays only with cores to spare beside the
        pull's own threads and git's. On a 2-core machine it made the pull slower even when
        quiet (2.5 s against 2.0-2.25 s at load 1.1-1.7, BENCHMARKS.md, sixth round)."""
        if self.render_in_worker is not None:
            return self.render_in_worker
        cpus = os.cpu_count() or 1
        try:
            return cpus > 2 and os.getloadavg()[0] <= cpus - 2
        except (AttributeError, OSError):  # no load average (Windows)
            return cpus > 2

    def _fetch(self, sid: str, have: Bundle | None) -> Fetched:
        if self._prefetch is not None:
            return self._prefetch.fetch(sid, have)
        return Fetched(self.backend.fetch(sid, have=have))

    def _place(self, bundle: Bundle) -> tuple[str, Path]:
        """Where a pulled session goes on this device: its working directory and its project folder.
        (Also asked from the prefetch thread: the checkouts' caches are filled under a lock.)"""
        with self._placing:
            known = self._branches.get(bundle.session_id)
            if known is None or known[0]() is not bundle:
                known = self._branches[bundle.session_id] = (weakref.ref(bundle), session_branch(bundle))
            cwd = self.layout.cwd_for(bundle.manifest.project_key, known[1])
            return cwd, claude_home.find_project_folder(self.paths.claude / "projects", cwd)

    def _prune_backups(self) -> None:
        """Keep the backups within their retention (config: backup_max_age_days, backup_max_bytes)."""
        if self._backed_up:
            self._backed_up = False
            try:
                prune(self.paths, self.config.backup_max_age_days, self.config.backup_max_bytes)
            except OSError as e:
                log.warning("cannot prune the backups in %s: %s", self.paths.backups, e)
