"""Backends by name: one registry, lazy imports, and an error that lists the valid names."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tale_cli.errors import RecipeError

if TYPE_CHECKING:
    from tale_cli.backends.base import ImageBackend, VideoBackend
    from tale_cli.config import Recipe

# name -> "module:factory"; a factory takes the Recipe and returns a backend instance.
VIDEO_BACKENDS: dict[str, str] = {
    "preview": "tale_cli.backends.preview:PreviewVideo",
    "veo": "tale_cli.backends.google:VeoVideo",
    "gemini-omni": "tale_cli.backends.google:GeminiOmniVideo",
    "runway": "tale_cli.backends.runway:RunwayVideo",
}
IMAGE_BACKENDS: dict[str, str] = {
    "preview": "tale_cli.backends.preview:PreviewImage",
    "openai": "tale_cli.backends.openai:OpenAIImage",
    "gemini": "tale_cli.backends.google:GeminiImage",
}
# Backends that never leave this machine (private runs may use only these).
LOCAL_BACKENDS: frozenset[str] = frozenset({"preview"})


def _load(table: dict[str, str], role: str, name: str) -> Any:
    target = table.get(name)
    if target is None:
        raise RecipeError(f"unknown {role} backend '{name}'", hint="valid names are: " + ", ".join(sorted(table)))
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def video_backend(recipe: Recipe) -> VideoBackend:
    factory = _load(VIDEO_BACKENDS, "video", recipe.video.backend)
    backend: VideoBackend = factory(recipe)
    return backend


def image_backend(recipe: Recipe) -> ImageBackend:
    factory = _load(IMAGE_BACKENDS, "image", recipe.image.backend)
    backend: ImageBackend = factory(recipe)
    return backend
