"""`python -m claude_sync.hook_runner`: the name every installed hook launcher runs.

Launchers written by earlier versions live on in users' ~/.claude-sync-sessions/bin/ and name
this module, so it stays here; the code is claude_sync/hooks/runner.py.
"""

from __future__ import annotations

import sys

from claude_sync.hooks.runner import main

if __name__ == "__main__":
    sys.exit(main())
