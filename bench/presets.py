"""How big each benchmark run is: `tiny` for a smoke run, `small` for a quick look, `default` for the figures."""

from __future__ import annotations

from dataclasses import dataclass

KB = 1024
MB = 1024 * KB


@dataclass(frozen=True)
class Preset:
    name: str
    sessions: int  # in the corpus
    corpus_bytes: int  # about this many bytes of session artifacts in all
    projects: int
    repeats: int  # timed runs of the cheap figures (listing, no-op sync); the median is reported
    big_session_bytes: int  # figure 4: the session that gets 10 KB appended
    append_bytes: int
    hook_runs: int  # figure 5
    pushers: int  # figure 6: concurrent clients ...
    pushes_each: int  # ... each pushing this many bundles ...
    pusher_bundle_bytes: int  # ... of this size
    huge_bundle_bytes: int  # figure 6: one bundle this large, for the server's peak memory
    curve: tuple[int, ...] = (10, 25, 100, 200)  # figure 6: the same pushes among this many pushers


PRESETS = {
    p.name: p
    for p in (
        Preset(
            "tiny",
            sessions=24,
            corpus_bytes=6 * MB,
            projects=5,
            repeats=3,
            big_session_bytes=2 * MB,
            append_bytes=10 * KB,
            hook_runs=5,
            pushers=8,
            pushes_each=2,
            pusher_bundle_bytes=256 * KB,
            huge_bundle_bytes=16 * MB,
            curve=(1, 2, 4, 16),
        ),
        Preset(
            "small",
            sessions=200,
            corpus_bytes=150 * MB,
            projects=20,
            repeats=5,
            big_session_bytes=50 * MB,
            append_bytes=10 * KB,
            hook_runs=100,
            pushers=50,
            pushes_each=4,
            pusher_bundle_bytes=1 * MB,
            huge_bundle_bytes=500 * MB,
        ),
        Preset(
            "default",
            sessions=2000,
            corpus_bytes=2000 * MB,
            projects=60,
            repeats=5,
            big_session_bytes=50 * MB,
            append_bytes=10 * KB,
            hook_runs=100,
            pushers=50,
            pushes_each=4,
            pusher_bundle_bytes=1 * MB,
            huge_bundle_bytes=500 * MB,
        ),
    )
}

# The growth table (BENCHMARKS.md): the same kind of history at 1k, 5k and 20k sessions, about
# 100 KB a session (smaller than `default`'s, so that 20k sessions stay a 2 GB corpus).
for _n, _label in ((1000, "1k"), (5000, "5k"), (20000, "20k")):
    PRESETS[f"growth-{_label}"] = Preset(
        f"growth-{_label}",
        sessions=_n,
        corpus_bytes=_n * 100 * KB,
        projects=max(20, _n // 40),
        repeats=3,
        big_session_bytes=10 * MB,
        append_bytes=10 * KB,
        hook_runs=20,
        pushers=8,
        pushes_each=2,
        pusher_bundle_bytes=256 * KB,
        huge_bundle_bytes=16 * MB,
    )
