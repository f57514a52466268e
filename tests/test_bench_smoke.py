"""The benchmark suite runs end to end on its tiny preset and produces every figure (no timing is judged).

Run as a user runs it (`python -m bench`), so that tests/ and bench/ do not import each other.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.support.devices import REPO

FIGURES = {"1a", "1b", "1c", "1d", "1e", "2a", "2b", "2c", "2d", "3", "4a", "4b", "5a", "5b", "6a", "6b", "6c", "6d", "6e", "6f", "6g", "6h", "9", "10a", "10b", "11a", "11b", "11c", "11d", "12a", "12b"}


def test_the_tiny_benchmark_produces_every_figure(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--preset", "tiny", "--out", str(tmp_path)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert (tmp_path / "results-tiny.json").exists(), r.stdout + r.stderr
    saved = json.loads((tmp_path / "results-tiny.json").read_text())
    produced = {x["figure"]: x for x in saved["results"]}
    assert set(produced) == FIGURES, r.stdout + r.stderr
    for x in saved["results"]:
        assert math.isfinite(x["value"]), f"figure {x['figure']}: {x['what']}: {x.get('note')}"
    assert "| 3 |" in (tmp_path / "results-tiny.md").read_text()


# Run in a process of its own, as `python -m bench` is, so that tests/ does not import bench/.
PEAK_PROBE = """
import os, subprocess, sys
from bench.measure import run_rusage
big = bytearray(400 << 20)
for i in range(0, len(big), 4096):
    big[i] = 1
p = subprocess.Popen([sys.executable, "-c", "pass"])
naive = os.wait4(p.pid, 0)[2].ru_maxrss
code, cpu, rss = run_rusage([sys.executable, "-c", "import sys; sys.exit(3)"])
print(naive, code, rss, len(big))
"""


def test_a_commands_peak_memory_is_its_own_not_the_benchs():
    r = subprocess.run([sys.executable, "-c", PEAK_PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    naive_kb, code, rss_kb, _ = (int(x) for x in r.stdout.split())
    # The kernel charges a child with its parent's memory at the exec: the trap the bench must avoid.
    assert naive_kb > 350 * 1024
    assert code == 3
    assert rss_kb < 100 * 1024
