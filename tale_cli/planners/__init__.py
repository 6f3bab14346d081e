"""Planners by name: each turns a Story into a validated Plan with the requested shot count."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from tale_cli.errors import RecipeError

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.plan import Plan
    from tale_cli.story import Story

    PlanFunction = Callable[..., Plan]

# name -> "module:function"; the function is `plan_story(story, recipe, *, shots, seconds) -> Plan`.
PLANNERS: dict[str, str] = {
    "offline": "tale_cli.planners.offline:plan_story",
    "gemini": "tale_cli.planners.gemini:plan_story",
    "openai": "tale_cli.planners.openai:plan_story",
    "openai-compatible": "tale_cli.planners.openai:plan_story_compatible",
}
# Planners that never leave this machine.
LOCAL_PLANNERS: frozenset[str] = frozenset({"offline"})


def planner(name: str) -> PlanFunction:
    target = PLANNERS.get(name)
    if target is None:
        raise RecipeError(f"unknown planner '{name}'", hint="valid names are: " + ", ".join(sorted(PLANNERS)))
    module_name, _, attribute = target.partition(":")
    function: PlanFunction = getattr(importlib.import_module(module_name), attribute)
    return function


def shot_settings(story: Story, recipe: Recipe) -> tuple[int, float]:
    """Shot count and seconds per shot: the story's front matter wins over the recipe."""
    return story.meta.shots or recipe.shots, story.meta.seconds or recipe.seconds


def plan_story(story: Story, recipe: Recipe, *, planner_name: str | None = None) -> Plan:
    shots, seconds = shot_settings(story, recipe)
    return planner(planner_name or recipe.planner.backend)(story, recipe, shots=shots, seconds=seconds)
