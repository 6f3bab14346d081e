"""tale batch scheduling: 4 stories on 2 workers ÷ on 1 worker (goal ≤ 0.55), and the Ray executor ÷ the
in-process thread executor, both on 2 workers (goal ≤ 1.2).

Shots take a fixed wall time and almost no CPU (the backend waits, then copies a clip of the right length
rendered once), so the ratios measure scheduling rather than this machine's cores. Ray's start-up and the
workers' start are outside the timing, as they are once per batch, not per shot.

Usage: python benchmarks/bench_batch.py [RUNS] [SHOT_SECONDS]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.config import load_defaults, load_recipe
from tale_cli.executors import open_executor
from tale_cli.media.ffmpeg import EncodeSettings, input_arg, run_ffmpeg
from tale_cli.pipeline.batch import BatchOptions, run_batch

STORIES = 4
SHOTS = 4
RECIPE = """
width = 160
height = 96
fps = 12
shots = {shots}
seconds = 1.0

[video]
backend = "preview"

[video.options]
clip = "{clip}"
shot_s = {shot_s}
"""


class WaitingBackend(PreviewVideo):
    """A shot that takes `shot_s` seconds of wall time and no CPU: wait, then copy a ready clip."""

    def __init__(self, recipe: Any) -> None:
        super().__init__(recipe)
        self.clip = Path(recipe.video.options["clip"])
        self.shot_s = float(recipe.video.options["shot_s"])

    def render_shot(self, request: ShotRequest) -> RenderResult:
        time.sleep(self.shot_s)
        shutil.copyfile(self.clip, request.output)
        return RenderResult(model="waiting", has_audio=True, cost_usd=0.0)


def make_clip(path: Path) -> Path:
    defaults = load_defaults()
    encode = EncodeSettings(preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate)
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x96:rate=12:duration=1",
            "-f",
            "lavfi",
            "-i",
            f"anullsrc=channel_layout=stereo:sample_rate={encode.audio_rate}",
            "-t",
            "1",
            *encode.video_args(12),
            *encode.audio_args(),
            input_arg(path),
        ]
    )
    return path


def write_stories(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for number in range(STORIES):
        path = folder / f"story-{number}.md"
        sentences = " ".join(f"Scene {s} of story {number} happens here." for s in range(SHOTS))
        path.write_text(f"---\ntitle: Bench Story {number}\n---\n\n{sentences}\n", encoding="utf-8")
        paths.append(path)
    return paths


def timed_batch(stories: list[Path], recipe: Any, executor: Any, out: Path) -> float:
    start = time.perf_counter()
    report = run_batch(stories, BatchOptions(recipe=recipe, out_root=out, executor=executor))
    seconds = time.perf_counter() - start
    if report.failed or sum(f.rendered for f in report.films) != STORIES * SHOTS:
        raise SystemExit(f"the batch did not render every shot: {report.to_json()['counts']}")
    return seconds


def threads(stories: list[Path], recipe: Any, out: Path, workers: int) -> float:
    executor = open_executor(recipe, jobs=workers, backend=WaitingBackend(recipe))
    try:
        return timed_batch(stories, recipe, executor, out)
    finally:
        executor.close()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    shot_s = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from tale_cli.executors.on_ray import RaySession

    one, two, on_ray = [], [], []
    with tempfile.TemporaryDirectory(prefix="tale-bench-batch-") as tmp:
        root = Path(tmp)
        clip = make_clip(root / "clip.mp4")
        recipe_path = root / "bench.toml"
        recipe_path.write_text(RECIPE.format(shots=SHOTS, clip=clip, shot_s=shot_s), encoding="utf-8")
        recipe = load_recipe(str(recipe_path))
        stories = write_stories(root / "stories")
        # A session of two CPUs opened here, which the executor then joins and leaves open.
        with (
            RaySession("local", num_cpus=2),
            open_executor(recipe, ray="local", jobs=2, factory=WaitingBackend) as executor,
        ):
            executor.wait_ready(timeout=300)
            for run in range(runs):
                one.append(threads(stories, recipe, root / f"one-{run}", 1))
                two.append(threads(stories, recipe, root / f"two-{run}", 2))
                on_ray.append(timed_batch(stories, recipe, executor, root / f"ray-{run}"))
    ideal = STORIES * SHOTS * shot_s
    print(f"{STORIES} stories x {SHOTS} shots of {shot_s:g} s wall time ({ideal:g} s of shots); best of {runs}")
    print(f"threads, 1 worker:  {min(one):6.2f} s")
    print(f"threads, 2 workers: {min(two):6.2f} s")
    print(f"Ray, 2 workers:     {min(on_ray):6.2f} s")
    print(f"ratio 2 workers / 1 worker = {min(two) / min(one):.2f} (goal <= 0.55)")
    print(f"ratio Ray / threads (2 workers each) = {min(on_ray) / min(two):.2f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
