"""Where bundles are kept: a private Git repository or a self-hosted sync server."""

from __future__ import annotations

from .base import Backend, PushItem, PushResult

__all__ = ["Backend", "PushItem", "PushResult", "open_backend"]


def open_backend(config, paths, *, plain: bool = False):  # type: ignore[no-untyped-def]
    """The backend the configuration names, seen through end-to-end encryption (docs/encryption.md)
    unless `plain`: a remote without a key record passes through unchanged."""
    from ..format.errors import ConfigError

    if not plain:
        from ..encryption.setup import wrap

        return wrap(open_backend(config, paths, plain=True), config, paths)

    if config.backend == "git":
        from .git import GitBackend

        if not config.git_url:
            raise ConfigError("no Git repository configured: run `claude-sync configure --git-url URL`")
        return GitBackend(config.git_url, paths.repo, branch=config.git_branch, device=config.device)
    if config.backend == "server":
        from .http import HttpBackend

        return HttpBackend.from_config(config, paths)
    raise ConfigError(f"unknown backend {config.backend!r}")
