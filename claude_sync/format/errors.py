"""Domain errors. Each carries a message fit to show a user as is."""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error this tool reports to a user."""

    exit_code = 1
    code = "sync_error"


class ConfigError(SyncError):
    """Missing or invalid configuration: fix the settings, then retry."""

    exit_code = 2
    code = "config_error"


class UsageError(SyncError):
    exit_code = 2
    code = "usage_error"


class BundleError(SyncError):
    """A bundle is corrupt, truncated, unsafe or too large; nothing was written."""

    code = "bundle_error"


class BackendError(SyncError):
    """The remote (git or server) could not be reached or refused the operation."""

    code = "backend_error"


class AuthError(BackendError):
    """The remote did not accept this device's credentials (a missing or revoked token)."""


class NotPortable(SyncError):
    """A session whose working directory cannot be expressed on another device."""

    code = "not_portable"


class SessionNotFound(SyncError):
    code = "not_found"


class AmbiguousSession(SyncError):
    code = "ambiguous"

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates
