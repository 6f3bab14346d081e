"""Test helpers for the cloud backends: a dict-backed job journal, small recipes, a film render."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tale_cli.backends.base import ShotRequest
from tale_cli.config import Recipe, load_recipe, recipe_path
from tale_cli.pipeline import RenderOptions, RenderReport, render
from tale_cli.story.plan import Plan, Shot

EXAMPLE_STORY = Path(__file__).resolve().parent.parent / "examples" / "story.md"
# The veo-3.1-fast recipe, shrunk to the fake server's clip size and polling fast.
SMALL_VEO = """
description = "veo-3.1-fast, shrunk for tests"
width = 320
height = 180
continuity = "references"
[planner]
backend = "gemini"
[image]
backend = "gemini"
[video]
backend = "veo"
model = "veo-3.1-fast-generate-001"
audio = true
poll_interval_s = 0.02
"""


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


def render_film(recipe_name: str, out: Path, *, jobs: int | None = None, **video: Any) -> tuple[RenderReport, dict]:
    """Render the example story with a shrunk recipe through the real pipeline; returns the report and manifest."""
    recipe = small(load_recipe(recipe_name), **video)
    report = render(EXAMPLE_STORY, RenderOptions(recipe=recipe, out_root=out, jobs=jobs))
    manifest = json.loads((report.run_dir / "manifest.json").read_text(encoding="utf-8"))
    return report, manifest


def shrunk(name: str, folder) -> str:
    """The shipped recipe as a file, at the fake's clip size and polling fast; everything else as shipped."""
    text = recipe_path(name).read_text(encoding="utf-8")
    for key, value in (("width", "320"), ("height", "180"), ("poll_interval_s", "0.02")):
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, key
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)
