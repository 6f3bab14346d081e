"""OpenAI, every provider it serves declared once: openai (character images with gpt-image, narration, plans with the
Responses API) and openai-compatible (any server that speaks the Responses API); the key `openai`."""

from __future__ import annotations

from tale_cli.backends.openai.client import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_PLAN_MODEL,
    KEY_SERVICES,
    PLANNER_BASE_URL_ENV,
    OpenAIImage,
)
from tale_cli.backends.openai.voice import DEFAULT_VOICE_MODEL, OpenAIVoice
from tale_cli.registry import Locality, Pricing, Provider, Role

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
