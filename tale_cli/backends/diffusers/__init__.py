"""The user's GPU through Hugging Face diffusers, declared once: the diffusers provider (video: CogVideoX, Wan,
HunyuanVideo, LTX-Video, LTX-2 with its sound; images: SDXL, Flux) and the `huggingface` token for gated downloads;
with the pipelines' loading (pipelines, weights), caches and memory plans."""

from __future__ import annotations

from tale_cli.backends.diffusers.image import DiffusersImage
from tale_cli.backends.diffusers.video import KEY_SERVICES, DiffusersVideo
from tale_cli.registry import Locality, Pricing, Provider, Role

PROVIDERS = (
    Provider(
        "diffusers",
        "your GPU through Hugging Face diffusers: CogVideoX, Wan, HunyuanVideo, LTX-Video, LTX-2 (with sound); SDXL and "
        "Flux images",
        {Role.IMAGE: DiffusersImage, Role.VIDEO: DiffusersVideo},
        Locality.LOCAL,
        Pricing.GPU_TIME,
        extra="local",
        needs_weights=True,
    ),
)

__all__ = ["KEY_SERVICES", "PROVIDERS"]
