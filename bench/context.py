"""What every figure gets: the preset, the corpus, a scratch folder, and a log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import Corpus
from .env import BenchEnv
from .presets import Preset


@dataclass
class Run:
    preset: Preset
    seed: int
    out: Path  # this run's scratch folder (bench/out/run-<preset> or a temp dir)
    corpus: Corpus
    log: Callable[[str], None] = print
    extra: dict = field(default_factory=dict)  # facts for the report (tar size, ...)
    pushed: BenchEnv | None = None  # the corpus device after figure 3's full push (figure 2 reuses it)

    def corpus_env(self, name: str) -> BenchEnv:
        """A device whose home is the corpus (read only) and whose sync data dir is its own."""
        c = self.corpus
        return BenchEnv(c.home_dir, self.out / name / "sync-home", claude=c.claude, projects_root=c.projects_root)
