"""Local video models through diffusers: CogVideoX, Wan 2.1/2.2, HunyuanVideo (1.5), LTX-Video, LTX-2.

A shot is rendered at the model's native size (turned to the film's shape: Wan's 832x480 is 480x832 for a
tall film), frame count and fps, then resampled by ffmpeg to the request's size, fps and duration. A shot longer than the native clip is a chain of image-to-video
segments, each starting from the previous segment's last frame. Weights load once, on first use. A model that makes
sound with its frames (LTX-2) gives the clip its track, from the same pipeline calls, when the recipe asks for audio.
"""

from __future__ import annotations

import gc
import inspect
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend, VideoCapabilities
from tale_cli.backends.diffusers.caches import cache_config
from tale_cli.backends.diffusers.memory import (
    GB,
    MemoryPlan,
    apply_memory_plan,
    choose_memory_plan,
    cuda_facts,
    dtype_bytes,
    quantize_kind,
)
from tale_cli.backends.diffusers.pipelines import (
    MAX_STRETCH,
    StepTimer,
    VideoSettings,
    build_companion,
    compile_regions,
    fit_image,
    plan_segments,
    require_local_extra,
    stderr_line,
    to_image,
)
from tale_cli.backends.models import (
    ModelMissingError,
    component_config,
    component_weights,
    detect_video_variant,
    guess_from_id,
    read_pipeline_index,
    resolve_lora,
    resolve_model,
)
from tale_cli.errors import BackendError
from tale_cli.registry import CheckRequest, KeyService

if TYPE_CHECKING:
    from tale_cli.config import Recipe


# Options that change the denoising trajectory itself, so they are part of a shot's content hash.
SAMPLING_OPTIONS = ("scheduler", "shift", "timesteps", "decode_timestep", "decode_noise_scale")


class DiffusersVideo(VideoBackend):
    """A diffusers video pipeline behind Tale's VideoBackend protocol; one instance per process."""

    name = "diffusers"

    def __init__(
        self, recipe: Recipe, *, pipeline: Any | None = None, say: Callable[[str], None] | None = None
    ) -> None:
        require_local_extra()
        self.recipe = recipe
        self.model = recipe.video.model
        self.say = say or stderr_line
        self.missing: ModelMissingError | None = None
        self.folder: Path | None = None
        if pipeline is None:
            try:
                self.folder = resolve_model(self.model)
            except ModelMissingError as error:
                # A well-known id can still be planned (--dry-run); loading it raises this error.
                guess = guess_from_id(self.model)
                if guess is None:
                    raise
                self.missing = error
                self.pipeline_class, index, transformer = guess
                self.variant = detect_video_variant(self.pipeline_class, index, transformer, hint=self.model)
            else:
                index = read_pipeline_index(self.folder)
                self.pipeline_class = str(index.get("_class_name", ""))
                self.variant = detect_video_variant(
                    self.pipeline_class, index, component_config(self.folder), hint=self.model
                )
        else:
            self.pipeline_class = type(pipeline).__name__
            denoiser = getattr(pipeline, "transformer", None)
            self.variant = detect_video_variant(
                self.pipeline_class, dict(pipeline.config), dict(denoiser.config) if denoiser is not None else {},
                hint=self.model,
            )  # fmt: skip
        self.settings = VideoSettings.from_recipe(recipe, self.variant)
        self.can_t2v = self.variant.t2v is not None
        self.can_i2v = self.variant.i2v is not None
        self.keyframes_from_images = (
            not self.can_t2v and recipe.image.backend == "diffusers" and bool(recipe.image.model)
        )
        self._given = pipeline
        self._pipes: dict[str, Any] = {}
        self._active: Any = None
        self._lock = threading.Lock()
        self._keyframer: Any = None
        self.memory_plan: MemoryPlan | None = None
        self.load_seconds: float | None = None
        self.speedups: list[str] = []
        # The clip carries the sound the model makes with its frames: only a model that makes some, when asked.
        self.sound = self.variant.audio and recipe.video.audio

    # ------------------------------------------------------------------ protocol

    def capabilities(self) -> VideoCapabilities:
        longest = 60.0 if self.can_i2v else self.settings.native_seconds * MAX_STRETCH
        return VideoCapabilities(
            min_duration_s=0.5,
            max_duration_s=longest,
            text_to_video=self.can_t2v or self.keyframes_from_images,
            image_to_video=self.can_i2v,
            last_frame=self.variant.last_frame,
            max_reference_images=0,
            audio=self.sound,
            speaks=self.sound,
            default_jobs=1,
            loads_model=True,
            native_seconds=self.settings.native_seconds,
        )

    def fingerprint(self) -> dict[str, Any]:
        s = self.settings
        data: dict[str, Any] = {
            "model": self.model,
            "variant": self.variant.key,
            "steps": s.steps,
            "guidance": s.guidance,
            "native": f"{s.width}x{s.height}x{s.frames}@{s.fps}",
            "cache": s.cache,
        }
        if s.cache != "none":
            data["cache_options"] = {
                k: s.options.get(k)
                for k in ("cache_threshold", "mag_ratios", "cache_interval", "cache_warmup_steps")
                if k in s.options
            }
        if s.dtype:
            data["dtype"] = s.dtype
        if s.loras:
            data["loras"] = [{"source": lora.source, "scale": lora.scale, "expert": lora.expert} for lora in s.loras]
        if s.quantize:
            data["quantize"] = s.quantize
        sampling = {k: s.options[k] for k in SAMPLING_OPTIONS if k in s.options}
        if sampling:
            data["sampling"] = sampling
        if self.sound:
            data["audio"] = True
        return data

    def preflight(self) -> None:
        """Said before any GPU work: a model that renders one size only has its clips fitted into another shape."""
        from tale_cli.story.plan import orientation
        from tale_cli.story.shape import film_aspect

        film, s = self.recipe, self.settings
        if self.variant.fixed_size and orientation(film.width, film.height) != orientation(s.width, s.height):
            self.say(
                f"{self.variant.key} renders {s.width}x{s.height} only: this {film_aspect(film)} film's shots are "
                f"fitted into {film.width}x{film.height} with bars"
            )

    def close(self) -> None:
        with self._lock:
            self._pipes.clear()
            self._active = None
            self._given = None
            if self._keyframer is not None:
                self._keyframer.close()
                self._keyframer = None
            gc.collect()
            if "torch" in sys.modules:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

    # ------------------------------------------------------------------ loading

    def load(self) -> None:
        """Load the weights, fit them to the card and switch on the speed options. Idempotent."""
        if self._pipes:
            return
        if self.missing is not None:
            raise self.missing
        import torch

        started = time.perf_counter()
        free, best_dtype, device_name = cuda_facts()
        if free is not None and self._given is not None:
            # A pipeline handed in may already sit on the card: its weights count as available.
            free += sum(
                p.numel() * p.element_size()
                for component in self._given.components.values()
                for p in (component.parameters() if hasattr(component, "parameters") else ())
                if p.is_cuda
            )
        dtype_name = self.settings.dtype or best_dtype
        if free is None:
            dtype_name = self.settings.dtype or "float32"
        dtype = getattr(torch, dtype_name)
        pipe = self._given if self._given is not None else self._from_pretrained(dtype)
        pipe.set_progress_bar_config(disable=True)
        self._prepare_weights(pipe)
        weights = self._weights(pipe, dtype_bytes(dtype_name))
        scale = (self.settings.width * self.settings.height * self.settings.frames) / (
            self.variant.width * self.variant.height * self.variant.frames
        )
        plan = choose_memory_plan(
            self.settings.memory,  # type: ignore[arg-type]
            free_bytes=free,
            weights=weights,
            activation_bytes=int(self.variant.activation_gb * GB * scale),
            vae_decode_bytes=int(self.variant.vae_decode_gb * GB * scale),
            vae_tiled_bytes=int(self.variant.vae_tiled_gb * GB * min(1.0, scale)),
            dtype=dtype_name,
            quantize=self.settings.quantize,
            can_quantize=quantize_kind(),
        )
        if free is not None and plan.device == "cuda":
            plan = replace(plan, reason=f"{plan.reason} ({device_name})")
        self.memory_plan = plan
        self.say(f"{self.variant.key}: {plan.describe()}")
        if plan.quantize:
            from tale_cli.backends.diffusers.weights import quantize_pipeline

            quantized = quantize_pipeline(pipe, plan.quantize)
            self.speedups.append(f"{plan.quantize} weights ({', '.join(quantized)})")
        apply_memory_plan(pipe, plan)
        main = self.variant.t2v if self.pipeline_class == self.variant.t2v else self.variant.i2v
        self._pipes[str(main)] = pipe
        other = self.variant.i2v if main == self.variant.t2v else self.variant.t2v
        if other is not None and other != main and self.variant.i2v_from_t2v:
            self._pipes[other] = build_companion(pipe, other)
        self._speed_options(pipe)
        self.load_seconds = time.perf_counter() - started

    def _from_pretrained(self, dtype: Any) -> Any:
        import diffusers
        import torch

        assert self.folder is not None
        cls = getattr(diffusers, self.pipeline_class, None)
        if cls is None:
            raise BackendError(f"this diffusers has no {self.pipeline_class}", hint="pip install -U 'tale-cli[local]'")
        kwargs: dict[str, Any] = {"dtype": dtype}
        if self.variant.vae_float32 and dtype != torch.float32 and (self.folder / "vae").is_dir():
            vae_class = getattr(diffusers, str(read_pipeline_index(self.folder)["vae"][1]))
            kwargs["vae"] = vae_class.from_pretrained(str(self.folder), subfolder="vae", dtype=torch.float32)
        try:
            return cls.from_pretrained(str(self.folder), **kwargs)
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BackendError(f"cannot load {self.model}: {first}") from None

    def _prepare_weights(self, pipe: Any) -> None:
        """Fuse the recipe's LoRAs (once per loaded pipeline) and set the scheduler its distillation expects."""
        from tale_cli.backends.diffusers.weights import fuse_loras, set_scheduler

        if self.settings.loras:
            loras = list(self.settings.loras)
            self.speedups.extend(fuse_loras(pipe, loras, [resolve_lora(lora) for lora in loras]))
        scheduler = self.settings.options.get("scheduler")
        if scheduler is not None:
            shift = self.settings.options.get("shift")
            self.speedups.append(set_scheduler(pipe, str(scheduler), None if shift is None else float(shift)))

    def _weights(self, pipe: Any, float_bytes: int) -> dict[str, int]:
        if self.folder is not None:
            return component_weights(self.folder, float_bytes)
        weights: dict[str, int] = {}
        for name, component in pipe.components.items():
            parameters = getattr(component, "parameters", None)
            if parameters is not None:
                weights[name] = sum(p.numel() for p in parameters()) * float_bytes
        return weights

    def _denoisers(self, pipe: Any) -> list[Any]:
        return [m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None]

    def _speed_options(self, pipe: Any) -> None:
        settings = self.settings
        denoisers = self._denoisers(pipe)
        if settings.attention:
            for module in denoisers:
                try:
                    module.set_attention_backend(settings.attention)
                except (ValueError, RuntimeError, ImportError) as error:
                    raise BackendError(f"attention backend '{settings.attention}' failed: {error}") from None
            self.speedups.append(f"attention {settings.attention}")
        if settings.cache != "none":
            for module in denoisers:
                try:
                    module.enable_cache(self._cache_config())
                except (ValueError, TypeError, AttributeError) as error:
                    raise BackendError(
                        f"cache '{settings.cache}' cannot be applied to {self.variant.key}: {error}"
                    ) from None
            self.speedups.append(f"cache {settings.cache}")
        if settings.compile:
            if self.memory_plan is not None and self.memory_plan.strategy != "none":
                self.say(
                    f"compile skipped: it needs the whole model on the card (memory is {self.memory_plan.strategy})"
                )
            else:
                mode = settings.options.get("compile_mode")
                for module in denoisers:
                    compile_regions(module, mode=mode)
                self.speedups.append("regional compile")
        if self.speedups:
            self.say(f"{self.variant.key}: speed options: {', '.join(self.speedups)}")

    def _cache_config(self) -> Any:
        def timestep() -> int:
            return int(self._active.current_timestep) if self._active is not None else 0

        s = self.settings
        return cache_config(
            s.cache, family=self.variant.family, variant=self.variant.key, short_side=min(s.width, s.height),
            steps=s.steps, options=s.options, timestep=timestep,
        )  # fmt: skip

    # ------------------------------------------------------------------ rendering

    def render_shot(self, request: ShotRequest) -> RenderResult:
        with self._lock:
            return self._render(request)

    def generate(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        image: Any = None,
        frames: int | None = None,
        seed: int = 0,
        decode: bool = True,
    ) -> tuple[Any, dict[str, float | None]]:
        """One native segment: uint8 frames (F×H×W×3), or the latents when `decode` is False, and its timings."""
        with self._lock:
            self.load()
            cuda = self.memory_plan is not None and self.memory_plan.device == "cuda"
            timer = StepTimer(cuda)
            started = time.perf_counter()
            output, _ = self._call(
                image, frames=frames or self.settings.frames, prompt=prompt, negative_prompt=negative_prompt, seed=seed,
                last_image=None, timer=timer, decode=decode,
            )  # fmt: skip
            if cuda:
                import torch

                torch.cuda.synchronize()
            total = time.perf_counter() - started
        return output, {
            "seconds_per_step": timer.seconds_per_step(),
            "denoise_s": timer.denoise_seconds(),
            "total_s": total,
        }

    def _first_image(self, request: ShotRequest, s: VideoSettings) -> tuple[Any, str]:
        """The image the first segment starts from (None for text-to-video) and where it came from."""
        if request.first_frame is not None and self.can_i2v:
            return fit_image(request.first_frame, s.width, s.height), "first-frame"
        if self.can_t2v:
            return None, "text"
        if request.reference_images:
            return fit_image(request.reference_images[0], s.width, s.height), "reference"
        if self.keyframes_from_images:
            return fit_image(self._keyframe(request, s), s.width, s.height), "key-frame"
        raise BackendError(
            f"shot {request.shot.index} has no first frame, and {self.variant.key} is image-to-video only",
            hint='give the shot a character with a reference image, or set [image] backend = "diffusers" to draw key frames',
        )

    def _keyframe(self, request: ShotRequest, s: VideoSettings) -> Any:
        from tale_cli.backends.diffusers.image import DiffusersImage

        if self._keyframer is None:
            self._keyframer = DiffusersImage(self.recipe, say=self.say)
        return self._keyframer.draw(
            request.prompt, negative_prompt=request.negative_prompt, seed=request.seed, width=s.width, height=s.height,
        )  # fmt: skip

    def _render(self, request: ShotRequest) -> RenderResult:
        import numpy as np
        import torch

        from tale_cli.backends.diffusers.ltx2 import join_segments, sample_rate, write_sound
        from tale_cli.media.ffmpeg import encode_frames

        # The model's native size turned to the film's shape: a tall film is rendered tall, not fitted in bars.
        s = self.settings.facing(request.width, request.height, self.variant)
        first_image, start = self._first_image(request, s)
        self.load()
        segments, stretch = plan_segments(request.duration_s, s, self.variant, can_chain=self.can_i2v)
        cuda = self.memory_plan is not None and self.memory_plan.device == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        timer = StepTimer(cuda)
        pieces: list[Any] = []
        step_times: list[float] = []
        denoise_s = 0.0
        started = time.perf_counter()
        condition = first_image
        modes: list[str] = []
        sounds: list[Any] = []
        last: Path | None = None
        for number, frames in enumerate(segments):
            last = request.last_frame if number == len(segments) - 1 and self.variant.last_frame else None
            modes.append("t2v" if condition is None else "i2v")
            video, sound = self._call(
                condition, frames=frames, prompt=request.prompt, negative_prompt=request.negative_prompt,
                seed=(request.seed + number * 7919) % 2**32, last_image=last, timer=timer, settings=s,
            )  # fmt: skip
            if timer.seconds_per_step() is not None:
                step_times.append(float(timer.seconds_per_step() or 0.0))
            denoise_s += timer.denoise_seconds() or 0.0
            pieces.append(video if number == 0 else video[1:])
            sounds.append(sound)
            condition = fit_image(to_image(video[-1]), s.width, s.height)
        clip = np.concatenate(pieces, axis=0)
        generate_s = time.perf_counter() - started
        rate = sample_rate(next(iter(self._pipes.values()))) if self.sound else None
        with tempfile.TemporaryDirectory(prefix="tale-sound-") as folder:
            track = None
            if rate is not None:
                track = write_sound(
                    Path(folder) / "sound.wav", join_segments(sounds, segments, rate=rate, fps=s.fps), rate
                )
            encode_frames(
                clip.tobytes(), source_size=(clip.shape[2], clip.shape[1]), source_fps=s.fps, output=request.output,
                width=request.width, height=request.height, fps=request.fps, duration_s=request.duration_s,
                stretch=stretch, audio=track,
            )  # fmt: skip
        notes: dict[str, Any] = {
            "variant": self.variant.key,
            "segments": segments,
            "modes": modes,
            "start": start,
            "last_frame": last is not None,
            "steps": s.steps,
            "native": f"{clip.shape[2]}x{clip.shape[1]}@{s.fps}",
            "generate_s": round(generate_s, 3),
            "load_s": round(self.load_seconds or 0.0, 3),
            "memory": self.memory_plan.as_dict() if self.memory_plan else None,
        }
        if step_times:
            notes["seconds_per_step"] = round(sum(step_times) / len(step_times), 4)
        if denoise_s:
            notes["denoise_s"] = round(denoise_s, 3)
        if stretch > 1.0:
            notes["stretch"] = round(stretch, 3)
        if self.speedups:
            notes["speedups"] = list(self.speedups)
        if rate is not None:
            notes["audio_rate"] = rate
        if cuda:
            notes["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / GB, 2)
        return RenderResult(model=self.model, cost_usd=0.0, has_audio=rate is not None, notes=notes)

    def _call(
        self,
        image: Any,
        *,
        frames: int,
        prompt: str,
        negative_prompt: str,
        seed: int,
        last_image: Path | None,
        timer: StepTimer,
        decode: bool = True,
        settings: VideoSettings | None = None,
    ) -> tuple[Any, Any]:
        """One pipeline call: uint8 frames shaped (frames, height, width, 3), or latents without `decode`; and the
        sound made in the same call as float samples shaped (samples, channels), None from a model that makes none."""
        import numpy as np
        import torch

        s = settings or self.settings
        name = self.variant.t2v if image is None else self.variant.i2v
        pipe = self._pipes.get(str(name))
        if pipe is None:
            raise BackendError(
                f"{self.variant.key} has no {'text' if image is None else 'image'}-to-video pipeline loaded"
            )
        parameters = inspect.signature(pipe.__call__).parameters
        kwargs: dict[str, Any] = {
            "prompt": prompt,
            "num_frames": frames,
            "num_inference_steps": s.steps,
            "generator": torch.Generator(device="cpu").manual_seed(seed),
            "output_type": "np" if decode else "latent",
        }
        if negative_prompt and "negative_prompt" in parameters:
            kwargs["negative_prompt"] = negative_prompt
        if "guidance_scale" in parameters:
            kwargs["guidance_scale"] = s.guidance
        if "height" in parameters:
            kwargs["height"], kwargs["width"] = s.height, s.width
        if "frame_rate" in parameters:
            kwargs["frame_rate"] = s.fps
        if "max_sequence_length" in parameters and "max_sequence_length" in s.options:
            kwargs["max_sequence_length"] = int(s.options["max_sequence_length"])
        for name in ("timesteps", "decode_timestep", "decode_noise_scale"):
            if name in s.options and name in parameters:
                kwargs[name] = s.options[name]
        if image is not None:
            kwargs["image"] = image
            if "image_crf" in parameters:  # LTX-2 compresses its first frame as in training; done here without PyAV
                from tale_cli.backends.diffusers.ltx2 import as_trained

                kwargs["image"], kwargs["image_crf"] = as_trained(image, pipe), 0
        if last_image is not None and "last_image" in parameters:
            kwargs["last_image"] = fit_image(last_image, s.width, s.height)
        if "callback_on_step_end" in parameters and self.variant.step_callback:
            kwargs["callback_on_step_end"] = timer
        kwargs.update(self.variant.extra_call)
        self._active = pipe
        timer.start()
        try:
            with torch.inference_mode():
                output = pipe(**kwargs)
        except torch.cuda.OutOfMemoryError:
            raise BackendError(
                f"out of GPU memory rendering {self.variant.key} ({self.memory_plan.describe() if self.memory_plan else ''})",
                hint="use --memory low-vram, or a smaller native size in [video.options]",
            ) from None
        finally:
            self._active = None
        sound = getattr(output, "audio", None)
        if not decode:
            return output.frames, sound
        video = np.asarray(output.frames[0])
        if video.dtype != np.uint8:
            video = (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        if sound is not None:
            from tale_cli.backends.diffusers.ltx2 import waveform

            sound = waveform(sound)
        return np.ascontiguousarray(video[..., :3]), sound


# ---------------------------------------------------------------- registry


def _hub_check(base: str, key: str | None, bearer: str | None) -> CheckRequest:
    return CheckRequest(f"{base}/api/whoami-v2", {"Authorization": f"Bearer {key}"})


# The Hugging Face token is needed only to pull gated weights (`tale models pull`), never to render.
KEY_SERVICES = (
    KeyService(
        "huggingface",
        "Hugging Face token (gated model downloads)",
        ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
        "HF_ENDPOINT",
        "https://huggingface.co",
        _hub_check,
    ),
)
