"""OpenAI: character reference images with gpt-image-2 (generate, or edit a given picture into a variant)."""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import ImageBackend, ImageCapabilities, RenderResult
from tale_cli.backends.cloud import Cloud, image_cost, write_png
from tale_cli.errors import BackendError, RecipeError, missing_extra
from tale_cli.keys.audit import ATTEMPTS_NOTE
from tale_cli.keys.store import require_key
from tale_cli.registry import CheckRequest, KeyService

if TYPE_CHECKING:
    from tale_cli.backends.base import ReferenceRequest
    from tale_cli.config import Recipe

DEFAULT_IMAGE_MODEL = "gpt-image-2"
# Models OpenAI has shut down, with the date, so a recipe naming one fails before any call.
RETIRED_IMAGE_MODELS = {"dall-e-2": "2026-05-12", "dall-e-3": "2026-05-12", "gpt-image-1": "2026-10-23"}
QUALITIES = ("low", "medium", "high", "auto")
HTTP_TIMEOUT_S = 300.0


def openai_client(key: str, *, base_url: str | None = None) -> Any:
    """An OpenAI client with SDK retries off (Tale retries, honouring Retry-After); OPENAI_BASE_URL still applies."""
    try:
        import openai
    except ImportError:
        raise missing_extra("openai", "openai") from None
    if base_url:
        return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=HTTP_TIMEOUT_S)
    return openai.OpenAI(api_key=key, max_retries=0, timeout=HTTP_TIMEOUT_S)


def check_image_model(model: str) -> None:
    retired = RETIRED_IMAGE_MODELS.get(model)
    if retired is not None:
        raise RecipeError(
            f"OpenAI image model '{model}' was retired on {retired}; gpt-image-2 replaces it",
            hint='set model = "gpt-image-2" in the recipe\'s [image] section',
        )


class OpenAIImage(ImageBackend):
    """gpt-image-2 reference images, always PNG; a source picture is edited into a styled variant."""

    name = "openai"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.image.model or DEFAULT_IMAGE_MODEL
        check_image_model(self.model)
        if recipe.image.quality not in QUALITIES:
            raise RecipeError(
                f"image quality '{recipe.image.quality}' is not offered", hint="use one of: " + ", ".join(QUALITIES)
            )
        self.cloud = Cloud("openai", model=self.model, section="image")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> ImageCapabilities:
        return ImageCapabilities()

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model,
            "size": self.recipe.image.size,
            "quality": self.recipe.image.quality,
        }

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                key = require_key("openai", role="openai image backend")
                self.cloud.use_key(key)
                self._client = openai_client(key)
            return self._client

    def render_reference(self, request: ReferenceRequest) -> RenderResult:
        client = self._get_client()
        common: dict[str, Any] = {
            "model": self.model,
            "prompt": request.prompt,
            "size": self.recipe.image.size,
            "quality": self.recipe.image.quality,
            "output_format": "png",
            "n": 1,
        }
        source = request.source_image
        attempts: list[dict[str, Any]] = []
        if source is not None:

            def edit() -> Any:
                from tale_cli.keys.seal import clear_path

                with clear_path(source) as readable, readable.open("rb") as handle:
                    # A sealed picture opened in memory keeps its own name (the service reads its type from it).
                    image = handle if readable == source else (source.name, handle)
                    return client.images.edit(image=[image], **common)

            response = self.cloud.call("image edit", edit, attempts=attempts)
        else:
            response = self.cloud.call("image", lambda: client.images.generate(**common), attempts=attempts)
        data = response.data[0].b64_json if response.data else None
        if not data:
            raise BackendError(f"OpenAI returned no image for {request.character.name}")
        write_png(base64.b64decode(data), request.output)
        notes: dict[str, Any] = {"edited": source is not None}
        return RenderResult(
            model=self.model,
            cost_usd=image_cost(self.recipe, self.name, self.model),
            notes={**notes, ATTEMPTS_NOTE: attempts} if attempts else notes,
        )

    def close(self) -> None:
        self.cloud.stopped.set()


# ---------------------------------------------------------------- registry


def _check(base: str, key: str | None, bearer: str | None) -> CheckRequest:
    return CheckRequest(f"{base}/models", {"Authorization": f"Bearer {key}"})


# The model the openai planner plans with when the recipe names none, and where an OpenAI-compatible planning
# server is when the recipe names no base_url.
DEFAULT_PLAN_MODEL = "gpt-5.4-mini"
PLANNER_BASE_URL_ENV = "TALE_PLANNER_BASE_URL"

KEY_SERVICES = (
    KeyService("openai", "OpenAI API key", ("OPENAI_API_KEY",), "OPENAI_BASE_URL", "https://api.openai.com/v1", _check),
)
