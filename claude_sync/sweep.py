"""The client's own cleanup, and keeping a pulled session out of its next sweep.

What the client does (read from the 2.1.197 and 2.1.332 executables, see docs/real-client-notes.md):
a background housekeeping task started by every run (interactive on its first prompt, and `-p`)
sweeps 5 s later, at most once a day, unlinking session files whose modification time is older
than `cleanupPeriodDays` (default 30, from the settings) before now; it looks at the file's mtime
only, not at what the file holds, and the resume picker orders sessions by that same mtime. A
pull sets a transcript's mtime to the session's last activity, so the picker orders it where it
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


def cleanup_period_days(claude_dir: Path) -> float | None:
    """The user's cleanupPeriodDays (settings.json of the config dir), else the client's default;
    None when it is 0, which turns the client's sweep off."""
    try:
        value = json.loads((claude_dir / "settings.json").read_text("utf-8")).get("cleanupPeriodDays")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_PERIOD_DAYS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return DEFAULT_PERIOD_DAYS
    return float(value) if value else None


def safe_mtime(last_activity: float, claude_dir: Path, now: float | None = None) -> float:
    """The mtime a pulled transcript gets: its last activity, unless the next sweep would take it."""
    if not last_activity:
        return last_activity
    return kept_from_sweep(last_activity, mtime_floor(claude_dir, now))


def kept_from_sweep(last_activity: float, floor: float | None) -> float:
    """`last_activity` raised to `floor` (mtime_floor) when older; as it is when the client does not sweep."""
    return last_activity if not last_activity or floor is None else max(last_activity, floor)


def mtime_floor(claude_dir: Path, now: float | None = None) -> float | None:
    """The oldest mtime a pulled transcript may get (what safe_mtime raises older ones to); None
    when the client does not sweep. A bulk pull reads it once, not the settings once a session."""
    period = cleanup_period_days(claude_dir)
    if period is None:
        return None
    now = time.time() if now is None else now
    return now - (period - min(MARGIN_DAYS, period / 2)) * DAY
