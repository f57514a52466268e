"""`python -m bench run --preset tiny|small|default`: see bench/runner.py.

`--code DIR` measures the claude_sync package of another checkout (a before/after comparison);
it has to be known before claude_sync is first imported, hence here.
"""

from __future__ import annotations

import os
import sys

if "--code" in sys.argv:
    at = sys.argv.index("--code")
    os.environ["CLAUDE_SYNC_BENCH_CODE"] = os.path.abspath(sys.argv[at + 1])
    del sys.argv[at : at + 2]
if os.environ.get("CLAUDE_SYNC_BENCH_CODE"):
    sys.path.insert(0, os.environ["CLAUDE_SYNC_BENCH_CODE"])

from .runner import main  # noqa: E402 - after the path of the code under test

sys.exit(main())
