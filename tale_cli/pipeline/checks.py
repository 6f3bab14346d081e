"""What is checked before anything is spent, for a render and a retake alike: the video backend can render every shot
(durations, sizes, image- or text-to-video), each backend's own free checks (keys, options), and the plan as the shots
see it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.backends import image_backend
from tale_cli.backends.base import VideoBackend, VideoCapabilities
from tale_cli.config import Recipe
from tale_cli.errors import RecipeError
from tale_cli.pipeline.options import RenderOptions
from tale_cli.story.plan import Plan

if TYPE_CHECKING:
    from tale_cli.keys.audit import AuditLog
    from tale_cli.run.folder import Manifest, RunFolder


def check_capabilities(plan: Plan, recipe: Recipe, capabilities: VideoCapabilities, backend_name: str) -> None:
    from tale_cli.film.dialogue import check_dialogue

    check_dialogue(recipe, capabilities, backend_name)
    for shot in plan.shots:
        if not capabilities.supports_duration(shot.duration_s):
            if capabilities.durations and capabilities.renders_longer:
                allowed = f"up to {max(capabilities.durations):g}"
            elif capabilities.durations:
                allowed = ", ".join(f"{d:g}" for d in capabilities.durations)
            else:
                allowed = f"{capabilities.min_duration_s:g}-{capabilities.max_duration_s:g}"
            raise RecipeError(
                f"shot {shot.index} lasts {shot.duration_s:g} s; the {backend_name} backend renders {allowed} s",
                hint="change `seconds` in the story front matter or recipe, or edit plan.json",
            )
    if capabilities.sizes is not None and (plan.width, plan.height) not in capabilities.sizes:
        sizes = ", ".join(f"{w}x{h}" for w, h in capabilities.sizes)
        raise RecipeError(f"{plan.width}x{plan.height} is not a size the {backend_name} backend renders ({sizes})")
    needs_first_frame = recipe.continuity in ("first-frame", "chain")
    if needs_first_frame and not capabilities.image_to_video:
        raise RecipeError(f"continuity '{recipe.continuity}' needs image-to-video, which {backend_name} lacks")
    if not capabilities.text_to_video and not plan.subjects() and recipe.continuity != "chain":
        raise RecipeError(
            f"the {backend_name} backend renders image-to-video only and this plan has no character to draw a first frame from",
            hint='add characters (or entities) to the story, or set continuity = "chain" in the recipe',
        )
    if not capabilities.text_to_video and not needs_first_frame:
        raise RecipeError(
            f"the {backend_name} backend renders image-to-video only",
            hint='set continuity = "first-frame" or "chain" in the recipe',
        )


def line_voices(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    capabilities: VideoCapabilities,
    manifest: Manifest | None = None,
    *,
    make: bool = False,
    audit: AuditLog | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[int, Path]:
    """Each shot's lines spoken for a model that says them in the clip with the voice it is given (Seedance 2's
    reference audio): where they are (`make=False`, nothing spoken) or spoken now; {} for any other recipe."""
    from tale_cli.film.dialogue import in_clip

    if not (in_clip(recipe) and recipe.voice.enabled and capabilities.reference_audio_s > 0):
        return {}
    if make and manifest is not None:
        from tale_cli.run.line_voice import make_line_samples

        return make_line_samples(plan, recipe, folder, manifest, audit=audit, say=say)
    from tale_cli.run.line_voice import line_sample_paths

    return line_sample_paths(plan, recipe, folder)


def preflight(plan: Plan, recipe: Recipe, backend: VideoBackend) -> None:
    """Each backend's own checks that cost nothing (keys present, options valid) before any spending."""
    backend.preflight()
    if any(not subject.reference_image for subject in plan.subjects()):
        images = image_backend(recipe)
        try:
            images.preflight()
        finally:
            images.close()


def plan_for_shots(plan: Plan, options: RenderOptions) -> Plan:
    """The plan as the shots see it. Burned subtitles carry the speech, so the shots are not given it too:
    the animatic would draw its own caption under the one the stitch burns in, and a shot's cache key follows.
    With dialogue in the clip, each shot's prompt carries its lines."""
    from tale_cli.film.dialogue import with_dialogue

    plan = with_dialogue(plan, options.recipe)
    if not options.burn_subtitles:
        return plan
    return plan.model_copy(update={"shots": [shot.model_copy(update={"speech": []}) for shot in plan.shots]})
