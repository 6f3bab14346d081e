"""Gemini speech: narration, and two-speaker dialogue in one request, with Gemini TTS (24 kHz PCM back)."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import RenderResult, VoiceBackend, VoiceCapabilities, VoiceInfo
from tale_cli.backends.cloud import Cloud, voice_cost
from tale_cli.backends.google.client import gemini_client, is_refusal, sdk
from tale_cli.errors import BackendError, RecipeError, ShotRefusedError
from tale_cli.keys.audit import ATTEMPTS_NOTE
from tale_cli.keys.store import require_key
from tale_cli.media.wav import write_wav

if TYPE_CHECKING:
    from tale_cli.backends.base import SpeechRequest
    from tale_cli.config import Recipe

DEFAULT_VOICE_MODEL = "gemini-3.8-flash-tts"
VOICE_MODELS = ("gemini-3.8-flash-tts", "gemini-3.8-flash-lite-tts")
# A TTS request holds a few thousand tokens of text; a clip of a one-minute film is far shorter.
MAX_INPUT_CHARS = 5000
# A multi-speaker request names exactly two speakers (MultiSpeakerVoiceConfig).
MAX_SPEAKERS = 2
DEFAULT_PCM_RATE = 24_000
_RATE = re.compile(r"rate=(\d+)")
VOICES = (
    ("Achernar", "soft"), ("Achird", "friendly"), ("Algenib", "gravelly"), ("Algieba", "smooth"),
    ("Alnilam", "firm"), ("Aoede", "breezy"), ("Autonoe", "bright"), ("Callirrhoe", "easy-going"),
    ("Charon", "informative"), ("Despina", "smooth"), ("Enceladus", "breathy"), ("Erinome", "clear"),
    ("Fenrir", "excitable"), ("Gacrux", "mature"), ("Iapetus", "clear"), ("Kore", "firm"),
    ("Laomedeia", "upbeat"), ("Leda", "youthful"), ("Orus", "firm"), ("Puck", "upbeat"),
    ("Pulcherrima", "forward"), ("Rasalgethi", "informative"), ("Sadachbia", "lively"),
    ("Sadaltager", "knowledgeable"), ("Schedar", "even"), ("Sulafat", "warm"), ("Umbriel", "easy-going"),
    ("Vindemiatrix", "gentle"), ("Zephyr", "bright"), ("Zubenelgenubi", "casual"),
)  # fmt: skip
DEFAULT_VOICE = "Sulafat"
# The female voices; the others are male (Google Cloud's Chirp 3 HD voices of the same names are listed with their
# gender there). For casting characters, with the ages the voices' own descriptions give.
FEMALE_VOICES = frozenset({"Achernar", "Aoede", "Autonoe", "Callirrhoe", "Despina", "Erinome", "Gacrux", "Kore",
                           "Laomedeia", "Leda", "Pulcherrima", "Sulafat", "Vindemiatrix", "Zephyr"})  # fmt: skip
AGES = {"youthful": "young", "mature": "old"}


class GeminiVoice(VoiceBackend):
    """Gemini TTS through generate_content (response_modalities AUDIO, speech_config): one request per clip, a
    dialogue of two speakers in one request with a voice each."""

    name = "gemini"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.voice.model or DEFAULT_VOICE_MODEL
        if self.model not in VOICE_MODELS:
            raise RecipeError(
                f"'{self.model}' is not a Gemini speech model", hint="valid names are: " + ", ".join(VOICE_MODELS)
            )
        if recipe.voice.speed != 1.0:
            # The request has no rate to set: a pace asked for in words may or may not be kept, so none is promised.
            raise RecipeError(
                "Gemini TTS takes no speed", hint="set [voice] speed = 1.0 and ask for a pace in `instructions`"
            )
        self.cloud = Cloud("google", model=self.model, section="voice")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VoiceCapabilities:
        return VoiceCapabilities(max_input_chars=MAX_INPUT_CHARS, max_speakers=MAX_SPEAKERS)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo(
                name,
                ("*",),
                description,
                ("female" if name in FEMALE_VOICES else "male", *((AGES[description],) if description in AGES else ())),
            )
            for name, description in VOICES
        ]

    def default_voice(self, language: str) -> str:
        return DEFAULT_VOICE

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                key = require_key("google", role="gemini voice backend")
                self.cloud.use_key(key)
                self._client = gemini_client(key)
            return self._client

    def _speech_config(self, request: SpeechRequest, types: Any) -> Any:
        def voice(name: str) -> Any:
            return types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=name))

        if request.speakers:
            speakers = [types.SpeakerVoiceConfig(speaker=s.name, voice_config=voice(s.voice)) for s in request.speakers]
            return types.SpeechConfig(
                multi_speaker_voice_config=types.MultiSpeakerVoiceConfig(speaker_voice_configs=speakers)
            )
        return types.SpeechConfig(voice_config=voice(request.voice))

    def speak(self, request: SpeechRequest) -> RenderResult:
        client = self._get_client()
        _, types = sdk()
        # Gemini TTS takes its direction in the text itself: the style line, then what to say.
        direction = request.instructions.strip()
        if request.speakers:
            names = " and ".join(s.name for s in request.speakers)
            direction = f"{direction} Read this conversation between {names}".strip()
        prompt = f"{direction}:\n{request.text}" if direction else request.text
        config = types.GenerateContentConfig(
            response_modalities=["AUDIO"], speech_config=self._speech_config(request, types)
        )
        attempts: list[dict[str, Any]] = []
        response = self.cloud.call(
            "speech",
            lambda: client.models.generate_content(model=self.model, contents=prompt, config=config),
            creates=True,
            attempts=attempts,
        )
        for candidate in response.candidates or []:
            for part in getattr(candidate.content, "parts", None) or []:
                blob = part.inline_data
                if blob is not None and blob.data and str(blob.mime_type or "").startswith("audio/"):
                    found = _RATE.search(str(blob.mime_type))
                    rate = int(found.group(1)) if found else DEFAULT_PCM_RATE
                    pcm = blob.data[: len(blob.data) // 2 * 2]
                    write_wav(request.output, pcm, rate)
                    seconds = len(pcm) / 2 / rate
                    return RenderResult(
                        model=self.model,
                        billed_seconds=round(seconds, 3),
                        cost_usd=voice_cost(self.recipe, self.name, self.model, seconds),
                        notes={ATTEMPTS_NOTE: attempts} if attempts else {},
                    )
        feedback = getattr(response, "prompt_feedback", None)
        reasons = [str(getattr(feedback, "block_reason", "") or "")]
        reasons += [str(getattr(c, "finish_reason", "") or "") for c in response.candidates or []]
        reason = ", ".join(r for r in reasons if r and "STOP" not in r) or "no audio in the answer"
        if is_refusal(reason) or "PROHIBITED" in reason:
            raise ShotRefusedError(f"Gemini refused to speak shot {request.shot}: {reason}")
        raise BackendError(f"Gemini returned no speech for shot {request.shot}: {reason}")

    def close(self) -> None:
        self.cloud.stopped.set()
