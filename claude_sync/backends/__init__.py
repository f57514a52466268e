"""Where bundles are kept: a private Git repository or a self-hosted sync server."""

from __future__ import annotations

from .base import Backend, PushItem, PushResult

__all__ = ["Backend", "PushItem", "PushResult", "open_backend"]


def open_backend(config, paths):  # type: ignore[no-untyped-def]
    """The backend the configuration names, as the remote holds it (sealed sessions stay sealed:
    the engine sees it through claude_sync.encryption.setup.open_sealed)."""
    from ..format.errors import ConfigError

    if config.backend == "git":
        from .git import GitBackend

        if not config.git_url:
            raise ConfigError("no Git repository configured: run `claude-sync configure --git-url URL`")
        return GitBackend(
            config.git_url,
            paths.repo,
            branch=config.git_branch,
            device=config.device,
            max_bundle_bytes=config.max_bundle_bytes,
        )
    if config.backend == "server":
        from .http import HttpBackend

        return HttpBackend.from_config(config, paths)
    raise ConfigError(f"unknown backend {config.backend!r}")
