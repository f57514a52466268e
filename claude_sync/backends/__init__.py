"""Where bundles are kept: a private Git repository or a self-hosted sync server."""

from __future__ import annotations

from .base import Backend, PushItem, PushResult, RemoteEntry

__all__ = ["Backend", "PushItem", "PushResult", "RemoteEntry", "open_backend"]


def open_backend(config, paths):  # type: ignore[no-untyped-def]
    """The backend the configuration names."""
    from ..errors import ConfigError

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
        try:
            from .http import HttpBackend
        except ImportError as e:  # pragma: no cover - until the server backend lands
            raise ConfigError("the server backend is not available in this version") from e
        return HttpBackend.from_config(config, paths)
    raise ConfigError(f"unknown backend {config.backend!r}")
