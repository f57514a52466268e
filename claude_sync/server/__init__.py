"""The self-hosted sync server (`claude-sync serve`): FastAPI over a storage interface.

Not to be confused with the sidecar (`lsp/`), which runs inside the editor.
"""

from __future__ import annotations

from .app import create_app
from .storage import Storage, StoredSession, open_storage

__all__ = ["Storage", "StoredSession", "create_app", "open_storage"]
