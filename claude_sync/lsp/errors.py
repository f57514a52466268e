"""Domain errors as JSON-RPC errors: `{code, message, data: {code}}`, never a traceback.

The codes are the ones docs/sidecar-protocol.md lists; the extension switches on `data.code`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcServerError

from ..format.errors import (
    AmbiguousSession,
    BackendError,
    BundleError,
    ConfigError,
    SessionNotFound,
    SyncError,
    UsageError,
)
from ..format.locking import Busy

CODES: tuple[tuple[type[SyncError], int], ...] = (
    (ConfigError, -32001),
    (BackendError, -32002),
    (BundleError, -32003),
    (SessionNotFound, -32004),
    (Busy, -32005),
)
OTHER_DOMAIN_ERROR = -32010


def invalid_params(message: str, problems: list[dict[str, str]]) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(message, data={"code": "invalid_params", "problems": problems})


def to_rpc_error(e: SyncError | OSError) -> JsonRpcException:
    if isinstance(e, UsageError):
        return invalid_params(str(e), [])
    if isinstance(e, OSError):
        # Disk trouble (permissions, a full disk) is the user's to fix, not a bug of the sidecar.
        return JsonRpcServerError(str(e), OTHER_DOMAIN_ERROR, data={"code": "os_error"})
    data: dict[str, object] = {"code": e.code}
    if isinstance(e, AmbiguousSession):
        data["candidates"] = e.candidates
    code = next((c for cls, c in CODES if isinstance(e, cls)), OTHER_DOMAIN_ERROR)
    return JsonRpcServerError(str(e), code, data=data)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raise a domain error as the JSON-RPC error pygls sends back."""
    try:
        yield
    except (SyncError, OSError) as e:
        raise to_rpc_error(e) from None
