"""What is checked before anything is spent, for a render and a retake alike: the video backend can render every shot
(durations, sizes, image- or text-to-video), each backend's own free checks (keys, options), and the plan as the shots
see it."""

from __future__ import annotations

from tale_cli.backends import image_backend
from tale_cli.backends.base import VideoBackend, VideoCapabilities
from tale_cli.config import Recipe
from tale_cli.errors import RecipeError
from tale_cli.pipeline.options import RenderOptions
from tale_cli.story.plan import Plan


def check_capabilities(plan: Plan, recipe: Recipe, capabilities: VideoCapabilities, backend_name: str) -> None:
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
    if not capabilities.text_to_video and not plan.characters and recipe.continuity != "chain":
        raise RecipeError(
            f"the {backend_name} backend renders image-to-video only and this plan has no character to draw a first frame from",
            hint='add characters to the story, or set continuity = "chain" in the recipe',
        )
    if not capabilities.text_to_video and not needs_first_frame:
        raise RecipeError(
            f"the {backend_name} backend renders image-to-video only",
            hint='set continuity = "first-frame" or "chain" in the recipe',
        )


def preflight(plan: Plan, recipe: Recipe, backend: VideoBackend) -> None:
    """Each backend's own checks that cost nothing (keys present, options valid) before any spending."""
    backend.preflight()
    if any(not c.reference_image for c in plan.characters):
        images = image_backend(recipe)
        try:
            images.preflight()
        finally:
            images.close()


def plan_for_shots(plan: Plan, options: RenderOptions) -> Plan:
    """The plan as the shots see it. Burned subtitles carry the speech, so the shots are not given it too:
    the animatic would draw its own caption under the one the stitch burns in, and a shot's cache key follows."""
    if not options.burn_subtitles:
        return plan
    return plan.model_copy(update={"shots": [shot.model_copy(update={"speech": []}) for shot in plan.shots]})
