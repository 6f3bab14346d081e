"""Shared pieces of the diffusers backends: native clip settings, segment planning, frame fitting, step timing."""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.diffusers.caches import shipped_mag_ratios
from tale_cli.backends.diffusers.weights import SCHEDULERS
from tale_cli.backends.models import (
    VideoVariant,
)
from tale_cli.errors import BackendError, RecipeError, missing_extra
from tale_cli.keys.seal import clear_path

if TYPE_CHECKING:
    from tale_cli.config import LoraConfig, Recipe

# A text-to-video-only model fills a longer shot by slowing its clip down, at most this much.
MAX_STRETCH = 1.5


def require_local_extra() -> None:
    for module, package in (("torch", "torch"), ("diffusers", "diffusers"), ("transformers", "transformers")):
        if importlib.util.find_spec(module) is None:
            raise missing_extra("local", package)


def stderr_line(text: str) -> None:
    print(f"tale: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class VideoSettings:
    """What a recipe (and the CLI overrides folded into it) asks of a local video model."""

    width: int
    height: int
    frames: int
    fps: int
    steps: int
    guidance: float
    memory: str
    cache: str
    compile: bool
    attention: str | None
    dtype: str | None
    options: dict[str, Any]
    quantize: str | None = None
    loras: tuple[LoraConfig, ...] = ()

    @classmethod
    def from_recipe(cls, recipe: Recipe, variant: VideoVariant) -> VideoSettings:
        video = recipe.video
        options = dict(video.options)
        known = {"native_width", "native_height", "native_frames", "native_fps", "dtype", "cache_threshold",
                 "mag_ratios", "mag_calibrate", "max_sequence_length", "compile_mode", "cache_interval",
                 "cache_warmup_steps", "scheduler", "shift", "timesteps", "decode_timestep",
                 "decode_noise_scale"}  # fmt: skip
        unknown = sorted(set(options) - known)
        if unknown:
            raise RecipeError(
                f"unknown [video.options] key '{unknown[0]}' for the diffusers backend",
                hint="valid keys are: " + ", ".join(sorted(known)),
            )
        frames = int(options.get("native_frames", variant.frames))
        settings = cls(
            width=int(options.get("native_width", variant.width)),
            height=int(options.get("native_height", variant.height)),
            frames=frames,
            fps=int(options.get("native_fps", variant.fps)),
            steps=video.steps or variant.steps,
            guidance=variant.guidance if video.guidance is None else video.guidance,
            memory=video.memory,
            cache=video.cache,
            compile=video.compile,
            attention=video.attention,
            dtype=options.get("dtype"),
            options=options,
            quantize=video.quantize,
            loras=tuple(video.lora),
        )
        settings.check(variant)
        return settings

    def check(self, variant: VideoVariant) -> None:
        if self.frames != variant.valid_frames(self.frames) and not variant.fixed_frames:
            raise RecipeError(
                f"{variant.key} renders {variant.frame_step}k+1 frames; native_frames = {self.frames} is not one",
                hint=f"use {variant.valid_frames(self.frames)}",
            )
        step = variant.size_step
        if self.width % step or self.height % step:
            raise RecipeError(f"native size {self.width}x{self.height} must be a multiple of {step} on both sides")
        if self.cache != "none" and self.cache not in variant.caches:
            raise RecipeError(
                f"cache '{self.cache}' does not apply to {variant.key}",
                hint="caches for this family: " + (", ".join(variant.caches) or "none"),
            )
        if self.cache == "magcache" and not (
            self.options.get("mag_ratios")
            or self.options.get("mag_calibrate")
            or shipped_mag_ratios(variant.key, min(self.width, self.height))
        ):
            raise RecipeError(
                f"cache 'magcache' needs the model's magnitude ratios in [video.options] mag_ratios: none are "
                f"published for {variant.key}",
                hint="render once with mag_calibrate = true to print them, then paste them into the recipe",
            )
        self._check_weights(variant)
        if self.attention is not None and (self.attention.endswith("_hub") or self.attention.startswith("_")):
            raise RecipeError(
                f"attention backend '{self.attention}' is not allowed",
                hint="use one that needs no download: native, flash, flex, sage or xformers",
            )
        if self.dtype not in (None, "bfloat16", "float16", "float32"):
            raise RecipeError(f"dtype '{self.dtype}' is not one of bfloat16, float16, float32")

    def _check_weights(self, variant: VideoVariant) -> None:
        """LoRA experts, scheduler and timesteps: refused before any weights load."""
        for lora in self.loras:
            if variant.two_experts and lora.expert is None:
                raise RecipeError(
                    f"{variant.key} has two experts: LoRA {lora.source} must say which (expert = "
                    '"high-noise" or "low-noise")'
                )
            if not variant.two_experts and lora.expert is not None:
                raise RecipeError(f"{variant.key} has one denoiser: LoRA {lora.source} cannot name an expert")
        scheduler = self.options.get("scheduler")
        if scheduler is not None and scheduler not in SCHEDULERS:
            raise RecipeError(f"scheduler '{scheduler}' is not one of {', '.join(SCHEDULERS)}")
        timesteps = self.options.get("timesteps")
        if timesteps is not None and (
            not isinstance(timesteps, list) or len(timesteps) != self.steps or not all(
                isinstance(t, (int, float)) for t in timesteps)
        ):  # fmt: skip
            raise RecipeError(f"[video.options] timesteps must be a list of {self.steps} numbers (one per step)")

    @property
    def native_seconds(self) -> float:
        return self.frames / self.fps

    def facing(self, width: int, height: int, variant: VideoVariant) -> VideoSettings:
        """The native size turned to a film of `width`x`height`.

        A film the native size's way round keeps it. A tall film on a wide model gets the native size on its
        side (Wan's 832x480 becomes 480x832), unless the film's shape is far from that (a 4:5 film: the short
        side kept, the long side cut to the film's ratio in the model's size steps); a square film gets the short side
        squared. A model that renders its native size only (CogVideoX 1.0 image-to-video) keeps it.
        """
        from tale_cli.story.plan import orientation

        film, own = orientation(width, height), orientation(self.width, self.height)
        if variant.fixed_size or film == own or own == "square":
            return self
        short = min(self.width, self.height)
        if film == "square":
            return replace(self, width=short, height=short)
        target = width / height
        if abs(math.log(target) - math.log(self.height / self.width)) <= 0.2:
            return replace(self, width=self.height, height=self.width)
        step = variant.size_step
        long = max(step, round(short * max(target, 1 / target) / step) * step)
        size = (long, short) if film == "wide" else (short, long)
        return replace(self, width=size[0], height=size[1])


def plan_segments(
    duration_s: float, settings: VideoSettings, variant: VideoVariant, *, can_chain: bool
) -> tuple[list[int], float]:
    """Frame counts of the segments that cover `duration_s`, and the slow-down factor when chaining is impossible."""
    needed = max(1, math.ceil(duration_s * settings.fps - 1e-6))
    if needed <= settings.frames:
        return [settings.frames], 1.0
    if not can_chain:
        return [settings.frames], duration_s / settings.native_seconds
    segments = [settings.frames]
    covered = settings.frames
    while covered < needed:
        # A continuation repeats its conditioning frame, so it adds one frame fewer than it renders.
        wanted = min(settings.frames, needed - covered + 1)
        frames = settings.frames if variant.fixed_frames else variant.valid_frames(wanted)
        segments.append(min(frames, settings.frames))
        covered += segments[-1] - 1
    return segments, 1.0


def fit_image(path_or_image: Any, width: int, height: int) -> Any:
    """An RGB PIL image filling `width`x`height`, centre-cropped rather than distorted."""
    from PIL import Image, ImageOps

    if isinstance(path_or_image, Path):
        try:
            with clear_path(path_or_image) as readable, Image.open(readable) as opened:
                image = opened.convert("RGB")
        except OSError as error:
            raise BackendError(f"cannot read the first frame {path_or_image.name}: {error}") from None
    else:
        image = path_or_image.convert("RGB")
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)


def build_companion(pipe: Any, class_name: str) -> Any:
    """Another pipeline class over the same loaded components (no copy, no dtype change)."""
    import diffusers

    cls = getattr(diffusers, class_name)
    components = pipe.components
    config = dict(pipe.config)
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if name in components:
            kwargs[name] = components[name]
        elif name in config and not isinstance(config[name], (list, tuple)):
            kwargs[name] = config[name]
        elif parameter.default is inspect.Parameter.empty:
            kwargs[name] = None
    companion = cls(**kwargs)
    companion.set_progress_bar_config(disable=True)
    return companion


class StepTimer:
    """Times denoising steps from `callback_on_step_end`, synchronising CUDA so the times are real."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.marks: list[float] = []
        self.started = 0.0

    def start(self) -> None:
        self.marks = []
        self.started = time.perf_counter()

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        self.marks.append(time.perf_counter())
        return callback_kwargs

    def seconds_per_step(self) -> float | None:
        if len(self.marks) >= 2:
            return (self.marks[-1] - self.marks[0]) / (len(self.marks) - 1)
        return None

    def denoise_seconds(self) -> float | None:
        return (self.marks[-1] - self.started) if self.marks else None


def to_image(frame: Any) -> Any:
    from PIL import Image

    return Image.fromarray(frame)


def compile_regions(module: Any, *, mode: str | None = None) -> None:
    """Regional torch.compile: the repeated transformer blocks, compiled once and reused by every block."""
    kwargs: dict[str, Any] = {"fullgraph": False}
    if mode:
        kwargs["mode"] = mode
    if getattr(module, "_repeated_blocks", None):
        module.compile_repeated_blocks(**kwargs)
        return
    blocks = getattr(module, "transformer_blocks", None)
    if blocks is None:
        raise BackendError(f"{type(module).__name__} has no repeated blocks to compile")
    for block in blocks:
        block.compile(**kwargs)
