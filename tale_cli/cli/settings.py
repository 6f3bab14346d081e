"""Settings precedence for the CLI: flag > recipe > TALE_* environment > configs/defaults.toml."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.cli.common import console, debug_enabled

if TYPE_CHECKING:
    from tale_cli.config import Recipe


def _say(name: str, value: object, origin: str) -> None:
    if debug_enabled():
        console(stderr=True).print(f"[dim]setting {name} = {value} (from {origin})[/]", highlight=False)


def resolve_recipe(flag: str | None) -> Recipe:
    from tale_cli.config import load_defaults, load_recipe, resolve

    name, origin = resolve(flag, "TALE_RECIPE", load_defaults().recipe)
    _say("recipe", name, origin)
    return load_recipe(str(name))


def say_shape(source: Path, recipe: Recipe, *, aspect: str | None, resolution: str | None) -> Recipe:
    """The recipe made for the film's shape (flag > story or plan.json > recipe), saying where each half came from."""
    from tale_cli.story.reader import source_shape
    from tale_cli.story.shape import shaped_recipe

    shape = source_shape(source, recipe, aspect=aspect, resolution=resolution)
    _say("aspect", f"{shape.aspect} ({shape.width}x{shape.height})", shape.aspect_from)
    _say("resolution", shape.resolution or f"{min(shape.width, shape.height)} lines", shape.resolution_from)
    return shaped_recipe(recipe, shape)


def resolve_out(flag: Path | None) -> Path | None:
    """The output root, or None for the default (a plan.json then renders in its own folder)."""
    import os

    from tale_cli.config import load_defaults

    if flag is not None:
        _say("out", flag, "flag")
        return flag
    if os.environ.get("TALE_OUT"):
        _say("out", os.environ["TALE_OUT"], "env TALE_OUT")
        return Path(os.environ["TALE_OUT"])
    _say("out", load_defaults().out_dir, "configs/defaults.toml")
    return None
