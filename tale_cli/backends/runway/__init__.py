"""Runway, declared once: the runway provider (gen4.5, gen4_turbo and the models Runway serves under one key) and
the key `runway`."""

from __future__ import annotations

from tale_cli.backends.runway.video import KEY_SERVICES, MODELS, RunwayVideo
from tale_cli.registry import Locality, Pricing, Provider, Role

PROVIDERS = (
    Provider(
        "runway",
        "Runway: gen4.5 text- and image-to-video, gen4_turbo image-to-video, Veo through Runway",
        {Role.VIDEO: RunwayVideo},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="runway",
        extra="runway",
        models=tuple(MODELS),
    ),
)

__all__ = ["KEY_SERVICES", "PROVIDERS"]
