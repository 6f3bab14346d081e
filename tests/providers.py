"""Test providers in the registry: an entry added for one test with monkeypatch, gone after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from tale_cli import registry
from tale_cli.registry import Locality, Pricing, Provider, Role


def register(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    role: Role,
    factory: Callable[..., Any],
    *,
    local: bool = False,
    priced_by: Pricing | None = None,
) -> Provider:
    """Add `factory` as provider `name` playing `role` (a second role of a test provider joins the first)."""
    table = registry.providers()
    known = table.get(name)
    if known is not None:
        entry = replace(known, roles={**known.roles, role: factory})
    else:
        entry = Provider(
            name,
            f"test provider {name}",
            {role: factory},
            Locality.LOCAL if local else Locality.CLOUD,
            priced_by or (Pricing.FREE if local else Pricing.PRICE_BOOK),
        )
    monkeypatch.setitem(table, name, entry)
    return entry
