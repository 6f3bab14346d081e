"""The film's shape: aspect and resolution chosen by flag, story (or plan.json) and recipe, and the frame they make."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Plan

ASPECTS: dict[str, tuple[int, int]] = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}
# A resolution names the frame's short side, as 720p names a 1280x720 or a 720x1280 frame.
RESOLUTIONS: dict[str, int] = {"720p": 720, "1080p": 1080}


def ratio_of(aspect: str) -> float:
    """16:9 -> 1.777…; any `W:H` a plan may carry, not only the four named shapes."""
    width, height = (int(part) for part in aspect.split(":"))
    return width / height


def nearest_aspect(width: int, height: int) -> str:
    """The named aspect closest to a frame (by the ratio's logarithm, so 16:9 and 9:16 are equally far from 1:1)."""
    target = math.log(width / height)
    return min(ASPECTS, key=lambda name: round(abs(math.log(ratio_of(name)) - target), 9))


def frame_size(aspect: str, short_side: int) -> tuple[int, int]:
    """Width and height of a frame of this aspect whose short side is `short_side`, both even."""
    ratio = ratio_of(aspect)
    long_side = max(2, round(short_side * max(ratio, 1 / ratio) / 2) * 2)
    return (long_side, short_side) if ratio >= 1 else (short_side, long_side)


def sized(width: int, height: int, *, aspect: str | None, resolution: str | None) -> tuple[str, int, int]:
    """The aspect and size a frame of `width`x`height` becomes when given an aspect and a resolution.

    A resolution sets the short side (720p 9:16 is 720x1280). Without one the frame keeps its own short side, and
    turning a frame on its side swaps its sides exactly, so a model's native 832x480 becomes 480x832 rather than
    a rounded 480x854.
    """
    own = nearest_aspect(width, height)
    target = aspect or own
    if resolution is not None:
        return (target, *frame_size(target, RESOLUTIONS[resolution]))
    if target == own:
        return target, width, height
    if ASPECTS[target] == ASPECTS[own][::-1]:
        return target, height, width
    return (target, *frame_size(target, min(width, height)))


@dataclass(frozen=True)
class Shape:
    """The film's shape and where each half of it came from (for `--debug`)."""

    aspect: str
    width: int
    height: int
    resolution: str | None
    aspect_from: str
    resolution_from: str


def _first(*choices: tuple[str | None, str]) -> tuple[str | None, str]:
    for value, origin in choices:
        if value is not None:
            return value, origin
    return None, "recipe width and height"


def story_shape(recipe: Recipe, *, story_aspect: str | None, story_resolution: str | None,
                aspect: str | None = None, resolution: str | None = None) -> Shape:  # fmt: skip
    """A story's film: flag > story front matter > recipe, for the aspect and the resolution each."""
    chosen_aspect, aspect_from = _first((aspect, "flag"), (story_aspect, "story"), (recipe.aspect, "recipe"))
    chosen_res, res_from = _first((resolution, "flag"), (story_resolution, "story"), (recipe.resolution, "recipe"))
    name, width, height = sized(recipe.width, recipe.height, aspect=chosen_aspect, resolution=chosen_res)
    return Shape(name, width, height, chosen_res, aspect_from, res_from)


def plan_shape(plan: Plan, *, aspect: str | None = None, resolution: str | None = None) -> Shape:
    """A plan.json's film: its own aspect and size, unless a flag asks for another shape."""
    if aspect is None and resolution is None:
        return Shape(plan.aspect, plan.width, plan.height, None, "plan.json", "plan.json")
    name, width, height = sized(plan.width, plan.height, aspect=aspect, resolution=resolution)
    return Shape(
        name, width, height, resolution, "flag" if aspect else "plan.json", "flag" if resolution else "plan.json"
    )


def shaped_recipe(recipe: Recipe, shape: Shape) -> Recipe:
    """The recipe making a film of this shape: its width and height are the film's.

    A resolution chosen by flag or story also becomes the provider's `[video] resolution` where the recipe names
    one (Veo, Omni, Runway), so a 1080p film is rendered at 1080p rather than upscaled.
    """
    update: dict[str, object] = {
        "aspect": shape.aspect if shape.aspect in ASPECTS else None,
        "resolution": shape.resolution,
        "width": shape.width,
        "height": shape.height,
    }
    if shape.resolution is not None and shape.resolution_from != "recipe" and recipe.video.resolution is not None:
        update["video"] = recipe.video.model_copy(update={"resolution": shape.resolution})
    return recipe.model_copy(update=update)


def film_aspect(recipe: Recipe) -> str:
    """The named aspect of the film a (shaped) recipe makes."""
    return recipe.aspect or nearest_aspect(recipe.width, recipe.height)


def reshape(plan: Plan, width: int, height: int, aspect: str) -> Plan:
    """The same plan at another size (prompts, shots and characters unchanged)."""
    return plan.model_copy(update={"aspect": aspect, "width": width, "height": height})
