"""Lyria: a score composed for the film's mood and length through the Interactions API, with a Gemini API key.

The request's shape (a text input, an audio response format) follows google-genai's Interactions types; it has
been tried against the fake Gemini server only, not the real API.
"""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import MusicBackend, MusicCapabilities, RenderResult
from tale_cli.backends.cloud import Cloud, music_cost
from tale_cli.backends.google.client import gemini_client, is_refusal
from tale_cli.errors import BackendError, RecipeError, ShotRefusedError
from tale_cli.keys.audit import ATTEMPTS_NOTE
from tale_cli.keys.store import require_key

if TYPE_CHECKING:
    from tale_cli.backends.base import MusicRequest
    from tale_cli.config import Recipe

DEFAULT_MUSIC_MODEL = "lyria-3.5"
# The longest track of each model (published descriptions: clip for short clips, pro and 3.5 for whole songs).
MUSIC_MODELS = {"lyria-3-pro-preview": 180.0, "lyria-3-clip-preview": 30.0, "lyria-3.5": 180.0}
POLL_INTERVAL_S = 5.0
POLL_TIMEOUT_S = 600.0


class LyriaMusic(MusicBackend):
    """One interaction per score: asked for WAV inline, polled if the API answers before the music is ready."""

    name = "lyria"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.music.model or DEFAULT_MUSIC_MODEL
        if self.model not in MUSIC_MODELS:
            raise RecipeError(
                f"'{self.model}' is not a Lyria model", hint="valid names are: " + ", ".join(MUSIC_MODELS)
            )
        self.cloud = Cloud("google", model=self.model, section="music")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> MusicCapabilities:
        return MusicCapabilities(max_seconds=MUSIC_MODELS[self.model])

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                key = require_key("google", role="lyria music backend")
                self.cloud.use_key(key)
                self._client = gemini_client(key)
            return self._client

    def compose(self, request: MusicRequest) -> RenderResult:
        client = self._get_client()
        attempts: list[dict[str, Any]] = []
        interaction = self.cloud.call(
            "music",
            lambda: client.interactions.create(
                model=self.model,
                input=request.prompt,
                response_format={"type": "audio", "mime_type": "audio/wav", "delivery": "inline"},
            ),
            creates=True,
            attempts=attempts,
        )
        if str(getattr(interaction, "status", "")) in ("in_progress", "queued"):
            interaction = self.cloud.poll(
                lambda: client.interactions.get(id=interaction.id),
                lambda it: str(getattr(it, "status", "")) not in ("in_progress", "queued"),
                job=str(interaction.id),
                interval_s=POLL_INTERVAL_S,
                timeout_s=POLL_TIMEOUT_S,
            )
        audio = getattr(interaction, "output_audio", None)
        data = getattr(audio, "data", None)
        if not data:
            said = " ".join(str(getattr(interaction, "output_text", None) or "").split())
            reason = self.cloud.clean(said or f"status {getattr(interaction, 'status', '')}")[:400]
            if said or is_refusal(reason):
                raise ShotRefusedError(f"Lyria composed no music: {reason}")
            raise BackendError(f"Lyria returned no music: {reason}")
        request.output.write_bytes(base64.b64decode(data) if isinstance(data, str) else bytes(data))
        return RenderResult(
            model=self.model,
            provider_job_id=str(getattr(interaction, "id", "") or "") or None,
            cost_usd=music_cost(self.recipe, self.name, self.model),
            notes={ATTEMPTS_NOTE: attempts} if attempts else {},
        )

    def close(self) -> None:
        self.cloud.stopped.set()
