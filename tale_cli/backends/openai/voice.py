"""OpenAI speech: narration and dialogue with gpt-4o-mini-tts (`audio.speech`), a named voice and a style line."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import RenderResult, VoiceBackend, VoiceCapabilities, VoiceInfo
from tale_cli.backends.cloud import Cloud, voice_cost
from tale_cli.backends.openai.client import openai_client
from tale_cli.errors import BackendError, RecipeError
from tale_cli.keys.audit import ATTEMPTS_NOTE
from tale_cli.keys.store import require_key
from tale_cli.media.wav import write_wav

if TYPE_CHECKING:
    from tale_cli.backends.base import SpeechRequest
    from tale_cli.config import Recipe

DEFAULT_VOICE_MODEL = "gpt-4o-mini-tts"
# tts-1 and tts-1-hd take no style instructions; all four have an announced shutdown on 2027-01-06 (SDK docstring).
VOICE_MODELS = ("gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "tts-1", "tts-1-hd")
MAX_INPUT_CHARS = 4096
# `response_format="pcm"`: raw 16-bit little-endian mono samples at 24 kHz, no header to trust or parse.
PCM_RATE = 24_000
VOICES = (
    ("alloy", "neutral, even"),
    ("ash", "warm, clear"),
    ("ballad", "soft, expressive"),
    ("cedar", "deep, natural (recommended)"),
    ("coral", "bright, friendly"),
    ("echo", "calm, measured"),
    ("fable", "lively storyteller"),
    ("marin", "clear, natural (recommended)"),
    ("nova", "youthful, upbeat"),
    ("onyx", "deep, authoritative"),
    ("sage", "gentle, thoughtful"),
    ("shimmer", "light, airy"),
    ("verse", "versatile, expressive"),
)
DEFAULT_VOICE = "marin"


class OpenAIVoice(VoiceBackend):
    """gpt-4o-mini-tts: one request per clip, PCM back; the recipe's or character's voice, the recipe's style line."""

    name = "openai"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.voice.model or DEFAULT_VOICE_MODEL
        if self.model not in VOICE_MODELS:
            raise RecipeError(
                f"'{self.model}' is not an OpenAI speech model", hint="valid names are: " + ", ".join(VOICE_MODELS)
            )
        if recipe.voice.instructions and self.model.startswith("tts-1"):
            raise RecipeError(f"{self.model} takes no style instructions", hint=f"use {DEFAULT_VOICE_MODEL}")
        self.cloud = Cloud("openai", model=self.model, section="voice")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VoiceCapabilities:
        return VoiceCapabilities(max_input_chars=MAX_INPUT_CHARS)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(name, ("*",), description) for name, description in VOICES]

    def default_voice(self, language: str) -> str:
        return DEFAULT_VOICE

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                key = require_key("openai", role="openai voice backend")
                self.cloud.use_key(key)
                self._client = openai_client(key)
            return self._client

    def speak(self, request: SpeechRequest) -> RenderResult:
        client = self._get_client()
        params: dict[str, Any] = {
            "model": self.model,
            "voice": request.voice,
            "input": request.text,
            "response_format": "pcm",
        }
        if request.instructions:
            params["instructions"] = request.instructions
        if request.speed != 1.0:
            params["speed"] = request.speed
        attempts: list[dict[str, Any]] = []
        response = self.cloud.call(
            "speech", lambda: client.audio.speech.create(**params), creates=True, attempts=attempts
        )
        pcm = response.content
        if len(pcm) < 2:
            raise BackendError(f"OpenAI returned no speech for shot {request.shot}")
        write_wav(request.output, pcm[: len(pcm) // 2 * 2], PCM_RATE)
        seconds = len(pcm) // 2 / PCM_RATE
        return RenderResult(
            model=self.model,
            billed_seconds=round(seconds, 3),
            cost_usd=voice_cost(self.recipe, self.name, self.model, seconds),
            notes={ATTEMPTS_NOTE: attempts} if attempts else {},
        )

    def close(self) -> None:
        self.cloud.stopped.set()
