"""Figure 1: list local sessions as the tree view does, warm and cold, against a stat walk."""

from __future__ import annotations

from .context import Run
from .env import fresh_dir
from .measure import head_tail_read, median, read_all, stat_walk, timed
from .report import Result


def run(ctx: Run) -> list[Result]:
    from claude_sync.engine import SyncEngine
    from claude_sync.listing import local_groups

    env = ctx.corpus_env("listing")
    fresh_dir(env.data)
    config = env.configure()
    cache_file = env.paths.cache / "sessions.json"
    n = ctx.preset.repeats

    def listing() -> list[dict]:
        # What the sidecar's listLocal does per request: a new engine, discovery, grouping.
        engine = SyncEngine(config, env.paths)
        return local_groups(engine.local_sessions(), engine.layout)

    read_all(env.claude)  # the OS page cache is warm for every measurement below
    walks = [timed(lambda: stat_walk(env.claude))[0] for _ in range(n)]
    heads: list[float] = []
    cold = []
    for _ in range(n):  # the head-and-tail baseline alternates with the cold listing it is compared to
        heads.append(timed(lambda: head_tail_read(env.claude / "projects"))[0])
        cache_file.unlink(missing_ok=True)
        t, groups = timed(listing)
        cold.append(t)
    listed = sum(len(g["sessions"]) for g in groups)
    warm = [timed(listing)[0] for _ in range(n)]
    cli = [timed(lambda: env.cli("sessions", "--json"))[0] for _ in range(min(n, 3))]
    cli_cold = []
    for _ in range(min(n, 3)):
        cache_file.unlink(missing_ok=True)
        cli_cold.append(timed(lambda: env.cli("sessions", "--json"))[0])
    head = median(heads)
    transcripts, _read = head_tail_read(env.claude / "projects")
    walk = median(walks)
    files, _size = stat_walk(env.claude)
    ctx.log(f"  stat walk {walk:.3f} s ({files} files); cold listing {median(cold):.3f} s; warm {median(warm):.3f} s")
    note = f"{listed} sessions listed, {files:,} files walked; median of {n} runs; OS page cache warm on both sides"
    return [
        Result(
            "1a",
            "warm listing (metadata cached)",
            median(warm),
            "s",
            "stat walk",
            walk,
            "< 0.3 s",
            median(warm) < 0.3,
            note,
        ),
        Result(
            "1b",
            "cold listing (no metadata cache)",
            median(cold),
            "s",
            "stat walk",
            walk,
            "≤ 1.2× stat walk",
            median(cold) <= 1.2 * walk,
        ),
        Result(
            "1d",
            "cold listing (no metadata cache), against reading heads and tails",
            median(cold),
            "s",
            "first and last 16 KB of each transcript",
            head,
            "≤ 2× heads and tails",
            median(cold) <= 2 * head,
            f"{transcripts} transcripts; baseline and listing alternate, median of {n} each",
        ),
        Result(
            "1e",
            "`claude-sync sessions --json`, cold, whole process",
            median(cli_cold),
            "s",
            "first and last 16 KB of each transcript",
            head,
            "",
            None,
            "includes interpreter start and imports (the warm whole process, 1c, is that floor)",
        ),
        Result(
            "1c",
            "`claude-sync sessions --json`, warm, whole process",
            median(cli),
            "s",
            "stat walk",
            walk,
            "",
            None,
            "includes interpreter start and imports; the tree view's sidecar pays those once",
        ),
    ]
