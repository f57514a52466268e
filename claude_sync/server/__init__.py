"""The self-hosted sync server (`claude-sync serve`): FastAPI over a storage interface.

It builds on claude_sync/format/ and nothing else of claude_sync (tests/test_import_rules.py).
Not to be confused with the sidecar (`lsp/`), which runs inside the editor.
"""

from __future__ import annotations

from .app import create_app
from .storage import Storage

__all__ = ["Storage", "create_app"]
