"""`tale providers --check`: every model the recipes name, held against what the registry knows of its end and,
where the user has the key, against what its provider still lists — the check a CI smoke run can make each morning.

OpenAI's model list gives each model's `shutdown_date`; the Gemini API's lists the models it serves (a retirement
date comes only with a paid answer, so none is asked for). Providers with no listing to ask are reported from the
registry alone, and so is every provider the user has no key for."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tale_cli.errors import TaleError
from tale_cli.keys.store import get_key
from tale_cli.registry import lifecycle, named_models, providers

if TYPE_CHECKING:
    from tale_cli.config import Recipe

RETIRING_DAYS = 30


@dataclass
class ModelCheck:
    """One model a recipe names: what is known of it, and from where."""

    provider: str
    model: str
    recipes: list[str]
    status: str  # ok, retiring, retired, unknown (to its provider), not asked
    retires: str | None = None
    source: str = ""


@dataclass
class CheckReport:
    models: list[ModelCheck] = field(default_factory=list)
    not_asked: dict[str, str] = field(default_factory=dict)  # provider -> why it was not asked

    @property
    def failing(self) -> list[ModelCheck]:
        return [m for m in self.models if m.status in ("retired", "unknown")]

    def to_json(self) -> dict[str, Any]:
        return {"models": [asdict(m) for m in self.models], "not_asked": self.not_asked, "ok": not self.failing}


def recipes_naming(recipes: Iterable[Recipe]) -> dict[tuple[str, str], list[str]]:
    """(provider, model) -> the recipes naming it (models left to a backend's default are the registry's care)."""
    named: dict[tuple[str, str], list[str]] = {}
    for recipe in recipes:
        for _, backend, model in named_models(recipe):
            named.setdefault((backend, model), []).append(recipe.name)
    return named


def _openai_listing(key: str) -> dict[str, str | None]:
    from tale_cli.backends.openai.client import openai_client

    client = openai_client(key)  # held while the pages are read
    return {model.id: model.shutdown_date for model in client.models.list()}


def _gemini_listing(key: str) -> dict[str, str | None]:
    from tale_cli.backends.google.client import HTTP_TIMEOUT_S, sdk

    genai, types = sdk()
    # v1beta's list, the one the Gemini API documents; held while the pages are read (the pager does not keep it).
    options = types.HttpOptions(api_version="v1beta", timeout=int(HTTP_TIMEOUT_S * 1000))
    client = genai.Client(api_key=key, http_options=options)
    return {str(model.name).removeprefix("models/"): None for model in client.models.list()}


# The key each listing is asked with, and the providers whose models it lists.
LISTINGS: dict[str, tuple[str, tuple[str, ...], Callable[[str], dict[str, str | None]]]] = {
    "openai": ("openai", ("openai",), _openai_listing),
    "gemini": ("google", ("gemini", "lyria", "gemini-omni"), _gemini_listing),
}


def check_models(recipes: Iterable[Recipe], today: datetime.date | None = None) -> CheckReport:
    day = today or datetime.date.today()
    report = CheckReport()
    named = recipes_naming(recipes)
    listed: dict[str, dict[str, str | None]] = {}
    for listing, (key_name, served, ask) in LISTINGS.items():
        if not any(provider in served for provider, _ in named):
            continue
        key = get_key(key_name)
        if key is None:
            for provider in served:
                report.not_asked[provider] = f"no '{key_name}' key here (`tale keys set {key_name}`)"
            continue
        try:
            found = ask(key)
        except TaleError as error:
            for provider in served:
                report.not_asked[provider] = error.message
            continue
        except Exception as error:  # the SDK's own errors: the check reports, it does not stop
            for provider in served:
                report.not_asked[provider] = f"{listing} could not be asked: {type(error).__name__}"
            continue
        for provider in served:
            listed[provider] = found
    for (provider, model), recipe_names in sorted(named.items()):
        life = lifecycle(provider, model)
        check = ModelCheck(provider, model, sorted(set(recipe_names)), "ok", source="registry")
        if life is not None:
            check.retires, check.source = life.retires.isoformat(), life.source
        if provider in listed:
            if model not in listed[provider]:
                check.status, check.source = "unknown", f"{provider}'s model list"
                report.models.append(check)
                continue
            shutdown = listed[provider][model]
            if shutdown:
                check.retires, check.source = str(shutdown)[:10], f"{provider}'s model list"
        elif provider in providers() and provider not in report.not_asked:
            report.not_asked.setdefault(provider, "no model listing to ask")
        if check.retires is not None:
            retires = datetime.date.fromisoformat(check.retires)
            if day >= retires:
                check.status = "retired"
            elif (retires - day).days <= RETIRING_DAYS:
                check.status = "retiring"
        report.models.append(check)
    return report
