"""How two versions of one session relate: same, one extends the other, or diverged.

A transcript is an append-only log, so when every log of one copy is a prefix
of the other's, the longer copy is simply later, whatever the clocks say.
"""

from __future__ import annotations

import enum

from .format.layout import is_log


class Relation(str, enum.Enum):
    SAME = "same"
    LOCAL_AHEAD = "local_ahead"
    REMOTE_AHEAD = "remote_ahead"
    DIVERGED = "diverged"


def _extends(longer: dict[str, bytes], shorter: dict[str, bytes]) -> bool:
    return all(n in longer and longer[n].startswith(d) for n, d in shorter.items() if is_log(n))


def _covers(bigger: dict[str, bytes], smaller: dict[str, bytes]) -> bool:
    return all(bigger.get(n) == d for n, d in smaller.items() if not is_log(n))


def compare(local: dict[str, bytes], remote: dict[str, bytes]) -> Relation:
    if local == remote:
        return Relation.SAME
    local_ext, remote_ext = _extends(local, remote), _extends(remote, local)
    if local_ext and not remote_ext:
        return Relation.LOCAL_AHEAD
    if remote_ext and not local_ext:
        return Relation.REMOTE_AHEAD
    if local_ext and remote_ext:  # the logs are equal: other files decide
        if _covers(local, remote):
            return Relation.LOCAL_AHEAD
        if _covers(remote, local):
            return Relation.REMOTE_AHEAD
    return Relation.DIVERGED
