"""The provider registry: every backend and planner declared once, next to its code, and read by everyone else.

A module under `tale_cli/backends/` or `tale_cli/planners/` declares `PROVIDERS` (what it renders or
plans, with which key, extra, locality and pricing) and, when it holds a kind of API key,
`KEY_SERVICES` (where that key is looked up and the cheapest authenticated request that proves it
works). Privacy, cost, doctor, keys, keycheck, `tale providers` and the backend lookup all read these
declarations; no other list of provider names exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
import logging
import os
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from tale_cli.errors import RecipeError, did_you_mean

# The packages whose modules declare providers.
PROVIDER_PACKAGES = ("tale_cli.backends", "tale_cli.planners")

# Each optional extra of the package, by the modules whose presence proves it is installed.
EXTRAS: dict[str, tuple[str, ...]] = {
    "google": ("google.genai",),
    "openai": ("openai",),
    "runway": ("runwayml",),
    "local": ("torch", "diffusers", "transformers"),
    "voice-local": ("onnxruntime", "huggingface_hub"),
    "ray": ("ray",),
    "plot": ("matplotlib",),
    "export": ("opentimelineio",),
    "watermark": ("imwatermark",),
}


def is_private_address(url: str | None) -> bool:
    """True when `url`'s host is loopback or a private-network IP (names other than localhost would need DNS)."""
    if not url:
        return False
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_private or address.is_link_local


class Role(StrEnum):
    PLANNER = "planner"
    IMAGE = "image"
    VIDEO = "video"
    VOICE = "voice"
    MUSIC = "music"
    JUDGE = "judge"


class Locality(StrEnum):
    """Where a provider's requests go."""

    LOCAL = "local"  # never opens an outside connection
    SELF_HOSTED = "self-hosted"  # a server the user runs: local when its address is loopback or private
    CLOUD = "cloud"


class Pricing(StrEnum):
    """How a provider's work is priced in the price book."""

    FREE = "free"
    PRICE_BOOK = "price-book"  # entries under the provider's name in the book's video/image/planner tables
    GPU_TIME = "gpu-time"  # the book's GPU rate times the model's measured seconds


@dataclass(frozen=True)
class CheckRequest:
    """The cheapest authenticated HTTP request a key service has: a free read that proves the key works."""

    url: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes | None = None


# (base URL, key or None, bearer token from application-default credentials or None) -> request
CheckBuilder = Callable[[str, "str | None", "str | None"], CheckRequest]


@dataclass(frozen=True)
class KeyService:
    """A kind of API key Tale holds: where it is looked up and how it is checked."""

    name: str
    label: str
    env_vars: tuple[str, ...]
    base_url_env: str
    default_base_url: str
    check: CheckBuilder
    # The env vars count only while this variable is truthy (GOOGLE_API_KEY is a Vertex key only in Vertex mode).
    env_vars_only_if: str | None = None
    # Credentials without a key (application-default credentials): a description, or None when not set up.
    ambient: Callable[[], str | None] | None = None
    # An access token from those credentials, for the key check.
    ambient_token: Callable[[], str] | None = None
    # A 404 from the check means the key was accepted and only the check's model is not served.
    not_found_is_accepted: bool = False

    @property
    def tale_env_var(self) -> str:
        return f"TALE_{self.name.upper().replace('-', '_')}_API_KEY"

    def standard_env_vars(self) -> tuple[str, ...]:
        if self.env_vars_only_if and not _truthy(os.environ.get(self.env_vars_only_if)):
            return ()
        return self.env_vars


@dataclass(frozen=True)
class Lifecycle:
    """What is known of a model's life: the day its provider stops serving it, what replaces it, and where the date
    comes from."""

    retires: date
    replaced_by: str | None = None
    source: str = ""

    def to_json(self) -> dict[str, str | None]:
        return {"retires": self.retires.isoformat(), "replaced_by": self.replaced_by, "source": self.source}


@dataclass(frozen=True)
class Provider:
    """One provider: the roles it plays (each with its factory), and what it needs, where it runs, how it is priced.

    Video and image factories take the Recipe and return a backend; a planner factory is
    `plan_story(story, recipe, *, shots, seconds) -> Plan`.
    """

    name: str
    summary: str
    roles: Mapping[Role, Callable[..., Any] | str]  # a factory, or "module:attribute" imported when first used
    locality: Locality
    priced_by: Pricing
    key: str | None = None
    extra: str | None = None
    models: tuple[str, ...] = ()
    needs_weights: bool = False
    # SELF_HOSTED only: the environment variable that holds the server's address when the recipe names none.
    base_url_env: str | None = None
    # The models with a known end, by name (retired ones included, so a recipe naming one is told what replaced it).
    lifecycles: Mapping[str, Lifecycle] = field(default_factory=dict)
    # What each model can make (lengths, ratios, what it takes besides a prompt), by model, where declared.
    limits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def runs_locally(self, base_url: str | None = None) -> bool:
        """True when this provider's requests stay on this machine or its private network.

        `base_url` is the recipe's server address for a self-hosted provider; without one the
        provider's environment variable is read, exactly as the provider itself will.
        """
        if self.locality is Locality.LOCAL:
            return True
        if self.locality is Locality.SELF_HOSTED:
            return is_private_address(self.server_address(base_url))
        return False

    def server_address(self, base_url: str | None = None) -> str | None:
        if base_url:
            return base_url
        return os.environ.get(self.base_url_env) if self.base_url_env else None

    def is_free(self, base_url: str | None = None) -> bool:
        """No money changes hands: free backends, and self-hosted servers on this machine or network."""
        if self.priced_by is Pricing.FREE:
            return True
        return self.locality is Locality.SELF_HOSTED and self.runs_locally(base_url)

    def factory(self, role: Role) -> Callable[..., Any]:
        """The role's factory; one named "module:attribute" (a planner declared with its provider's backends) is
        imported only when it is first asked for."""
        made = self.roles[role]
        if isinstance(made, str):
            module, _, attribute = made.partition(":")
            found: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
            return found
        return made


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class _Registry:
    providers: dict[str, Provider] = field(default_factory=dict)
    key_services: dict[str, KeyService] = field(default_factory=dict)


_lock = threading.Lock()
_loaded: _Registry | None = None


def _merge(first: Provider, second: Provider) -> Provider:
    """Two modules may declare the same provider for different roles (an image backend and a planner)."""
    same = ("locality", "priced_by", "key", "extra", "needs_weights", "base_url_env")
    if any(getattr(first, name) != getattr(second, name) for name in same):
        raise RuntimeError(f"provider '{first.name}' is declared twice with different needs, locality or pricing")
    overlap = set(first.roles) & set(second.roles)
    if overlap:
        raise RuntimeError(f"provider '{first.name}' declares the role {sorted(overlap)[0]} twice")
    models = first.models + tuple(m for m in second.models if m not in first.models)
    return replace(first, roles={**first.roles, **second.roles}, models=models)


def _discover() -> _Registry:
    registry = _Registry()
    for package_name in PROVIDER_PACKAGES:
        package = importlib.import_module(package_name)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name.startswith("_") or info.name == "base":
                continue
            module = importlib.import_module(f"{package_name}.{info.name}")
            for entry in getattr(module, "PROVIDERS", ()):
                known = registry.providers.get(entry.name)
                registry.providers[entry.name] = entry if known is None else _merge(known, entry)
            for service in getattr(module, "KEY_SERVICES", ()):
                if service.name in registry.key_services:
                    raise RuntimeError(f"key service '{service.name}' is declared twice")
                registry.key_services[service.name] = service
    for entry in registry.providers.values():
        if entry.key is not None and entry.key not in registry.key_services:
            raise RuntimeError(f"provider '{entry.name}' needs the key '{entry.key}', which no module declares")
    return registry


def _registry() -> _Registry:
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _discover()
        return _loaded


def providers() -> dict[str, Provider]:
    """Every provider by name (the registry's own dict: tests may add an entry with monkeypatch.setitem)."""
    return _registry().providers


def key_services() -> dict[str, KeyService]:
    return _registry().key_services


def names(role: Role) -> list[str]:
    return sorted(name for name, entry in providers().items() if role in entry.roles)


def provider(name: str, role: Role | None = None) -> Provider:
    """The provider called `name` (playing `role`); an unknown name is a recipe error that lists the valid ones."""
    entry = providers().get(name)
    if entry is None or (role is not None and role not in entry.roles):
        what = f"{role} backend" if role not in (None, Role.PLANNER) else "planner" if role else "provider"
        valid = names(role) if role is not None else sorted(providers())
        raise RecipeError(
            f"unknown {what} '{name}'{did_you_mean(name, valid)}", hint="valid names are: " + ", ".join(valid)
        )
    return entry


def create(role: Role, name: str, *args: Any, **kwargs: Any) -> Any:
    """Look up `name` for `role` and call its factory."""
    return provider(name, role).factory(role)(*args, **kwargs)


def backend_runs_locally(name: str) -> bool:
    """Whether the provider a backend instance is registered as keeps its requests on this machine."""
    return provider(name).runs_locally()


def module_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def extra_installed(extra: str | None) -> bool:
    return extra is None or all(module_installed(m) for m in EXTRAS.get(extra, ()))


# A recipe naming a model that retires within this many days is warned, once a process.
RETIRING_WARNING = timedelta(days=30)
_warned: set[str] = set()


def lifecycle(name: str, model: str) -> Lifecycle | None:
    """What the registry knows of the end of `name`'s `model`; None when nothing is known (or no such provider)."""
    entry = providers().get(name)
    return entry.lifecycles.get(model) if entry is not None and model else None


RECIPE_SECTIONS = ("planner", "image", "video", "voice", "music", "judge")


def named_models(recipe: Any) -> list[tuple[str, str, str]]:
    """(section, backend, model) for every model the recipe names by name (a role left to its backend's default
    model names none)."""
    named = []
    for section_name in RECIPE_SECTIONS:
        section = getattr(recipe, section_name)
        backend, model = section.backend or "", getattr(section, "model", "") or ""
        if backend and backend != "none" and model:
            named.append((section_name, backend, model))
    return named


def check_lifecycles(recipe: Any, today: date | None = None) -> None:
    """Every model the recipe names, against what is known of its life: one retired is a RecipeError before anything
    runs or is spent; one retiring within 30 days is a warning line (the `tale` logger), once."""
    day = today or date.today()
    for section_name, backend, model in named_models(recipe):
        life = lifecycle(backend, model)
        if life is None:
            continue
        instead = (
            f'set model = "{life.replaced_by}" under [{section_name}]'
            if life.replaced_by
            else (f"choose another model under [{section_name}] (`tale providers`)")
        )
        if day >= life.retires:
            raise RecipeError(
                f"{backend} model {model} retired on {life.retires.isoformat()} ({life.source})", hint=instead
            )
        if life.retires - day <= RETIRING_WARNING:
            message = f"{backend} model {model} retires on {life.retires.isoformat()} ({life.source}): {instead}"
            if message not in _warned:
                _warned.add(message)
                logging.getLogger("tale").warning(message)
