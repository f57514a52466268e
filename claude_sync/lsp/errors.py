"""Domain errors as JSON-RPC errors: `{code, message, data: {code, remedies}}`, never a traceback.

The codes are the ones docs/sidecar-protocol.md lists; the extension switches on `data.code` and
shows each of `data.remedies` as a button.
"""

from __future__ import annotations

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcServerError

from ..format.errors import (
    AmbiguousSession,
    AuthError,
    BackendError,
    BundleError,
    ConfigError,
    SessionNotFound,
    SyncError,
    UsageError,
)
from ..format.locking import Busy
from .remedies import (
    Backend,
    Remedy,
    change_url,
    configure_device,
    join_encryption,
    set_token,
    show_details,
    without_cli_hints,
)

CODES: tuple[tuple[type[SyncError], int], ...] = (
    (ConfigError, -32001),
    (BackendError, -32002),
    (BundleError, -32003),
    (SessionNotFound, -32004),
    (Busy, -32005),
)
OTHER_DOMAIN_ERROR = -32010


class SidecarError(ConfigError):
    """A configuration problem the sidecar found itself, worded for the extension, with its remedies."""

    def __init__(self, message: str, remedies: list[Remedy], code: str = "config_error") -> None:
        super().__init__(message)
        self.remedies = remedies
        self.code = code


def invalid_params(message: str, problems: list[dict[str, str]]) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(message, data={"code": "invalid_params", "problems": problems, "remedies": [show_details()]})


def remedies_for(e: SyncError | OSError, backend: Backend | None) -> list[Remedy]:
    """What the user can do about `e`, given the remote this device uses."""
    if isinstance(e, SidecarError):
        return e.remedies
    # An encrypted remote this device has not joined, or a wrong phrase: join (again).
    code = getattr(e, "code", None)
    if code == "encryption_required":
        return [join_encryption(), show_details()]
    if code == "wrong_key":
        return [join_encryption("Try Again"), show_details()]
    if isinstance(e, AuthError):
        return [set_token(), show_details()]
    if isinstance(e, BackendError):
        fixes = [change_url(backend)] if backend else []
        if backend == "server":
            fixes.append(set_token())
        return [*fixes, show_details()]
    if isinstance(e, ConfigError):
        return [configure_device(), show_details()]
    if isinstance(e, (Busy, SessionNotFound)):
        return []  # try again in a moment; refresh
    return [show_details()]


def to_rpc_error(e: SyncError | OSError, backend: Backend | None = None) -> JsonRpcException:
    remedies = remedies_for(e, backend)
    if isinstance(e, UsageError):
        return invalid_params(without_cli_hints(str(e)), [])
    if isinstance(e, OSError):
        # Disk trouble (permissions, a full disk) is the user's to fix, not a bug of the sidecar.
        return JsonRpcServerError(str(e), OTHER_DOMAIN_ERROR, data={"code": "os_error", "remedies": remedies})
    data: dict[str, object] = {"code": e.code, "remedies": remedies}
    if isinstance(e, AmbiguousSession):
        data["candidates"] = e.candidates
    code = next((c for cls, c in CODES if isinstance(e, cls)), OTHER_DOMAIN_ERROR)
    return JsonRpcServerError(without_cli_hints(str(e)), code, data=data)
