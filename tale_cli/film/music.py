"""The music bed: an audio file, or a score a music backend composes for the film, kept under music/ by a hash of
what was asked, so a re-run composes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tale_cli.backends.base import MusicBackend
from tale_cli.files import digest
from tale_cli.registry import Role, create, names

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Plan

HASH_VERSION = 1
# What of the story a score prompt quotes: the first narrations, enough to set the mood.
MOOD_CHARS = 600


def composes(source: str) -> bool:
    """Whether a [music] source (or --music value) names a music backend rather than a file."""
    return source in names(Role.MUSIC)


def music_backend(recipe: Recipe) -> MusicBackend:
    backend: MusicBackend = create(Role.MUSIC, recipe.music.source, recipe)
    return backend


def score_prompt(plan: Plan, recipe: Recipe) -> str:
    """What to compose: the recipe's own prompt, else one from the film's title, style, length and first words."""
    if recipe.music.prompt:
        return recipe.music.prompt
    words = " ".join(shot.narration for shot in plan.shots if shot.narration)[:MOOD_CHARS]
    style = f" Visual style: {plan.style}." if plan.style else ""
    return (
        f'An instrumental score, no vocals, for a {plan.duration_s:.0f}-second short film, "{plan.title}".'
        f"{style} It sits under a narrator's voice: gentle dynamics, no sudden loud hits. The story: {words}"
    )


def _score_hash(backend: MusicBackend, prompt: str, seconds: float) -> str:

    return digest({"v": HASH_VERSION, **backend.fingerprint(), "prompt": prompt, "seconds": round(seconds, 3)})[:32]


def check_composer(recipe: Recipe) -> None:
    """The music backend's checks that cost nothing (model, key), before anything is spent."""
    backend = music_backend(recipe)
    try:
        backend.preflight()
    finally:
        backend.close()
