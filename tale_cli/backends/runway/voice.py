"""Runway speech: narration and dialogue through its text_to_speech task (ElevenLabs' eleven_v3 and kin, with Runway's
preset voices), and voices of one's own made through its Voices API — designed from a description or cloned from a
sample (`tale voices design` / `clone`).

Runway's text_to_speech names only its presets (runwayml 5.24 has no custom-voice type there: a made voice is for its
Characters), so a made voice speaks through `seed_audio`, which takes a reference recording: the made voice's own
preview, looked up by its id for every clip (the signed preview URL expires)."""

from __future__ import annotations

import base64
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import MadeVoice, RenderResult, VoiceBackend, VoiceCapabilities, VoiceInfo
from tale_cli.backends.cloud import Cloud, JobFailedError, made_voice_cost, voice_cost
from tale_cli.backends.runway.video import runway_client
from tale_cli.errors import BackendError, InputError, RecipeError, ShotRefusedError
from tale_cli.keys.audit import ATTEMPTS_NOTE

if TYPE_CHECKING:
    from tale_cli.backends.base import SpeechRequest, VoiceMaking
    from tale_cli.config import Recipe

DEFAULT_VOICE_MODEL = "eleven_v3"
PRESET_MODELS = ("eleven_v3", "eleven_v4", "eleven_multilingual_v2")
# What speaks a voice made through the Voices API: a model that clones a reference recording.
MADE_VOICE_MODEL = "seed_audio"
VOICE_MODELS = (*PRESET_MODELS, MADE_VOICE_MODEL)
DESIGN_MODEL = "eleven_ttv_v3"  # the Voices API's newer design model (eleven_multilingual_ttv_v2 the older)
CLONE_MODEL = "voice-clone"  # how the price book names a voice cloned from a sample
# Runway's presets, as runwayml 5.24's text_to_speech types list them (a test checks they still agree).
PRESETS = ("Maya", "Arjun", "Serene", "Bernard", "Billy", "Mark", "Clint", "Mabel", "Chad", "Leslie", "Eleanor",
           "Elias", "Elliot", "Grungle", "Brodie", "Sandra", "Kirk", "Kylie", "Lara", "Lisa", "Malachi", "Marlene",
           "Martin", "Miriam", "Monster", "Paula", "Pip", "Rusty", "Ragnar", "Xylar", "Maggie", "Jack", "Katie",
           "Noah", "James", "Rina", "Ella", "Mariah", "Frank", "Claudia", "Niki", "Vincent", "Kendrick", "Myrna",
           "Tom", "Wanda", "Benjamin", "Kiana", "Rachel")  # fmt: skip
DEFAULT_VOICE = "Maya"
# A made voice's id (Runway's ids are UUIDs).
_MADE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# eleven_multilingual_v2 reads at most 1000 characters a request (the SDK says so); a clip of a film is far shorter.
MAX_INPUT_CHARS = 1000
# eleven_v3's speed multiplier (the SDK: 0.7-1.2); eleven_v4 states no range; the others take none.
V3_SPEEDS = (0.7, 1.2)
# The Voices API: a description of at least 20 characters; a sample of 10 s to 5 min (Runway's custom-voice page),
# sent as a data URI of at most 5 MB (the SDK).
MIN_PROMPT_CHARS = 20
SAMPLE_SECONDS = (10.0, 300.0)
MAX_SAMPLE_BYTES = 3_700_000  # base64 grows bytes by 4/3
SPEECH_RATE = 24_000
POLL_INTERVAL_S = 2.0
POLL_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 120.0


def made_voice(voice: str) -> bool:
    """A voice made through the Voices API (an id), not one of the presets."""
    return bool(_MADE_ID.fullmatch(voice))


class RunwayVoice(VoiceBackend):
    """One text_to_speech task per clip: created, polled, its audio downloaded at once (output URLs expire)."""

    name = "runway"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.voice.model or DEFAULT_VOICE_MODEL
        if self.model not in PRESET_MODELS:
            hint = "valid names are: " + ", ".join(PRESET_MODELS)
            if self.model == MADE_VOICE_MODEL:
                hint = f"{MADE_VOICE_MODEL} speaks the voices made with `tale voices design`; name a preset model"
            raise RecipeError(f"'{self.model}' is not a Runway speech model for [voice] model", hint=hint)
        if recipe.voice.instructions:
            raise RecipeError(
                "Runway's text_to_speech takes no style instructions",
                hint="remove [voice] instructions (eleven_v3 reads audio tags such as [whispers] in the text)",
            )
        low, high = V3_SPEEDS
        speed = recipe.voice.speed
        if speed != 1.0 and (
            self.model == "eleven_multilingual_v2" or (self.model == "eleven_v3" and not low <= speed <= high)
        ):
            raise RecipeError(
                f"Runway {self.model} speaks at speed {low:g} to {high:g} only (eleven_v3), not {speed:g}"
            )
        self.cloud = Cloud("runway", model=self.model, section="voice")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VoiceCapabilities:
        return VoiceCapabilities(max_input_chars=MAX_INPUT_CHARS, design_model=DESIGN_MODEL, clone_model=CLONE_MODEL)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(name, ("*",), "Runway preset") for name in PRESETS]

    def default_voice(self, language: str) -> str:
        return DEFAULT_VOICE

    def check_voice(self, voice: str) -> None:
        if made_voice(voice):
            if self.recipe.voice.speed != 1.0:
                raise RecipeError(
                    f"a made voice ({voice}) speaks through {MADE_VOICE_MODEL}, which takes no speed",
                    hint="set [voice] speed = 1.0",
                )
            return
        if voice not in PRESETS:
            raise RecipeError(
                f"the runway voice backend has no voice '{voice}'",
                hint="`tale voices --backend runway` lists its presets; a voice made with `tale voices design` "
                "is named by its id",
            )

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = runway_client(self.cloud, "runway voice backend", HTTP_TIMEOUT_S)
            return self._client

    # ------------------------------------------------------------------------------------------ speaking

    def arguments(self, request: SpeechRequest, client: Any, attempts: list[dict[str, Any]]) -> dict[str, Any]:
        """The text_to_speech arguments for one clip: a preset with the recipe's model, or a made voice's preview as
        the reference recording of seed_audio."""
        if not made_voice(request.voice):
            arguments: dict[str, Any] = {
                "model": self.model,
                "prompt_text": request.text,
                "voice": {"type": "runway-preset", "preset_id": request.voice},
            }
            if self.model in ("eleven_v3", "eleven_v4"):
                arguments["language_code"] = request.language.split("-")[0].lower()
                if request.speed != 1.0:
                    arguments["speed"] = request.speed
            return arguments
        from runwayml.types.voice_retrieve_response import Failed, Ready

        voice = self.cloud.call("voice lookup", lambda: client.voices.retrieve(request.voice), attempts=attempts)
        preview = voice.preview_url if isinstance(voice, Ready) else None
        if preview is None:
            processing = voice.status == "PROCESSING"
            reason = (
                voice.failure_reason
                if isinstance(voice, Failed)
                else ("it is still being made" if processing else "it has no sample to speak from")
            )
            raise BackendError(
                f"Runway voice {request.voice} cannot speak shot {request.shot}: {self.cloud.clean(str(reason))}",
                hint="wait a minute and run again" if processing else "make the voice again",
            )
        return {
            "model": MADE_VOICE_MODEL,
            "prompt_text": request.text,
            "voice": {"type": "reference-audio", "audio_uri": str(preview)},
            "output_format": "wav",
            "sample_rate": SPEECH_RATE,
        }

    def speak(self, request: SpeechRequest) -> RenderResult:
        from tale_cli.media.ffmpeg import speech_wav

        client = self._get_client()
        attempts: list[dict[str, Any]] = []
        arguments = self.arguments(request, client, attempts)
        task = self.cloud.call(
            "speech", lambda: client.text_to_speech.create(**arguments), creates=True, attempts=attempts
        )
        task_id = str(getattr(task, "id", "") or "")
        if not task_id:
            raise BackendError("Runway accepted the speech request but returned no task id")
        done = self.cloud.poll(
            lambda: client.tasks.retrieve(task_id),
            lambda t: str(t.status) in ("SUCCEEDED", "FAILED", "CANCELLED"),
            job=task_id,
            interval_s=POLL_INTERVAL_S,
            timeout_s=POLL_TIMEOUT_S,
        )
        if str(done.status) != "SUCCEEDED":
            code = str(getattr(done, "failure_code", None) or "")
            reason = self.cloud.clean(str(getattr(done, "failure", None) or done.status))[:300]
            if code.upper().startswith("SAFETY"):
                raise ShotRefusedError(f"Runway refused to speak shot {request.shot}: {reason} ({code})")
            raise JobFailedError(f"Runway did not speak shot {request.shot}: {reason}")
        outputs = list(getattr(done, "output", None) or [])
        if not outputs:
            raise JobFailedError(f"Runway finished shot {request.shot}'s speech without an output")
        raw = request.output.with_name(request.output.name + ".download")
        try:
            self.cloud.download(str(outputs[0]), raw)
            speech_wav(raw, request.output)
        finally:
            raw.unlink(missing_ok=True)
        from tale_cli.media.wav import wav_seconds

        seconds = wav_seconds(request.output)
        cost = getattr(done, "cost", None)
        credits = getattr(cost, "credits", None) if cost is not None else None
        notes: dict[str, Any] = {ATTEMPTS_NOTE: attempts} if attempts else {}
        model = str(arguments["model"])
        return RenderResult(
            model=model,
            provider_job_id=task_id,
            billed_seconds=round(seconds, 3),
            billed_credits=float(credits) if credits is not None else None,
            cost_usd=voice_cost(self.recipe, self.name, model, seconds),
            notes=notes,
        )

    # ------------------------------------------------------------------------------------------ making voices

    def _check_making(self, request: VoiceMaking) -> dict[str, Any]:
        """The Voices API's `from` for this request, refused here (before any request) where Runway would refuse it."""
        if request.prompt is not None:
            prompt = request.prompt.strip()
            if len(prompt) < MIN_PROMPT_CHARS:
                raise InputError(
                    f"Runway designs a voice from a description of at least {MIN_PROMPT_CHARS} characters "
                    f"('{prompt}' has {len(prompt)})",
                    hint='say more: "a gravelly old fisherman, slow and warm, with a coastal accent"',
                )
            return {"type": "text", "model": DESIGN_MODEL, "prompt": prompt}
        assert request.sample is not None
        return {"type": "audio", "audio": _sample_uri(request.sample)}

    def make_voice(self, request: VoiceMaking) -> MadeVoice:
        making = self._check_making(request)
        client = self._get_client()
        attempts: list[dict[str, Any]] = []
        voice_id = request.resume
        if voice_id is None:
            created = self.cloud.call(
                "voice making",
                lambda: client.voices.create(from_=making, name=request.name[:100]),
                creates=True,
                attempts=attempts,
            )
            voice_id = str(created.id or "")  # VoiceCreateResponse.id
            if not voice_id:
                raise BackendError("Runway accepted the voice but returned no id")
            if request.accepted is not None:
                request.accepted(voice_id)
        voice = self.cloud.poll(
            lambda: client.voices.retrieve(voice_id),
            lambda v: str(v.status) in ("READY", "FAILED"),
            job=voice_id,
            interval_s=POLL_INTERVAL_S,
            timeout_s=POLL_TIMEOUT_S,
        )
        if str(voice.status) != "READY":
            from runwayml.types.voice_retrieve_response import Failed

            said = voice.failure_reason if isinstance(voice, Failed) else ""
            reason = self.cloud.clean(said or "no reason given")[:300]
            raise JobFailedError(f"Runway could not make the voice: {reason}")
        model = DESIGN_MODEL if request.prompt is not None else CLONE_MODEL
        result = RenderResult(
            model=model,
            provider_job_id=voice_id,
            cost_usd=made_voice_cost(self.recipe, self.name, model),
            notes={ATTEMPTS_NOTE: attempts} if attempts else {},
        )
        return MadeVoice(voice_id, result)

    def close(self) -> None:
        self.cloud.stopped.set()


def _sample_uri(sample: Path) -> str:
    """A recorded sample as the data URI the Voices API takes, refused here when Runway would refuse it."""
    from tale_cli.media.ffmpeg import probe_audio

    seconds = probe_audio(sample)
    low, high = SAMPLE_SECONDS
    if not low <= seconds <= high:
        raise InputError(f"{sample} lasts {seconds:.1f} s; Runway clones a voice from {low:g} s to {high / 60:g} min")
    from tale_cli.keys.seal import read_bytes  # a media-sealed run's sound, opened in memory

    data = read_bytes(sample)
    if len(data) > MAX_SAMPLE_BYTES:
        raise InputError(
            f"{sample} is {len(data):,} bytes; Runway takes a sample of at most {MAX_SAMPLE_BYTES:,} bytes this way",
            hint="shorten it, or save it as MP3",
        )
    mime = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg", ".flac": "audio/flac",
            ".m4a": "audio/mp4", ".aac": "audio/aac", ".webm": "audio/webm"}.get(sample.suffix.lower(), "audio/wav")  # fmt: skip
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
