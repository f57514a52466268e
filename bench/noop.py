"""Figure 2: a sync when nothing changed, against the floor (a stat walk plus a `git fetch`)."""

from __future__ import annotations

import subprocess

from .context import Run
from .measure import OpenAudit, median, stat_walk, timed
from .report import Result


def run(ctx: Run) -> list[Result]:
    from claude_sync.engine import DONE, Selection

    env = ctx.pushed
    if env is None:  # figure 3 did not run: push everything first, untimed
        from . import full_push

        full_push.run(ctx)
        env = ctx.pushed
    assert env is not None
    n = ctx.preset.repeats

    def sync(action: str):  # type: ignore[no-untyped-def]
        engine = env.engine()
        try:
            return engine.push(Selection(all=True)) if action == "push" else engine.pull(Selection(all=True))
        finally:
            engine.close()

    sync("push")  # settles the metadata cache; nothing changed since figure 3's push
    times: dict[str, list[float]] = {"push": [], "pull": []}
    pushed = pulled = 0
    with OpenAudit(env.claude) as audit:
        for _ in range(n):
            for action in ("push", "pull"):
                t, summary = timed(lambda a=action: sync(a))  # type: ignore[misc]
                times[action].append(t)
                if action == "push":
                    pushed += summary.count(DONE)
                else:
                    pulled += summary.count(DONE)

    def floor() -> None:
        stat_walk(env.claude)
        subprocess.run(["git", "-C", str(env.paths.repo), "fetch", "--quiet", "origin"], env=env.environ(), check=True)

    base = median([timed(floor)[0] for _ in range(n)])
    cli = median([timed(lambda: env.cli("push", "--all"))[0] for _ in range(min(n, 3))])
    push, pull = median(times["push"]), median(times["pull"])
    ctx.log(
        f"  no-op push {push:.3f} s, pull {pull:.3f} s; {len(audit.opened)} session files opened; floor {base:.3f} s"
    )
    opened = len(audit.opened)
    note = f"median of {n} runs, in process as the sidecar and hook worker run it; {pushed} pushed, {pulled} pulled"
    if opened:
        note += "; opened: " + ", ".join(sorted({p.rsplit("/", 1)[-1] for p in audit.opened})[:5])
    return [
        Result("2a", "no-op `push --all`", push, "s", "stat walk + `git fetch`", base, "< 0.3 s", push < 0.3, note),
        Result("2b", "no-op `pull --all`", pull, "s", "stat walk + `git fetch`", base, "< 0.3 s", pull < 0.3),
        Result("2c", "session files opened by the no-op syncs", opened, "files", "", None, "0", opened == 0),
        Result(
            "2d",
            "no-op `claude-sync push --all`, whole process",
            cli,
            "s",
            "stat walk + `git fetch`",
            base,
            "",
            None,
            "includes interpreter start and imports",
        ),
    ]
