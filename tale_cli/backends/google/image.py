"""Gemini images: character reference images from a Gemini image model."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import ImageBackend, ImageCapabilities, RenderResult
from tale_cli.backends.cloud import Cloud, image_cost, image_payload, write_png
from tale_cli.backends.google.client import gemini_client, gemini_seed, is_refusal, sdk
from tale_cli.errors import BackendError, ShotRefusedError
from tale_cli.keys.audit import ATTEMPTS_NOTE
from tale_cli.keys.store import require_key

if TYPE_CHECKING:
    from tale_cli.backends.base import ReferenceRequest
    from tale_cli.config import Recipe

# gemini-3.1-flash-image was shut down on the Gemini API on 2026-10-29 in favour of this one.
DEFAULT_IMAGE_MODEL = "gemini-nano-banana-2.1"


class GeminiImage(ImageBackend):
    """Character reference images from a Gemini image model (a styled variant when given a source picture)."""

    name = "gemini"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.image.model or DEFAULT_IMAGE_MODEL
        self.cloud = Cloud("google", model=self.model, section="image")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> ImageCapabilities:
        return ImageCapabilities()

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "size": self.recipe.image.size}

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                key = require_key("google", role="gemini image backend")
                self.cloud.use_key(key)
                self._client = gemini_client(key)
            return self._client

    def render_reference(self, request: ReferenceRequest) -> RenderResult:
        client = self._get_client()
        _, types = sdk()
        contents: list[Any] = [request.prompt]
        if request.source_image is not None:
            data, mime = image_payload(request.source_image)
            contents.append(types.Part.from_bytes(data=data, mime_type=mime))
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=_image_aspect(self.recipe.image.size)),
            seed=gemini_seed(request.seed),
        )
        attempts: list[dict[str, Any]] = []
        response = self.cloud.call(
            "image",
            lambda: client.models.generate_content(model=self.model, contents=contents, config=config),
            attempts=attempts,
        )
        for candidate in response.candidates or []:
            for part in getattr(candidate.content, "parts", None) or []:
                blob = part.inline_data
                if blob is not None and blob.data and str(blob.mime_type or "").startswith("image/"):
                    write_png(blob.data, request.output)
                    notes: dict[str, Any] = {"edited": request.source_image is not None}
                    return RenderResult(
                        model=self.model,
                        cost_usd=image_cost(self.recipe, self.name, self.model),
                        notes={**notes, ATTEMPTS_NOTE: attempts} if attempts else notes,
                    )
        feedback = getattr(response, "prompt_feedback", None)
        reasons = [str(getattr(feedback, "block_reason", "") or "")]
        reasons += [str(getattr(c, "finish_reason", "") or "") for c in response.candidates or []]
        reason = (
            ", ".join(r for r in reasons if r and r not in ("STOP", "FinishReason.STOP")) or "no image in the answer"
        )
        if is_refusal(reason) or "PROHIBITED" in reason:
            raise ShotRefusedError(f"Gemini refused the reference image of {request.character.name}: {reason}")
        raise BackendError(f"Gemini returned no image for {request.character.name}: {reason}")

    def close(self) -> None:
        self.cloud.stopped.set()


def _image_aspect(size: str) -> str:
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        return "1:1"
    if width == height:
        return "1:1"
    return "16:9" if width > height * 1.5 else "3:2" if width > height else "9:16" if height > width * 1.5 else "2:3"


# ---------------------------------------------------------------- registry
