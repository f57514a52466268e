"""The sidecar: `claudeSync/*` requests over JSON-RPC on stdio (pygls 2).

Handlers only parse params, run the matching blocking call of `actions` in a worker
thread and hand back its plain dict; the protocol is docs/sidecar-protocol.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypeVar, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, _params_field_structure_hook, default_converter

from .. import __version__
from ..config import Paths
from ..engine import Outcome
from ..format.errors import SyncError
from . import actions
from .errors import to_rpc_error
from .models import (
    CancelParams,
    CheckRemoteParams,
    CloneRepositoryParams,
    ConfigureParams,
    DeleteParams,
    EncryptionInitParams,
    EncryptionJoinParams,
    HooksParams,
    ListParams,
    MapRepositoryParams,
    NeverSyncParams,
    NoParams,
    SessionParams,
    SetTokenParams,
    ShowPhraseParams,
    SidecarOptions,
    SyncParams,
    TranscriptParams,
    parse,
)

if TYPE_CHECKING:
    import cattrs

PROGRESS = "claudeSync/progress"
CHANGED = "claudeSync/changed"

T = TypeVar("T")


def _with_params(obj: dict[str, Any], cls: type) -> Any:
    obj.setdefault("params", None)
    return _params_field_structure_hook(obj, cls)


def _converter() -> cattrs.Converter:
    """pygls' converter, except that a custom request or notification without `params` (which
    JSON-RPC allows) is handled instead of being dropped without an answer, hanging the client."""
    converter = default_converter()
    for message in (JsonRPCRequestMessage, JsonRPCNotification):
        converter.register_structure_hook(message, _with_params)
    return converter


class Sidecar(LanguageServer):
    def __init__(self) -> None:
        super().__init__("claude-sync", __version__, converter_factory=_converter)
        self.paths = Paths.current()
        self.options = SidecarOptions()
        # operationId -> its cancel flag, while the push or pull runs (or when a cancel overtook it).
        self.operations: dict[str, threading.Event] = {}

    def changed(self, what: Literal["local", "remote", "config", "hooks"]) -> None:
        self.protocol.notify(CHANGED, {"what": what})


server = Sidecar()


async def _blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run core work off the event loop; its domain errors become JSON-RPC errors, with the
    remedies that fit the remote this device uses."""
    try:
        return await asyncio.to_thread(fn, *args)
    except (SyncError, OSError) as e:
        raise to_rpc_error(e, actions.backend_of(server.paths)) from None


@server.feature(types.INITIALIZE)
def initialize(ls: Sidecar, params: types.InitializeParams) -> None:
    """Read `initializationOptions` (a dict)."""
    ls.options = parse(SidecarOptions, params.initialization_options)


@server.feature("claudeSync/status")
async def status(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Configuration, token and hooks, as the extension shows them."""
    parse(NoParams, params)
    return await _blocking(actions.status, ls.paths)


@server.feature("claudeSync/configure")
async def configure(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Change settings in config.json (shared with the CLI and the hooks)."""
    p = parse(ConfigureParams, params)
    result = await _blocking(actions.configure, ls.paths, p.changes(), p.unset_fields())
    ls.changed("config")
    return result


@server.feature("claudeSync/checkRemote")
async def check_remote(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Test a remote (reachable, authorised, writable) before it is saved; writes nothing."""
    p = parse(CheckRemoteParams, params)
    return await _blocking(actions.check_remote, ls.paths, p)


@server.feature("claudeSync/setToken")
async def set_token(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Store the server token handed over from the extension's SecretStorage."""
    p = parse(SetTokenParams, params)
    result = await _blocking(actions.set_token, ls.paths, p.token, p.server_url)
    ls.changed("config")
    return result


@server.feature("claudeSync/encryptionStatus")
async def encryption_status(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Whether the remote is end-to-end encrypted and this device has joined."""
    parse(NoParams, params)
    return await _blocking(actions.encryption_status, ls.paths, ls.options)


@server.feature("claudeSync/encryptionInit")
async def encryption_init(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Turn encryption on for the configured remote; the result carries the recovery phrase."""
    p = parse(EncryptionInitParams, params)
    result = await _blocking(actions.encryption_init, ls.paths, ls.options, p.passphrase)
    ls.changed("remote")
    return result


@server.feature("claudeSync/encryptionJoin")
async def encryption_join(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Join with the recovery phrase or passphrase; a wrong one is an error and stores nothing."""
    p = parse(EncryptionJoinParams, params)
    result = await _blocking(actions.encryption_join, ls.paths, ls.options, p.secret)
    ls.changed("remote")
    return result


@server.feature("claudeSync/encryptionShowPhrase")
async def encryption_show_phrase(ls: Sidecar, params: Any) -> dict[str, Any]:
    """The recovery phrase again, only with `confirm: true` (the extension asks the user first)."""
    parse(ShowPhraseParams, params)
    return await _blocking(actions.encryption_show_phrase, ls.paths)


@server.feature("claudeSync/listLocal")
async def list_local(ls: Sidecar, params: Any) -> dict[str, Any]:
    """This device's sessions by project, with their sync states (no remote is asked)."""
    p = parse(ListParams, params)
    return await _blocking(actions.list_local, ls.paths, p.query)


@server.feature("claudeSync/listRemote")
async def list_remote(ls: Sidecar, params: Any) -> dict[str, Any]:
    """The sessions on the remote (after a refresh, unless told not to), with their states here."""
    p = parse(ListParams, params)
    return await _blocking(actions.list_remote, ls.paths, ls.options, p.query, p.refresh)


@server.feature("claudeSync/transcript")
async def transcript(ls: Sidecar, params: Any) -> dict[str, Any]:
    """A part of a session's transcript as readable Markdown, this device's copy or the remote's."""
    p = parse(TranscriptParams, params)
    return await _blocking(actions.transcript, ls.paths, ls.options, p.session_id, p.side, p.part)


@server.feature("claudeSync/resumePlan")
async def resume_plan(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Where to run `claude --resume`, and what to warn about first."""
    p = parse(SessionParams, params)
    return await _blocking(actions.resume_plan, ls.paths, p.session_id)


@server.feature("claudeSync/repositories")
async def repositories(ls: Sidecar, params: Any) -> dict[str, Any]:
    """The repositories this device knows, and where each one's sessions go."""
    parse(NoParams, params)
    return await _blocking(actions.repositories, ls.paths)


@server.feature("claudeSync/mapRepository")
async def map_repository(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Pin (or, with folder null, unpin) this device's checkout of a repository."""
    p = parse(MapRepositoryParams, params)
    result = await _blocking(actions.map_repository, ls.paths, p.repository, p.folder)
    ls.changed("remote")
    return result


@server.feature("claudeSync/cloneRepository")
async def clone_repository(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Clone a repository with no checkout here into a folder the user chose, and pin it there."""
    p = parse(CloneRepositoryParams, params)
    result = await _blocking(actions.clone_repository, ls.paths, p.repository, p.parent, p.url)
    ls.changed("remote")
    return result


async def _sync(ls: Sidecar, action: Literal["push", "pull"], params: Any) -> dict[str, Any]:
    p = parse(SyncParams, params)
    cancel = ls.operations.setdefault(p.operation_id, threading.Event())
    loop = asyncio.get_running_loop()

    def progress(done: int, total: int, outcome: Outcome) -> None:  # called in the worker thread
        note = actions.progress_view(p.operation_id, done, total, outcome)
        loop.call_soon_threadsafe(ls.protocol.notify, PROGRESS, note)

    try:
        summary = await _blocking(actions.sync, ls.paths, ls.options, action, p.selection(), progress, cancel)
    except asyncio.CancelledError:
        cancel.set()  # $/cancelRequest: the worker thread stops before its next session
        raise
    finally:
        ls.operations.pop(p.operation_id, None)
    if summary["done"]:
        ls.changed("remote" if action == "push" else "local")
    return summary


@server.feature("claudeSync/push")
async def push(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Upload sessions by id, one project or all; one progress notification per session."""
    return await _sync(ls, "push", params)


@server.feature("claudeSync/pull")
async def pull(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Download sessions by id, one project or all; one progress notification per session."""
    return await _sync(ls, "pull", params)


@server.feature("claudeSync/delete")
async def delete(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Delete sessions here (into the backups), on the remote (a tombstone), or both."""
    p = parse(DeleteParams, params)
    summary = await _blocking(actions.delete, ls.paths, ls.options, p.session_ids, p.where)
    if summary["done"]:
        ls.changed("local" if p.where == "local" else "remote")
        if p.where == "everywhere":
            ls.changed("local")
    return summary


@server.feature("claudeSync/neverSync")
async def never_sync(ls: Sidecar, params: Any) -> dict[str, Any]:
    """The never-sync list in config.json (shared with the CLI and the hooks)."""
    p = parse(NeverSyncParams, params)
    result = await _blocking(actions.never_sync, ls.paths, p.action, p.projects, p.sessions)
    if p.action != "list":
        ls.changed("config")
    return result


@server.feature("claudeSync/cancel")
def cancel(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Stop a push or pull after the session in hand; the rest are skipped as cancelled."""
    p = parse(CancelParams, params)
    running = p.operation_id in ls.operations
    ls.operations.setdefault(p.operation_id, threading.Event()).set()
    return {"cancelled": running}


@server.feature("claudeSync/hooks")
async def hooks(ls: Sidecar, params: Any) -> dict[str, Any]:
    """Auto-sync hooks in Claude Code's settings.json: status, install or remove."""
    p = parse(HooksParams, params)
    result = await _blocking(actions.hooks, ls.paths, p.action)
    if p.action != "status":
        ls.changed("hooks")
    return result


class _ExpectedErrorsNotLogged(logging.Filter):
    """pygls logs every error response with a traceback. A domain error is an answer, which the
    extension logs once with its remedies; only internal errors (bugs) stay in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, JsonRpcException) and exc.code != JsonRpcInternalError.CODE)


def _protocol_stdout() -> BinaryIO:
    """Keep the real stdout for JSON-RPC and point fd 1 at stderr, so a stray print or a
    child process writing to its inherited stdout cannot corrupt the protocol stream."""
    sys.stdout.flush()
    channel = cast(BinaryIO, os.fdopen(os.dup(sys.stdout.fileno()), "wb"))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return channel


def serve(paths: Paths | None = None) -> None:
    """Serve one client on stdin/stdout until it says exit."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in root.handlers:
        handler.addFilter(_ExpectedErrorsNotLogged())
    # pygls' debug logs carry whole messages, tokens included.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    server.paths = paths or Paths.current()
    server.start_io(sys.stdin.buffer, _protocol_stdout())
