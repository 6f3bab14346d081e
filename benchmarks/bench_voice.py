"""The scratch voice's cost: eSpeak NG narrating the 8-shot example (every clip spoken, fitted and placed on the
voice track) ÷ the 64 s it narrates (goal ≤ 0.1), and the preview render with its voice and mix ÷ the same render
with --no-voice (goal ≤ 1.25), both measured in this run.

Usage: python benchmarks/bench_voice.py [RUNS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tale_cli.config import load_recipe
from tale_cli.planners import plan_story
from tale_cli.run.folder import Manifest, RunFolder
from tale_cli.run.voice import make_voice_track
from tale_cli.story.reader import read_story

ROOT = Path(__file__).resolve().parents[1]
STORY = ROOT / "examples" / "story.md"


def narrate(folder: Path) -> float:
    recipe = load_recipe("preview")
    plan = plan_story(read_story(STORY), recipe, planner_name="offline")
    run = RunFolder(folder)
    folder.mkdir(parents=True)
    start = time.perf_counter()
    make_voice_track(plan, recipe, run, Manifest.load(run))
    return time.perf_counter() - start


def render(out: Path, *flags: str) -> float:
    command = [sys.executable, "-m", "tale_cli", "render", str(STORY), "--out", str(out), *flags]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    spoken, voiced, silent = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            spoken.append(narrate(Path(tmp) / f"narrate-{run}"))
            silent.append(render(Path(tmp) / f"silent-{run}", "--no-voice"))
            voiced.append(render(Path(tmp) / f"voiced-{run}"))
    narration, with_voice, without = min(spoken), min(voiced), min(silent)
    print(f"eSpeak NG narration of the example on a 64 s track: {narration:.2f} s (best of {runs})")
    print(f"ratio narration/64 s = {narration / 64:.3f} (goal <= 0.1)")
    print(f"preview render with voice: {with_voice:.2f} s, with --no-voice: {without:.2f} s (best of {runs})")
    print(f"ratio voiced/silent = {with_voice / without:.2f} (goal <= 1.25)")


if __name__ == "__main__":
    main()
