"""Figures as data, and as the Markdown table in BENCHMARKS.md."""

from __future__ import annotations

import json
import platform
import re
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .measure import cores


@dataclass
class Result:
    figure: str  # "1a", "3", ...
    what: str
    value: float
    unit: str  # s | ms | B | MB/s | MB | files | x
    baseline_what: str = ""
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "B":
        for u, n in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
            if value >= n:
                return f"{value / n:.2f} {u}" if u != "KB" else f"{value / n:.1f} KB"
        return f"{value:.0f} B"
    if unit == "MB/s":
        return f"{value:.1f} MB/s"
    if unit == "writes/s":
        return f"{value:.1f} writes/s"
    if unit == "files":
        return f"{value:.0f} files"
    return f"{value:g} {unit}".strip()


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cores": cores(),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "git": git.replace("git version ", ""),
        "system": f"{platform.system()} {platform.release()}",
    }


def markdown(preset: str, seed: int, command: str, corpus: dict, results: list[Result], extra: dict) -> str:
    m = machine()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"#### Preset `{preset}` (seed {seed}), {when}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: **{m['cores']} cores** ({m['cpu']}), {m['system']}, Python {m['python']}, git {m['git']}.",
    ]
    if corpus:
        lines.append(
            f"Corpus: {corpus['sessions']:,} sessions, {fmt(corpus['bytes'], 'B')} in {corpus['files']:,} files, "
            f"largest transcript {fmt(corpus['largest'], 'B')}"
            + (f"; `tar czf` of it: {fmt(extra['tar_bytes'], 'B')}" if extra.get("tar_bytes") else "")
            + "."
        )
    lines += [
        "",
        "| # | figure | measured | baseline (same run) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        base = f"{fmt(r.baseline, r.unit)} ({r.baseline_what})" if r.baseline is not None else (r.baseline_what or "-")
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "-"
        met = {True: "yes", False: "**no**", None: "-"}[r.met]
        lines.append(
            f"| {r.figure} | {r.what} | {fmt(r.value, r.unit)} | {base} | {ratio} | {r.target or '-'} | {met} |"
        )
    notes = [r for r in results if r.note]
    if notes:
        lines += ["", "Notes from this run:", ""]
        lines += [f"- {r.figure}: {r.note}" for r in notes]
    return "\n".join(lines) + "\n"


def save(
    out: Path, preset: str, seed: int, command: str, corpus: dict, results: list[Result], extra: dict
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(preset, seed, command, corpus, results, extra)
    md_file = out / f"results-{preset}.md"
    md_file.write_text(md)
    js = out / f"results-{preset}.json"
    js.write_text(
        json.dumps(
            {
                "preset": preset,
                "seed": seed,
                "command": command,
                "machine": machine(),
                "corpus": corpus,
                "extra": extra,
                "results": [r.to_dict() for r in results],
            },
            indent=1,
        )
    )
    return md_file, js


def update_benchmarks(file: Path, preset: str, block: str) -> None:
    """Replace this preset's generated block in BENCHMARKS.md, keeping everything written by hand."""
    begin, end = f"<!-- bench:{preset}:begin -->", f"<!-- bench:{preset}:end -->"
    text = file.read_text() if file.exists() else "# Benchmarks\n"
    new = f"{begin}\n{block}{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: new, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    file.write_text(text)
