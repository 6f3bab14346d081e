"""OpenAI speech: narration and dialogue through the Realtime API (`gpt-realtime-2.1-mini`, a WebSocket session per
clip: the words in, PCM audio out), or — until 2027-01-06, when OpenAI shuts it down — the Speech API
(`gpt-4o-mini-tts`, `tts-1`, `tts-1-hd`).

A Realtime model is a conversational model: the session's instructions tell it to read the given words aloud, exactly
and nothing else, in the recipe's style; the voice is a built-in one or a custom `voice_…` id."""

from __future__ import annotations

import base64
import datetime
import threading
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import MadeVoice, RenderResult, VoiceBackend, VoiceCapabilities, VoiceInfo
from tale_cli.backends.cloud import Cloud, made_voice_cost, voice_cost
from tale_cli.backends.openai.client import openai_client
from tale_cli.errors import BackendError, InputError, RecipeError
from tale_cli.keys.audit import ATTEMPTS_NOTE
from tale_cli.keys.store import require_key
from tale_cli.media.wav import write_wav

if TYPE_CHECKING:
    from pathlib import Path

    from tale_cli.backends.base import SpeechRequest, VoiceMaking
    from tale_cli.config import Recipe

DEFAULT_VOICE_MODEL = "gpt-realtime-2.1-mini"
REALTIME_MODELS = ("gpt-realtime-2.1-mini", "gpt-realtime-2.1", "gpt-realtime-mini", "gpt-realtime")
# The Speech API (`audio.speech`): tts-1 and tts-1-hd take no style instructions. OpenAI shuts all of them down on
# 2027-01-06 (the SDK's `SpeechModel` docstring); from that day a recipe naming one is refused before anything runs.
SPEECH_MODELS = ("gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "tts-1", "tts-1-hd")
SPEECH_API_SHUTDOWN = datetime.date(2027, 1, 6)
VOICE_MODELS = REALTIME_MODELS + SPEECH_MODELS
MAX_INPUT_CHARS = 4096
# A custom voice's sample and consent recording: at most 10 MiB each (openai 3.63).
MAX_VOICE_FILE_BYTES = 10 * 2**20
CLONE_MODEL = "voice-clone"  # how the price book names a custom voice made from a sample
# Both APIs give raw 16-bit little-endian mono samples at 24 kHz: no header to trust or parse.
PCM_RATE = 24_000
# Realtime output speed is 0.25-1.5 (the Speech API's 0.25-4.0 is wider).
REALTIME_SPEEDS = (0.25, 1.5)
VOICES = (
    ("alloy", "neutral, even"),
    ("ash", "warm, clear"),
    ("ballad", "soft, expressive"),
    ("cedar", "deep, natural (recommended)"),
    ("coral", "bright, friendly"),
    ("echo", "calm, measured"),
    ("marin", "clear, natural (recommended)"),
    ("sage", "gentle, thoughtful"),
    ("shimmer", "light, airy"),
    ("verse", "versatile, expressive"),
)
# The Speech API's voices that the Realtime API does not have.
SPEECH_ONLY_VOICES = (("fable", "lively storyteller"), ("nova", "youthful, upbeat"), ("onyx", "deep, authoritative"))
DEFAULT_VOICE = "marin"
# How each voice sounds to listeners (second-hand: OpenAI's voice pages describe the voices without a gender), for
# casting characters; alloy is left neutral.
TRAITS = {"ash": ("male",), "ballad": ("male",), "cedar": ("male",), "coral": ("female",), "echo": ("male",),
          "fable": ("male",), "marin": ("female",), "nova": ("female", "young"), "onyx": ("male",),
          "sage": ("female",), "shimmer": ("female",), "verse": ("male",)}  # fmt: skip
READ_ALOUD = (
    "You are a voice actor reading a film's narration and dialogue. Read the user's text aloud exactly as written, "
    "word for word, in its own language; add nothing before or after it, answer nothing, and ask nothing."
)
# Realtime error codes as the HTTP statuses the rest of Tale's cloud handling understands.
_ERROR_STATUS = {
    "invalid_api_key": 401,
    "model_not_found": 404,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
}


class RealtimeError(Exception):
    """An `error` event of a Realtime session, with the HTTP status it stands for."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def speech_api_retired(model: str, today: datetime.date | None = None) -> bool:
    return model in SPEECH_MODELS and (today or datetime.date.today()) >= SPEECH_API_SHUTDOWN


def custom_voice(voice: str) -> bool:
    """A voice the user made (`voice_…`), which the Realtime API takes as {"id": …}."""
    return voice.startswith("voice_")


class OpenAIVoice(VoiceBackend):
    """One Realtime session (or Speech API request) per clip, PCM back; the recipe's or character's voice, the recipe's
    style line."""

    name = "openai"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.voice.model or DEFAULT_VOICE_MODEL
        if self.model not in VOICE_MODELS:
            raise RecipeError(
                f"'{self.model}' is not an OpenAI speech model", hint="valid names are: " + ", ".join(VOICE_MODELS)
            )
        if speech_api_retired(self.model):
            raise RecipeError(
                f"{self.model} retired with OpenAI's Speech API on {SPEECH_API_SHUTDOWN.isoformat()}",
                hint=f'set model = "{DEFAULT_VOICE_MODEL}" under [voice] (the Realtime API)',
            )
        self.realtime = self.model in REALTIME_MODELS
        if recipe.voice.instructions and self.model.startswith("tts-1"):
            raise RecipeError(f"{self.model} takes no style instructions", hint=f"use {DEFAULT_VOICE_MODEL}")
        low, high = REALTIME_SPEEDS
        if self.realtime and not low <= recipe.voice.speed <= high:
            raise RecipeError(f"{self.model} speaks at speed {low:g} to {high:g}, not {recipe.voice.speed:g}")
        self.cloud = Cloud("openai", model=self.model, section="voice")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VoiceCapabilities:
        # A custom voice made from a sample speaks in the Realtime API; one designed from a description speaks only in
        # OpenAI's Live API (openai 3.63's `audio.voices.create` says so), which this backend does not use.
        return VoiceCapabilities(
            max_input_chars=MAX_INPUT_CHARS,
            clone_model=CLONE_MODEL if self.realtime else None,
            no_design_because="OpenAI's voices designed from a description speak only in its Live API, "
            "which Tale does not use",
        )

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def voices(self) -> list[VoiceInfo]:
        named = VOICES if self.realtime else VOICES + SPEECH_ONLY_VOICES
        return [VoiceInfo(name, ("*",), description, TRAITS.get(name, ())) for name, description in sorted(named)]

    def default_voice(self, language: str) -> str:
        return DEFAULT_VOICE

    def check_voice(self, voice: str) -> None:
        """A built-in voice of this API, or (Realtime) a custom `voice_…` id."""
        if self.realtime and custom_voice(voice):
            return
        names = [info.name for info in self.voices()]
        if voice not in names:
            raise RecipeError(
                f"the {self.name} voice backend has no voice '{voice}' with {self.model}",
                hint=f"`tale voices --backend {self.name}` lists them"
                + (" (or use a custom voice_… id)" if self.realtime else ""),
            )

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
        attempts: list[dict[str, Any]] = []
        if self.realtime:
            pcm, audio_tokens = self.cloud.call(
                "realtime speech", lambda: self._session(client, request), creates=True, attempts=attempts
            )
        else:
            pcm, audio_tokens = self._speech_api(client, request, attempts), None
        if len(pcm) < 2:
            raise BackendError(f"OpenAI returned no speech for shot {request.shot}")
        write_wav(request.output, pcm[: len(pcm) // 2 * 2], PCM_RATE)
        seconds = len(pcm) // 2 / PCM_RATE
        notes: dict[str, Any] = {ATTEMPTS_NOTE: attempts} if attempts else {}
        if audio_tokens is not None:
            notes["audio_tokens"] = audio_tokens
        return RenderResult(
            model=self.model,
            billed_seconds=round(seconds, 3),
            cost_usd=voice_cost(self.recipe, self.name, self.model, seconds, audio_tokens=audio_tokens),
            notes=notes,
        )

    def _session_config(self, request: SpeechRequest) -> dict[str, Any]:
        instructions = READ_ALOUD + (f" Style: {request.instructions}" if request.instructions else "")
        output: dict[str, Any] = {
            "format": {"type": "audio/pcm", "rate": PCM_RATE},
            "voice": {"id": request.voice} if custom_voice(request.voice) else request.voice,
        }
        if request.speed != 1.0:
            output["speed"] = request.speed
        return {
            "type": "realtime",
            "output_modalities": ["audio"],
            "instructions": instructions,
            "audio": {"output": output},
        }

    def _session(self, client: Any, request: SpeechRequest) -> tuple[bytes, int | None]:
        """One Realtime session: the session configured, the words given as the user's message, one response asked
        for, its audio gathered until the response is done. Returns (PCM, audio tokens billed)."""
        pcm = bytearray()
        with client.realtime.connect(model=self.model) as connection:
            connection.session.update(session=self._session_config(request))
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": request.text}]}
            connection.conversation.item.create(item=item)
            connection.response.create()
            for event in connection:
                if self.cloud.stopped.is_set():
                    raise BackendError("openai: stopped while speaking")
                kind = getattr(event, "type", "")
                if kind == "response.output_audio.delta":
                    pcm += base64.b64decode(event.delta)
                elif kind == "error":
                    error = event.error
                    code = getattr(error, "code", None) or getattr(error, "type", "") or ""
                    raise RealtimeError(str(getattr(error, "message", "") or code), _ERROR_STATUS.get(code, 400))
                elif kind == "response.done":
                    response = event.response
                    if getattr(response, "status", "completed") not in ("completed", None):
                        details = getattr(response, "status_details", None)
                        reason = getattr(getattr(details, "error", None), "message", None) or response.status
                        raise RealtimeError(f"the response {response.status}: {reason}", 500)
                    usage = getattr(response, "usage", None)
                    output = getattr(usage, "output_token_details", None)
                    tokens = getattr(output, "audio_tokens", None)
                    return bytes(pcm), tokens if isinstance(tokens, int) else None
        raise RealtimeError("the session closed before the response was done", 502)

    def _speech_api(self, client: Any, request: SpeechRequest, attempts: list[dict[str, Any]]) -> bytes:
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
        response = self.cloud.call(
            "speech", lambda: client.audio.speech.create(**params), creates=True, attempts=attempts
        )
        content: bytes = response.content
        return content

    def make_voice(self, request: VoiceMaking) -> MadeVoice:
        """A custom voice from a sample: its owner's consent recording uploaded first (`audio.voice_consents`), then
        the sample with that consent's id (`audio.voices`)."""
        assert request.sample is not None and request.consent is not None
        for path in (request.sample, request.consent):
            if path.stat().st_size > MAX_VOICE_FILE_BYTES:
                raise InputError(f"{path} is larger than the {MAX_VOICE_FILE_BYTES // 2**20} MiB OpenAI takes")
        client = self._get_client()
        attempts: list[dict[str, Any]] = []
        name = request.name[:100]
        voice_id = request.resume
        if voice_id is None:
            consent = self.cloud.call(
                "voice consent",
                lambda: client.audio.voice_consents.create(
                    language=request.language, name=name, recording=_upload(request.consent)
                ),
                creates=True,
                attempts=attempts,
            )
            made = self.cloud.call(
                "voice clone",
                lambda: client.audio.voices.create(
                    audio_sample=_upload(request.sample), consent=consent.id, name=name, type="audio_sample"
                ),
                creates=True,
                attempts=attempts,
            )
            voice_id = str(made.id)
            if request.accepted is not None:
                request.accepted(voice_id)
        result = RenderResult(
            model=CLONE_MODEL,
            provider_job_id=voice_id,
            cost_usd=made_voice_cost(self.recipe, self.name, CLONE_MODEL),
            notes={ATTEMPTS_NOTE: attempts} if attempts else {},
        )
        return MadeVoice(voice_id, result)

    def close(self) -> None:
        self.cloud.stopped.set()


def _upload(path: Path | None) -> tuple[str, bytes, str]:
    assert path is not None
    mime = {".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".aac": "audio/aac", ".flac": "audio/flac",
            ".webm": "audio/webm", ".m4a": "audio/mp4", ".mp4": "audio/mp4"}.get(path.suffix.lower(), "audio/wav")  # fmt: skip
    from tale_cli.keys.seal import read_bytes  # a media-sealed run's sound, opened in memory

    return path.name, read_bytes(path), mime
