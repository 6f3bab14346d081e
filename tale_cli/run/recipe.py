"""The recipe a run renders with: the one it recorded (its user's own TOML file, else its name), with the sound its film
was cut with (a --voice, --no-voice or --music of the render or of `tale stitch` kept)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from tale_cli.config import Recipe, tier_recipe
from tale_cli.errors import RecipeError
from tale_cli.run.film_records import FilmRecord
from tale_cli.run.folder import Manifest, ManifestData


def cut_record(data: ManifestData) -> FilmRecord | None:
    """The record of how the run's films are cut: its film's, or in a run of drafts its draft film's (always cut;
    the final film is cut the same way)."""
    return data.draft_film if data.run.tier == "draft" and data.draft_film is not None else data.film


def with_film_sound(recipe: Recipe, manifest: Manifest) -> Recipe:
    """`recipe` with the [voice], [music] and loudness the run's film was cut with, where its record keeps them."""
    from tale_cli.config import MusicConfig, VoiceConfig

    film = cut_record(manifest.data)
    if film is None:
        return recipe
    update: dict[str, object] = {}
    if film.voice is not None:
        update["voice"] = VoiceConfig.model_validate(film.voice)
    if film.music is not None:
        update["music"] = MusicConfig.model_validate(film.music)
    if film.loudness_lufs is not None:
        update["loudness_lufs"] = film.loudness_lufs
    return recipe.model_copy(update=update) if update else recipe


def _recorded_recipe(manifest: Manifest) -> Recipe | None:
    from tale_cli.config import load_recipe

    name, own = manifest.data.run.recipe, manifest.data.run.recipe_file
    if own and Path(own).is_file():
        with contextlib.suppress(RecipeError):
            recipe = load_recipe(own)
            if recipe.name == name:
                return recipe
    if not name:
        return None
    with contextlib.suppress(RecipeError):
        return load_recipe(name)
    return None


def run_recipe_of(manifest: Manifest, given: Recipe | None, *, final: bool = False) -> Recipe:
    """The recipe the run renders with, which a take's plan hash is computed for: `given` when it bears the run's
    recipe name (a recipe file is recorded by name only), else the recorded one, else `given`; at the run's tier (the
    draft tier of a run rendered with --draft, unless `final`)."""
    name = manifest.data.run.recipe
    tier = None if final else manifest.data.run.tier
    if given is not None and (not name or given.name == name):
        return tier_recipe(given, tier)
    recorded = _recorded_recipe(manifest)
    if recorded is not None:
        return tier_recipe(recorded, tier)
    if given is not None:
        return tier_recipe(given, tier)
    raise RecipeError(
        f"the run's recipe '{name or '?'}' cannot be found",
        hint="pass --recipe with the recipe (a name or a TOML file) the run was rendered with",
    )
