"""What a recipe needs before it runs: every key its roles use (and extras), found here or not — all named in one
message before anything runs, rather than one at a time as each backend asks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tale_cli.errors import KeysError
from tale_cli.keys.store import key_source, provider
from tale_cli.registry import Role, extra_installed, providers

if TYPE_CHECKING:
    from tale_cli.config import Recipe


@dataclass
class RecipeNeeds:
    """The keys and extras a recipe's roles need, and which of them this machine lacks."""

    keys: dict[str, list[str]] = field(default_factory=dict)  # key -> the roles that use it ("veo video")
    extras: dict[str, list[str]] = field(default_factory=dict)
    missing_keys: list[str] = field(default_factory=list)
    missing_extras: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.missing_keys and not self.missing_extras

    def to_json(self) -> dict[str, object]:
        return {
            "keys": self.keys,
            "extras": self.extras,
            "missing_keys": self.missing_keys,
            "missing_extras": self.missing_extras,
            "ready": self.ready,
        }


def _roles_used(recipe: Recipe, planning: bool) -> Iterable[tuple[Role, str]]:
    if planning:
        yield Role.PLANNER, recipe.planner.backend
    yield Role.IMAGE, recipe.image.backend
    yield Role.VIDEO, recipe.video.backend
    if recipe.voice.enabled:
        yield Role.VOICE, recipe.voice.backend
    if recipe.music.enabled and recipe.music.source in providers():
        yield Role.MUSIC, recipe.music.source
    if recipe.judge.enabled:
        yield Role.JUDGE, recipe.judge.backend


def recipe_needs(recipe: Recipe, *, planning: bool = True) -> RecipeNeeds:
    """Every key and extra the recipe's roles use (`planning`: the planner's too, for a story not yet planned)."""
    needs = RecipeNeeds()
    known = providers()
    for role, backend in _roles_used(recipe, planning):
        entry = known.get(backend)
        if entry is None:
            continue  # an unknown backend is the recipe's own error, said where it is made
        base_url = recipe.planner.base_url if role is Role.PLANNER else None
        if entry.key is not None and not entry.is_free(base_url):
            needs.keys.setdefault(entry.key, []).append(f"{backend} {role.value}")
        if entry.extra is not None:
            needs.extras.setdefault(entry.extra, []).append(f"{backend} {role.value}")
    needs.missing_keys = [name for name in needs.keys if key_source(name).source == "none"]
    needs.missing_extras = [name for name in needs.extras if not extra_installed(name)]
    return needs


def check_keys(recipe: Recipe, *, planning: bool = True) -> None:
    """One KeysError naming every key the recipe needs and this machine lacks, before anything runs."""
    needs = recipe_needs(recipe, planning=planning)
    if not needs.missing_keys:
        return
    parts = [f"{provider(name).label} '{name}' ({', '.join(needs.keys[name])})" for name in needs.missing_keys]
    commands = "; ".join(f"`tale keys set {name}`" for name in needs.missing_keys)
    raise KeysError(f"recipe {recipe.name} needs keys this machine lacks: {'; '.join(parts)}", hint=f"run {commands}")
