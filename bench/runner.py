"""Run the figures of one preset and write the results."""

from __future__ import annotations

import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import append, encryption, full_push, hook, listing, new_device, new_device_server, noop, server
from .context import Run
from .corpus import ensure_corpus
from .env import CODE, REPO, fresh_dir
from .presets import PRESETS
from .report import Result, save, update_benchmarks

# Figure 3 runs before 2: the no-op sync starts from its full push.
FIGURES: dict[str, Callable[[Run], list[Result]]] = {
    "1": listing.run,
    "3": full_push.run,
    "2": noop.run,
    "11": new_device.run,
    "4": append.run,
    "5": hook.run,
    "6": server.run,
    "9": encryption.full_push,
    "10": encryption.append_encrypted,
    "12": new_device_server.run,
}
DEFAULT_OUT = REPO / "bench" / "out"


def run(
    preset_name: str,
    *,
    seed: int = 1,
    out: Path = DEFAULT_OUT,
    only: set[str] | None = None,
    write_benchmarks: bool = False,
    label: str = "",
    log: Callable[[str], None] = print,
) -> list[Result]:
    preset = PRESETS[preset_name]
    name = preset.name + (f"-{label}" if label else "")
    out = out.resolve()
    corpus = ensure_corpus(out, preset, seed, log)
    ctx = Run(preset, seed, fresh_dir(out / f"run-{name}"), corpus, log)
    results: list[Result] = []
    for key, figure in FIGURES.items():
        if only and key not in only:
            continue
        log(f"figure {key}: {figure.__module__.rsplit('.', 1)[-1]}")
        t = time.perf_counter()
        try:
            results.extend(figure(ctx))
        except Exception as e:  # noqa: BLE001 - one broken figure must not hide the others
            traceback.print_exc()
            results.append(
                Result(key, f"figure {key} failed", float("nan"), "", met=False, note=f"{type(e).__name__}: {e}")
            )
        log(f"  ({time.perf_counter() - t:.0f} s)")
    results.sort(key=lambda r: r.figure)
    argv = ["--preset", preset.name] + (["--seed", str(seed)] if seed != 1 else [])
    if only:
        argv += ["--only", ",".join(sorted(only))]
    if CODE != REPO:
        argv += ["--code", str(CODE)]
    if label:
        argv += ["--label", label]
    command = ".venv/bin/python -m bench run " + shlex.join(argv)
    md, js = save(out, name, seed, command, corpus.info(), results, ctx.extra)
    log(md.read_text())
    log(f"results in {md} and {js}")
    if write_benchmarks:
        update_benchmarks(REPO / "BENCHMARKS.md", name, md.read_text())
        log("BENCHMARKS.md updated")
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["replicas"]:  # the team-scale load test has options of its own (bench/replicas.py)
        from . import replicas

        return replicas.main(argv[1:])
    if argv[:1] == ["sizing"]:  # database size per user-month (bench/sizing.py)
        from . import sizing

        return sizing.main(argv[1:])

    p = argparse.ArgumentParser(prog="python -m bench", description="Benchmarks of claude-sync at realistic scale.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="generate (or reuse) the corpus and measure every figure")
    sub.add_parser("replicas", help="the team-scale load test: replicas on PostgreSQL beside SQLite (--help)")
    sub.add_parser("sizing", help="database size per user-month, PostgreSQL and SQLite (--help)")
    g = sub.add_parser("generate", help="only generate (or check) the corpus of a preset")
    for x in (r, g):
        x.add_argument("--preset", choices=sorted(PRESETS), default="default")
        x.add_argument("--seed", type=int, default=1)
        x.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpora and results (default bench/out)")
    r.add_argument("--only", help="comma-separated figures, e.g. 1,2")
    r.add_argument("--write", action="store_true", help="put the results table into BENCHMARKS.md")
    r.add_argument("--label", default="", help="a name for this run's results (e.g. before): results-PRESET-LABEL.md")
    r.add_argument("--code", metavar="DIR", help="measure the claude_sync of another checkout (handled by __main__)")
    args = p.parse_args(argv)
    if args.command == "generate":
        c = ensure_corpus(args.out.resolve(), PRESETS[args.preset], args.seed)
        print(c.info())
        return 0
    only = set(args.only.split(",")) if args.only else None
    results = run(args.preset, seed=args.seed, out=args.out, only=only, write_benchmarks=args.write, label=args.label)
    return 1 if any(r.unit == "" and r.met is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
