#!/usr/bin/env python3
"""Render every story in a folder onto a RunPod network volume, then print a summary.

A story whose film is already on the volume (same story text, same recipe) is skipped; a story that
fails is reported and the batch goes on. The models load once, on one worker per GPU, for the whole
batch. Shots already rendered by an interrupted run are reused, so the batch can simply be restarted.

    python scripts/runpod_batch.py STORIES_DIR [--recipe local-wan2.1-1.3b] [--out /workspace/out] [--devices all]

Exit code 0 when every story has its film, 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@dataclass
class Outcome:
    story: str
    status: str
    detail: str
    seconds: float = 0.0


def finished_film(story_path: Path, out: Path, recipe_name: str) -> Path | None:
    """The film of an earlier run of this exact story text with this recipe, if it is on the volume."""
    from tale_cli.story.plan import slugify
    from tale_cli.story.reader import read_story

    story = read_story(story_path)
    folder = out / slugify(story.title, fallback=slugify(story_path.stem))
    film, manifest = folder / "film.mp4", folder / "manifest.json"
    if not film.is_file() or not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same_story = (data.get("plan_origin") or {}).get("story_sha256") == story.sha256
    same_recipe = (data.get("run") or {}).get("recipe") == recipe_name
    return film if same_story and same_recipe else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("stories", type=Path, help="folder of story .md files")
    parser.add_argument("--recipe", default=os.environ.get("TALE_RECIPE", "local-wan2.1-1.3b"))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("TALE_OUT", "/workspace/out")))
    parser.add_argument("--devices", default=os.environ.get("TALE_DEVICES", "all"),
                        help="all, 0,1,…, or 'none' for one in-process worker")  # fmt: skip
    args = parser.parse_args()

    from tale_cli.backends.models import check_local_models
    from tale_cli.config import load_recipe, with_video_overrides
    from tale_cli.errors import TaleError
    from tale_cli.executors import open_executor
    from tale_cli.pipeline import RenderOptions, render

    stories = sorted(p for p in args.stories.glob("*.md") if p.is_file())
    if not stories:
        print(f"no .md stories in {args.stories}", file=sys.stderr)
        return 1
    devices = None if args.devices == "none" else args.devices
    try:
        recipe = with_video_overrides(load_recipe(args.recipe), devices=devices)
        check_local_models(recipe, planning=True)
        executor = open_executor(recipe, devices=devices)
    except TaleError as error:
        print(f"error: {error.message}" + (f"\nhint: {error.hint}" if error.hint else ""), file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    try:
        for number, story in enumerate(stories, start=1):
            print(f"[{number}/{len(stories)}] {story.name}", flush=True)
            started = time.monotonic()
            try:
                film = finished_film(story, args.out, recipe.name)
                if film is not None:
                    outcomes.append(Outcome(story.name, "skipped", f"film exists: {film}"))
                    continue
                report = render(story, RenderOptions(recipe=recipe, out_root=args.out, executor=executor))
                elapsed = time.monotonic() - started
                if report.failed:
                    first = report.failed[0]
                    detail = f"{len(report.failed)} shot(s) failed; shot {first.index}: {first.error}"
                    outcomes.append(Outcome(story.name, "failed", detail, elapsed))
                else:
                    outcomes.append(Outcome(story.name, "done", str(report.film), elapsed))
            except TaleError as error:
                outcomes.append(Outcome(story.name, "failed", error.message, time.monotonic() - started))
            except Exception as error:
                outcomes.append(
                    Outcome(story.name, "failed", f"{type(error).__name__}: {error}", time.monotonic() - started)
                )
            print(f"    {outcomes[-1].status}: {outcomes[-1].detail}", flush=True)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
    finally:
        executor.close()

    print()
    print(f"{'story':<40} {'status':<8} {'minutes':>7}  detail")
    for outcome in outcomes:
        print(f"{outcome.story[:40]:<40} {outcome.status:<8} {outcome.seconds / 60:>7.1f}  {outcome.detail}")
    counts = {status: sum(1 for o in outcomes if o.status == status) for status in ("done", "skipped", "failed")}
    noun = "story" if len(stories) == 1 else "stories"
    print(f"{len(stories)} {noun}: {counts['done']} rendered, {counts['skipped']} skipped, {counts['failed']} failed; "
          f"films in {args.out}")  # fmt: skip
    return 1 if counts["failed"] or len(outcomes) < len(stories) else 0


if __name__ == "__main__":
    sys.exit(main())
