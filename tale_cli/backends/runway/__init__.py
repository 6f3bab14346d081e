"""Runway, declared once: the runway provider (its own gen4.5 and gen4_turbo, and the models it serves under one key:
Veo, Seedance, Kling, Hailuo, Wan, Grok Imagine, …; speech with ElevenLabs' models and the voices its Voices API makes)
and the key `runway`."""

from __future__ import annotations

from tale_cli.backends.runway.models import MODELS
from tale_cli.backends.runway.video import KEY_SERVICES, RunwayVideo
from tale_cli.backends.runway.voice import VOICE_MODELS, RunwayVoice
from tale_cli.registry import Locality, Pricing, Provider, Role

PROVIDERS = (
    Provider(
        "runway",
        "Runway: gen4.5 and gen4_turbo, and under the same key Veo 3.1, Seedance 2.x, Kling, Hailuo, Wan, Grok Imagine; "
        "speech (eleven_v3) and voices designed or cloned with its Voices API",
        {Role.VIDEO: RunwayVideo, Role.VOICE: RunwayVoice},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="runway",
        extra="runway",
        models=(*MODELS, *VOICE_MODELS),
        limits={name: model.to_json() for name, model in MODELS.items()},
    ),
)

__all__ = ["KEY_SERVICES", "PROVIDERS"]
