"""Cloud concurrency: an 8-shot render against a fake provider that takes D seconds per clip, with --jobs 8
÷ the same render with --jobs 1 (goal ≤ 0.2), and Tale's own overhead per shot.

Usage: python benchmarks/bench_cloud_jobs.py [D seconds, default 4] [recipe, default veo-3.1-fast]
The fake provider server (tests/fakes.py) speaks the real REST API; the real SDK talks to it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fakes  # noqa: E402

from tale_cli.config import load_recipe  # noqa: E402
from tale_cli.pipeline import Event, RenderOptions, render  # noqa: E402


def run(recipe_name: str, out: Path, jobs: int) -> tuple[float, float]:
    """(whole render seconds, shot stage seconds: first shot submitted to last shot checked)."""
    base = load_recipe(recipe_name)
    recipe = base.model_copy(
        update={
            "width": 320,
            "height": 180,
            "video": base.video.model_copy(update={"poll_interval_s": 0.05, "poll_timeout_s": 600.0}),
        }
    )
    marks: list[float] = []

    def on_event(event: Event) -> None:
        if event.kind == "shot" and event.state in ("rendering", "done", "failed"):
            marks.append(time.perf_counter())

    started = time.perf_counter()
    report = render(ROOT / "examples" / "story.md", RenderOptions(recipe=recipe, out_root=out, jobs=jobs), on_event)
    total = time.perf_counter() - started
    if report.failed:
        raise SystemExit(f"render failed: {report.failed[0].error}")
    return total, marks[-1] - marks[0]


def main() -> None:
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    recipe = sys.argv[2] if len(sys.argv) > 2 else "veo-3.1-fast"
    with tempfile.TemporaryDirectory(prefix="tale-bench-") as tmp:
        server = fakes.start(Path(tmp))
        for name in fakes.CLEARED_ENV:
            os.environ.pop(name, None)
        os.environ.update(fakes.environment(server.fake))
        # Warm up: SDK imports, the fake's clip encode, the planner.
        run(recipe, Path(tmp) / "warm", 8)
        fakes.reset(server).clip_delay_s = delay
        serial_total, serial_shots = run(recipe, Path(tmp) / "jobs1", 1)
        fakes.reset(server).clip_delay_s = delay
        parallel_total, parallel_shots = run(recipe, Path(tmp) / "jobs8", 8)
        server.shutdown()
    overhead = serial_shots / 8 - delay
    print(f"fake provider: {delay:g} s per clip; recipe {recipe} at 320x180; 8 shots")
    print(f"--jobs 1: render {serial_total:.2f} s, shot stage {serial_shots:.2f} s")
    print(f"--jobs 8: render {parallel_total:.2f} s, shot stage {parallel_shots:.2f} s")
    print(f"Tale's overhead per shot (create, polls, download, conform, check, manifest): {overhead:.2f} s")
    print(f"ratio shot stage jobs8/jobs1 = {parallel_shots / serial_shots:.3f} (goal <= 0.2)")
    print(f"ratio whole render jobs8/jobs1 = {parallel_total / serial_total:.3f}")


if __name__ == "__main__":
    main()
