"""Backends by name, from the provider registry (tale_cli.registry): lazy imports, and errors that list valid names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tale_cli.registry import Role, create

if TYPE_CHECKING:
    from tale_cli.backends.base import ImageBackend, VideoBackend
    from tale_cli.config import Recipe


def video_backend(recipe: Recipe) -> VideoBackend:
    backend: VideoBackend = create(Role.VIDEO, recipe.video.backend, recipe)
    return backend


def image_backend(recipe: Recipe) -> ImageBackend:
    backend: ImageBackend = create(Role.IMAGE, recipe.image.backend, recipe)
    return backend
