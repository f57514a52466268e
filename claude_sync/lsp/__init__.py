"""The sidecar the VS Code extension talks to (`claude-sync lsp`): JSON-RPC over stdio."""

from __future__ import annotations

from .server import serve

__all__ = ["serve"]
