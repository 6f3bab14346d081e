"""A cached re-render against the first render of the same run: `tale render RUN/plan.json` with nothing changed
(every shot, voice clip and the film itself found as they are: "film unchanged") ÷ the first `tale render` of the
example story that made them, both as a user runs them (a new process each), measured in this run. Goal <= 0.15.

Usage: python benchmarks/bench_cached_render.py [RUNS]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORY = ROOT / "examples" / "story.md"


def tale(*args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tale_cli", *args, "--json"], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, json.loads(done.stdout)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    first, cached = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            seconds, report = tale("render", str(STORY), "--out", str(Path(tmp) / f"run-{run}"))
            first.append(seconds)
            plan = Path(report["run_dir"]) / "plan.json"
            film = (Path(report["run_dir"]) / "film.mp4").read_bytes()
            seconds, again = tale("render", str(plan))
            assert again["counts"]["rendered"] == 0 and again["film_unchanged"], again
            assert (Path(report["run_dir"]) / "film.mp4").read_bytes() == film
            cached.append(seconds)
    made, found = min(first), min(cached)
    print(f"first render of the example: {made:.2f} s; cached re-render: {found:.2f} s (best of {runs})")
    print(f"ratio cached/first = {found / made:.3f} (goal <= 0.15)")


if __name__ == "__main__":
    main()
