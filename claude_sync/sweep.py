"""The client's own cleanup, and keeping a pulled session out of its next sweep.

What the client does (read from the 2.1.332 native executable, see docs/real-client-notes.md):
at start-up it runs a retention sweep in the background that unlinks session files whose
modification time is older than `cleanupPeriodDays` (default 30, from the settings; at least 1)
before now; it looks at the file's mtime only, not at what the file holds. A pull sets a
transcript's mtime to the session's last activity, so the resume picker orders it where it
belongs; a session last active before the cutoff would then be swept by the very launch that
was meant to resume it.

So a pulled transcript whose last activity is older than the cutoff gets an mtime just inside
the retention window instead (`MARGIN` before the cutoff would reach it): it survives the
next sweeps for that long, and still sorts after every session active since then, which is
where its real last activity puts it among the sessions the client keeps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

DEFAULT_PERIOD_DAYS = 30  # the client's default cleanupPeriodDays
MARGIN_DAYS = 7.0  # how long a pulled old session survives the sweep (at most half the period)
DAY = 86400.0


def cleanup_period_days(claude_dir: Path) -> float:
    """The user's cleanupPeriodDays (settings.json of the config dir), else the client's default."""
    try:
        value = json.loads((claude_dir / "settings.json").read_text("utf-8")).get("cleanupPeriodDays")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_PERIOD_DAYS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        return DEFAULT_PERIOD_DAYS
    return float(value)


def safe_mtime(last_activity: float, claude_dir: Path, now: float | None = None) -> float:
    """The mtime a pulled transcript gets: its last activity, unless the next sweep would take it."""
    if not last_activity:
        return last_activity
    now = time.time() if now is None else now
    period = cleanup_period_days(claude_dir)
    floor = now - (period - min(MARGIN_DAYS, period / 2)) * DAY
    return max(last_activity, floor)
