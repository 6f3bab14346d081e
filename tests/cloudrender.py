"""Test helpers for the cloud backends: a dict-backed job journal and a small film render through the executor."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tale_cli import media
from tale_cli.backends import image_backend
from tale_cli.backends.base import ReferenceRequest, RenderResult, ShotRequest
from tale_cli.config import Recipe, load_recipe
from tale_cli.executors import ThreadExecutor
from tale_cli.plan import Plan, Shot
from tale_cli.planners import plan_story
from tale_cli.story import read_story

EXAMPLE_STORY = Path(__file__).resolve().parent.parent / "examples" / "story.md"


@dataclass
class DictJournal:
    """The job journal the pipeline keeps in the manifest, held in a dict."""

    job: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)

    def existing_job(self) -> dict[str, Any] | None:
        return self.job

    def record_job(self, job: dict[str, Any]) -> None:
        self.job = dict(job)
        self.records.append(dict(job))


class CrashAfterRecord(DictJournal):
    """A journal whose process 'dies' right after the job id is written, before any polling."""

    def record_job(self, job: dict[str, Any]) -> None:
        super().record_job(job)
        raise SystemExit("killed after create")


def small(recipe: Recipe, **video: Any) -> Recipe:
    """A recipe shrunk for tests: tiny frames, fast polling."""
    settings = {"poll_interval_s": 0.02, "poll_timeout_s": 20.0, **video}
    return recipe.model_copy(update={"width": 320, "height": 180, "video": recipe.video.model_copy(update=settings)})


def shot_request(plan: Plan, shot: Shot, output: Path, journal: DictJournal | None = None, **extra: Any) -> ShotRequest:
    return ShotRequest(
        plan=plan,
        shot=shot,
        prompt=extra.pop("prompt", shot.prompt),
        negative_prompt=shot.negative_prompt,
        width=plan.width,
        height=plan.height,
        fps=plan.fps,
        duration_s=extra.pop("duration_s", shot.duration_s),
        seed=plan.shot_seed(shot),
        output=output,
        journal=journal if journal is not None else DictJournal(),
        **extra,
    )


def one_shot_plan(recipe: Recipe, *, seconds: float = 8.0, prompt: str = "a lighthouse at dusk, painterly") -> Plan:
    return Plan(
        title="Test",
        slug="test",
        width=recipe.width,
        height=recipe.height,
        fps=recipe.fps,
        shots=[Shot(index=1, duration_s=seconds, prompt=prompt, negative_prompt="blurry")],
    )


@dataclass
class Film:
    plan: Plan
    clips: list[Path]
    results: list[RenderResult]
    requests: list[ShotRequest]


def render_film(recipe_name: str, out: Path, *, jobs: int | None = None, **video: Any) -> Film:
    """Plan the example story, draw character references, render every shot concurrently, check every clip.

    Continuity as the recipe says: references, the character's reference as first frame, or chaining
    (a chained shot waits for its predecessor and starts from its last frame).
    """
    recipe = small(load_recipe(recipe_name), **video)
    plan = plan_story(read_story(EXAMPLE_STORY), recipe)
    images = image_backend(recipe)
    refs: dict[str, Path] = {}
    for character in plan.characters:
        output = out / "refs" / f"{character.id}.png"
        output.parent.mkdir(parents=True, exist_ok=True)
        images.render_reference(
            ReferenceRequest(plan, character, character.description or character.name, 1, output, DictJournal())
        )
        refs[character.id] = output
    images.close()
    executor = ThreadExecutor(recipe, jobs=jobs)
    (out / "shots").mkdir(parents=True, exist_ok=True)
    requests: list[ShotRequest] = []
    futures: list[Future[RenderResult]] = []
    try:
        for shot in plan.shots:
            shot_refs = [refs[c] for c in shot.characters if c in refs]
            extra: dict[str, Any] = {}
            if recipe.continuity == "references":
                extra["reference_images"] = shot_refs
            elif recipe.continuity == "first-frame":
                extra["first_frame"] = (shot_refs or list(refs.values()))[0]
            elif recipe.continuity == "chain" and shot.continuity and requests:
                futures[-1].result()
                previous = _finish(requests[-1])
                extra["first_frame"] = media.extract_frame(previous, out / "frames" / f"last-{shot.index - 1:02d}.png")
            request = shot_request(plan, shot, out / "shots" / f"shot-{shot.index:02d}.mp4.part", **extra)
            requests.append(request)
            futures.append(executor.submit(request))
        results = [future.result() for future in futures]
    finally:
        executor.close()
    clips = [_finish(request) for request in requests]
    for clip, shot in zip(clips, plan.shots, strict=True):
        media.check_clip(clip, expected_s=shot.duration_s, fps=plan.fps)
    return Film(plan, clips, results, requests)


def _finish(request: ShotRequest) -> Path:
    final = request.output.with_suffix("")
    if request.output.exists():
        request.output.replace(final)
    return final
