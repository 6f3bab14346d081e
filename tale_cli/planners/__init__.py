"""Planners by name: each turns a Story into a validated Plan with the requested shot count."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Plan, Voices
    from tale_cli.story.reader import Story

    PlanFunction = Callable[..., Plan]


def planner(name: str) -> PlanFunction:
    """The planner called `name`, from the provider registry; an unknown name lists the valid ones."""
    from tale_cli.registry import Role, provider

    function: PlanFunction = provider(name, Role.PLANNER).factory(Role.PLANNER)
    return function


def shot_settings(story: Story, recipe: Recipe) -> tuple[int, float]:
    """Shot count and seconds per shot: the story's front matter wins over the recipe."""
    return story.meta.shots or recipe.shots, story.meta.seconds or recipe.seconds


def plan_story(
    story: Story, recipe: Recipe, *, planner_name: str | None = None, kept: Mapping[str, Voices] | None = None
) -> Plan:
    """The story's plan, its characters' voices cast: the front matter's, else those `kept` from an earlier plan of
    the story (by character id), else chosen now. Its aspect and size are the recipe's, so shape the recipe first
    (tale_cli.story.shape)."""
    from tale_cli.planners.casting import author_voices, cast_voices, keep_voices

    shots, seconds = shot_settings(story, recipe)
    plan = planner(planner_name or recipe.planner.backend)(story, recipe, shots=shots, seconds=seconds)
    author_voices(plan, story)
    keep_voices(plan, kept or {})
    cast_voices(plan, recipe)
    return plan
