"""Google, every provider it serves declared once: gemini (character images, Gemini TTS voices, plans with structured
output, the judge), veo (Veo 3.1 through Vertex AI), gemini-omni (video through the Interactions API) and lyria
(music); the keys `google` (a Gemini API key) and `vertex`."""

from __future__ import annotations

from datetime import date

from tale_cli.backends.google.client import DEFAULT_PLAN_MODEL, KEY_SERVICES
from tale_cli.backends.google.image import DEFAULT_IMAGE_MODEL, GeminiImage
from tale_cli.backends.google.judge import DEFAULT_JUDGE_MODEL, GeminiJudge
from tale_cli.backends.google.lyria import MUSIC_MODELS, LyriaMusic
from tale_cli.backends.google.video import DEFAULT_OMNI_MODEL, VEO_MODELS, GeminiOmniVideo, VeoVideo
from tale_cli.backends.google.voice import DEFAULT_VOICE_MODEL, GeminiVoice
from tale_cli.registry import Lifecycle, Locality, Pricing, Provider, Role

LIFECYCLES = {
    "gemini-3.1-flash-image": Lifecycle(date(2026, 10, 29), DEFAULT_IMAGE_MODEL, "the Gemini API's deprecations page"),
}

PROVIDERS = (
    Provider(
        "gemini",
        "Gemini: character images, narration and dialogue (Gemini TTS), plans with structured output, and the judge",
        {
            Role.IMAGE: GeminiImage,
            Role.VOICE: GeminiVoice,
            Role.JUDGE: GeminiJudge,
            Role.PLANNER: "tale_cli.planners.gemini:plan_story",
        },
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="google",
        extra="google",
        models=tuple(
            dict.fromkeys((DEFAULT_IMAGE_MODEL, DEFAULT_VOICE_MODEL, DEFAULT_JUDGE_MODEL, DEFAULT_PLAN_MODEL))
        ),
        lifecycles=LIFECYCLES,
    ),
    Provider(
        "veo",
        "Google Veo 3.1 through Vertex AI (express key or a Google Cloud project)",
        {Role.VIDEO: VeoVideo},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="vertex",
        extra="google",
        models=tuple(VEO_MODELS),
    ),
    Provider(
        "gemini-omni",
        "Gemini Omni video through the Interactions API with a plain Gemini API key",
        {Role.VIDEO: GeminiOmniVideo},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="google",
        extra="google",
        models=(DEFAULT_OMNI_MODEL, "gemini-omni-1.2-flash"),
    ),
    Provider(
        "lyria",
        "Lyria: a music bed composed for the film's mood and length (Interactions API, a Gemini key)",
        {Role.MUSIC: LyriaMusic},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="google",
        extra="google",
        models=tuple(MUSIC_MODELS),
    ),
)

__all__ = ["KEY_SERVICES", "PROVIDERS"]
