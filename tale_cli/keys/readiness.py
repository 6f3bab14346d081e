"""`tale providers`: every provider of the registry with what it needs (key, extra, weights) and whether this
machine has it, and the shipped recipes that use it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tale_cli.registry import Locality, Role, extra_installed, providers


@dataclass(frozen=True)
class Needs:
    key: str | None
    extra: str | None
    weights: bool


@dataclass(frozen=True)
class ProviderStatus:
    """One provider as `tale providers` shows it: what it does, what it needs, and whether this machine has it."""

    name: str
    summary: str
    roles: list[str]
    models: list[str]
    local: bool
    locality: str
    needs: Needs
    priced_by: str
    ready: bool
    missing: list[str]
    recipes: list[str]
    # What is known of each model's end (retires, replaced_by, source), by model.
    lifecycles: dict[str, dict[str, str | None]]
    # What each model can make, by model, where the provider declares it.
    limits: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _recipes_by_provider() -> dict[str, list[tuple[str, Role, str]]]:
    """(recipe, role, model) for every shipped recipe role, by provider name; recipes that fail to load are skipped."""
    from tale_cli.config import load_recipe, recipe_names
    from tale_cli.errors import TaleError

    used: dict[str, list[tuple[str, Role, str]]] = {}
    for recipe_name in recipe_names():
        try:
            recipe = load_recipe(recipe_name)
        except TaleError:
            continue
        for role, section in ((Role.PLANNER, recipe.planner), (Role.IMAGE, recipe.image), (Role.VIDEO, recipe.video),
                              (Role.VOICE, recipe.voice), (Role.MUSIC, recipe.music), (Role.JUDGE, recipe.judge)):  # fmt: skip
            used.setdefault(section.backend, []).append((recipe_name, role, section.model or ""))
    return used


def status() -> list[ProviderStatus]:
    """Every provider of the registry with its needs and its readiness here (key found, extra installed)."""
    from tale_cli.keys.store import key_source

    used = _recipes_by_provider()
    report: list[ProviderStatus] = []
    for name, entry in sorted(providers().items()):
        missing: list[str] = []
        if entry.key is not None and key_source(entry.key).source == "none":
            missing.append(f"key: run `tale keys set {entry.key}`")
        if not extra_installed(entry.extra):
            missing.append(f"extra: pip install 'tale-cli[{entry.extra}]'")
        if entry.locality is Locality.SELF_HOSTED and not entry.server_address():
            missing.append(f"server: set base_url in the recipe or {entry.base_url_env}")
        uses = used.get(name, [])
        models = list(dict.fromkeys([*entry.models, *(m for _, role, m in uses if m and role in entry.roles)]))
        report.append(
            ProviderStatus(
                name=name,
                summary=entry.summary,
                roles=[role.value for role in Role if role in entry.roles],
                models=models,
                local=entry.runs_locally(),
                locality=entry.locality.value,
                needs=Needs(key=entry.key, extra=entry.extra, weights=entry.needs_weights),
                priced_by=entry.priced_by.value,
                ready=not missing,
                missing=missing,
                recipes=sorted({recipe for recipe, role, _ in uses if role in entry.roles}),
                lifecycles={model: life.to_json() for model, life in sorted(entry.lifecycles.items())},
                limits={model: dict(limits) for model, limits in entry.limits.items()},
            )
        )
    return report
