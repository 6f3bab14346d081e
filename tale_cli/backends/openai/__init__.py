"""OpenAI, every provider it serves declared once: openai (character images with gpt-image, narration, plans with the
Responses API) and openai-compatible (any server that speaks the Responses API); the key `openai`."""

from __future__ import annotations

from datetime import date

from tale_cli.backends.openai.client import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_PLAN_MODEL,
    KEY_SERVICES,
    PLANNER_BASE_URL_ENV,
    OpenAIImage,
)
from tale_cli.backends.openai.voice import DEFAULT_VOICE_MODEL, OpenAIVoice
from tale_cli.registry import Lifecycle, Locality, Pricing, Provider, Role

_SPEECH_API = Lifecycle(
    date(2027, 1, 6), "gpt-realtime-2.1-mini", "the Speech API's shutdown, per openai 3.63's docstring"
)
_IMAGES_DECEMBER = Lifecycle(date(2026, 12, 1), "gpt-image-2", "OpenAI's deprecations page, second-hand")
LIFECYCLES = {
    "gpt-4o-mini-tts": _SPEECH_API,
    "gpt-4o-mini-tts-2025-12-15": _SPEECH_API,
    "tts-1": _SPEECH_API,
    "tts-1-hd": _SPEECH_API,
    "gpt-image-1": Lifecycle(date(2026, 10, 23), "gpt-image-2", "OpenAI's shutdown notice"),
    "gpt-image-1-mini": _IMAGES_DECEMBER,
    "gpt-image-1.5": _IMAGES_DECEMBER,
    "chatgpt-image-latest": _IMAGES_DECEMBER,
    "dall-e-2": Lifecycle(date(2026, 5, 12), "gpt-image-2", "OpenAI's shutdown notice"),
    "dall-e-3": Lifecycle(date(2026, 5, 12), "gpt-image-2", "OpenAI's shutdown notice"),
}

PROVIDERS = (
    Provider(
        "openai",
        "OpenAI: character images with gpt-image, narration with gpt-4o-mini-tts, and plans with the Responses API",
        {Role.IMAGE: OpenAIImage, Role.VOICE: OpenAIVoice, Role.PLANNER: "tale_cli.planners.openai:plan_story"},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="openai",
        extra="openai",
        models=(DEFAULT_IMAGE_MODEL, DEFAULT_VOICE_MODEL, DEFAULT_PLAN_MODEL),
        lifecycles=LIFECYCLES,
    ),
    Provider(
        "openai-compatible",
        "any server that speaks OpenAI's Responses API (vLLM, Ollama): local when its address is loopback or private",
        {Role.PLANNER: "tale_cli.planners.openai:plan_story_compatible"},
        Locality.SELF_HOSTED,
        Pricing.PRICE_BOOK,
        extra="openai",
        base_url_env=PLANNER_BASE_URL_ENV,
    ),
)

__all__ = ["KEY_SERVICES", "PROVIDERS"]
