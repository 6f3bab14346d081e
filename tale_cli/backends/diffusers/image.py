"""Local image models through diffusers (SDXL, Flux.1): character reference images and key frames."""

from __future__ import annotations

import gc
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import ImageBackend, ImageCapabilities, ReferenceRequest, RenderResult
from tale_cli.backends.diffusers.memory import (
    GB,
    MemoryPlan,
    apply_memory_plan,
    choose_memory_plan,
    cuda_facts,
    dtype_bytes,
)
from tale_cli.backends.diffusers.pipelines import require_local_extra, stderr_line
from tale_cli.backends.models import (
    component_config,
    component_weights,
    detect_image_variant,
    read_pipeline_index,
    resolve_model,
)
from tale_cli.errors import BackendError, RecipeError

if TYPE_CHECKING:
    from tale_cli.config import Recipe


def parse_size(text: str) -> tuple[int, int] | None:
    """'1024x768' -> (1024, 768); 'native' or '' -> None (the model's own size)."""
    if text in ("", "native"):
        return None
    match = re.fullmatch(r"(\d{2,5})x(\d{2,5})", text.strip())
    if not match:
        raise RecipeError(f"image size '{text}' is not WIDTHxHEIGHT")
    width, height = int(match.group(1)), int(match.group(2))
    if width % 8 or height % 8:
        raise RecipeError(f"image size {width}x{height} must be a multiple of 8 on both sides")
    return width, height


class DiffusersImage(ImageBackend):
    """SDXL or Flux.1 behind Tale's ImageBackend protocol; the weights load on first use."""

    name = "diffusers"

    def __init__(self, recipe: Recipe, *, say: Callable[[str], None] | None = None) -> None:
        require_local_extra()
        image = recipe.image
        self.model = image.model
        self.say = say or stderr_line
        self.folder = resolve_model(self.model)
        index = read_pipeline_index(self.folder)
        self.pipeline_class = str(index.get("_class_name", ""))
        self.variant = detect_image_variant(self.pipeline_class, component_config(self.folder))
        self.size = parse_size(image.size) or (self.variant.width, self.variant.height)
        self.steps = image.steps or self.variant.steps
        self.guidance = self.variant.guidance if image.guidance is None else image.guidance
        self._pipe: Any = None
        self._lock = threading.Lock()
        self.memory_plan: MemoryPlan | None = None

    def capabilities(self) -> ImageCapabilities:
        return ImageCapabilities()

    def fingerprint(self) -> dict[str, Any]:
        return {"model": self.model, "variant": self.variant.key, "steps": self.steps, "guidance": self.guidance,
                "size": list(self.size)}  # fmt: skip

    def load(self) -> Any:
        if self._pipe is not None:
            return self._pipe
        import diffusers
        import torch

        free, best_dtype, _name = cuda_facts()
        dtype_name = "float32" if free is None else best_dtype
        cls = getattr(diffusers, self.pipeline_class)
        try:
            pipe = cls.from_pretrained(str(self.folder), dtype=getattr(torch, dtype_name))
        except (OSError, ValueError) as error:
            raise BackendError(f"cannot load {self.model}: {str(error).strip().splitlines()[0]}") from None
        pipe.set_progress_bar_config(disable=True)
        pixels = self.size[0] * self.size[1] / (1024 * 1024)
        plan = choose_memory_plan(
            "auto",
            free_bytes=free,
            weights=component_weights(self.folder, dtype_bytes(dtype_name)),
            activation_bytes=int(3 * GB * pixels),
            vae_decode_bytes=int(3 * GB * pixels),
            vae_tiled_bytes=int(1 * GB),
            dtype=dtype_name,
            denoiser="unet" if self.variant.family == "sdxl" else "transformer",
        )
        self.say(f"{self.variant.key}: {plan.describe()}")
        apply_memory_plan(pipe, plan, denoisers=("unet", "transformer"))
        self.memory_plan = plan
        self._pipe = pipe
        return pipe

    def draw(self, prompt: str, *, negative_prompt: str = "", seed: int, width: int | None = None,
             height: int | None = None) -> Any:  # fmt: skip
        """One PIL image for the prompt at `width`x`height` (default: the recipe's size)."""
        import torch

        with self._lock:
            pipe = self.load()
            w, h = width or self.size[0], height or self.size[1]
            kwargs: dict[str, Any] = {
                "prompt": prompt,
                "width": w - w % 16,
                "height": h - h % 16,
                "num_inference_steps": self.steps,
                "guidance_scale": self.guidance,
                "generator": torch.Generator(device="cpu").manual_seed(seed),
                "output_type": "pil",
            }
            if negative_prompt and self.variant.family == "sdxl":
                kwargs["negative_prompt"] = negative_prompt
            kwargs.update(self.variant.extra_call)
            with torch.inference_mode():
                return pipe(**kwargs).images[0]

    def render_reference(self, request: ReferenceRequest) -> RenderResult:
        image = self.draw(request.prompt, seed=request.seed)
        output: Path = request.output
        output.parent.mkdir(parents=True, exist_ok=True)
        image.save(output, format="PNG")
        return RenderResult(
            model=self.model, cost_usd=0.0, notes={"variant": self.variant.key, "size": list(image.size)}
        )

    def close(self) -> None:
        with self._lock:
            self._pipe = None
            gc.collect()
            if "torch" in sys.modules:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
