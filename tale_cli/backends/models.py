"""Local model weights: which diffusers family a checkpoint is, where its files are, pulling and listing them.

Nothing here imports torch or diffusers; the checkpoint's own JSON files (model_index.json, each
component's config.json) and the safetensors headers say everything needed before any GPU work.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import InputError, MissingDependencyError, RecipeError, TaleError

if TYPE_CHECKING:
    from tale_cli.config import LoraConfig, Recipe

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")
GB = 1024**3


class ModelMissingError(MissingDependencyError):
    """A model that is neither a local folder nor in the Hugging Face cache."""


@dataclass(frozen=True)
class VideoVariant:
    """One kind of video checkpoint: its pipelines, native clip and what Tale may switch on for it."""

    key: str
    family: str
    t2v: str | None
    i2v: str | None
    width: int
    height: int
    frames: int
    fps: int
    steps: int
    guidance: float
    frame_step: int = 4
    # Width and height must be multiples of this (LTX-2's VAE compresses 32x in space).
    size_step: int = 16
    fixed_frames: bool = False
    # Renders its native size only (learned position embeddings): a film of another shape gets its clip fitted in.
    fixed_size: bool = False
    i2v_from_t2v: bool = False
    last_frame: bool = False
    caches: tuple[str, ...] = ("first-block", "pab", "faster-cache", "magcache", "taylorseer")
    # Wan 2.2 A14B: a high-noise expert (`transformer`) and a low-noise one (`transformer_2`).
    two_experts: bool = False
    regional_compile: bool = True
    vae_float32: bool = False
    step_callback: bool = True
    # Makes its clip's sound in the same pipeline call as the picture (LTX-2).
    audio: bool = False
    # Rough peak memory (GiB) at the native clip besides the weights: denoiser activations with
    # guidance, and the VAE decode with and without tiling. Conservative on purpose.
    activation_gb: float = 4.0
    vae_decode_gb: float = 10.0
    vae_tiled_gb: float = 2.0
    extra_call: dict[str, Any] = field(default_factory=dict)

    @property
    def native_seconds(self) -> float:
        return self.frames / self.fps

    def valid_frames(self, frames: int) -> int:
        """The smallest frame count the model accepts that is at least `frames`."""
        if self.fixed_frames:
            return self.frames
        steps = max(1, -(-(max(frames, 2) - 1) // self.frame_step))
        return steps * self.frame_step + 1


@dataclass(frozen=True)
class ImageVariant:
    key: str
    family: str
    pipeline: str
    width: int
    height: int
    steps: int
    guidance: float
    extra_call: dict[str, Any] = field(default_factory=dict)


_COGVIDEOX = VideoVariant(
    key="cogvideox", family="cogvideox", t2v="CogVideoXPipeline", i2v=None,
    width=720, height=480, frames=49, fps=8, steps=50, guidance=6.0, fixed_frames=True,
    caches=("first-block", "pab", "faster-cache", "magcache", "taylorseer"), regional_compile=False,
    activation_gb=5.0, vae_decode_gb=14.0, vae_tiled_gb=2.5,
)  # fmt: skip
_WAN21 = VideoVariant(
    key="wan2.1-t2v-1.3b", family="wan", t2v="WanPipeline", i2v=None,
    width=832, height=480, frames=81, fps=16, steps=50, guidance=5.0, vae_float32=True,
    activation_gb=4.0, vae_decode_gb=9.0, vae_tiled_gb=2.5,
)  # fmt: skip
_HUNYUAN = VideoVariant(
    key="hunyuanvideo", family="hunyuanvideo", t2v="HunyuanVideoPipeline", i2v=None,
    width=1280, height=720, frames=129, fps=24, steps=50, guidance=6.0,
    caches=("first-block", "pab", "faster-cache", "magcache", "taylorseer"),
    activation_gb=22.0, vae_decode_gb=40.0, vae_tiled_gb=6.0,
)  # fmt: skip
_HUNYUAN15 = VideoVariant(
    key="hunyuanvideo1.5", family="hunyuanvideo", t2v="HunyuanVideo15Pipeline", i2v=None,
    width=1280, height=720, frames=121, fps=24, steps=50, guidance=6.0, step_callback=False,
    caches=("first-block", "magcache"), activation_gb=16.0, vae_decode_gb=30.0, vae_tiled_gb=6.0,
)  # fmt: skip
_LTX = VideoVariant(
    key="ltx-video", family="ltx", t2v="LTXPipeline", i2v="LTXImageToVideoPipeline", i2v_from_t2v=True,
    width=768, height=512, frames=121, fps=24, steps=50, guidance=3.0, frame_step=8,
    caches=("first-block", "pab", "magcache", "taylorseer"), activation_gb=3.0, vae_decode_gb=8.0, vae_tiled_gb=2.0,
)  # fmt: skip
# LTX-2: 19B audio-video transformer, Gemma 3 text encoder; 121 frames at 24 fps with a 24 kHz stereo track. No cache
# hook is known to work on its two-stream transformer. Memory figures are guesses, not measurements.
_LTX2 = VideoVariant(
    key="ltx2", family="ltx2", t2v="LTX2Pipeline", i2v="LTX2ImageToVideoPipeline", i2v_from_t2v=True,
    width=768, height=512, frames=121, fps=24, steps=40, guidance=3.0, frame_step=8, size_step=32, audio=True,
    caches=(), activation_gb=6.0, vae_decode_gb=10.0, vae_tiled_gb=3.0,
)  # fmt: skip


def _cogvideox(pipeline: str, transformer: dict[str, Any], hint: str) -> VideoVariant:
    image = pipeline == "CogVideoXImageToVideoPipeline"
    size = "5b" if transformer.get("num_layers", 42) >= 40 else "2b"
    base = replace(
        _COGVIDEOX,
        t2v=None if image else pipeline,
        i2v=pipeline if image else None,
        key=f"cogvideox-{size}{'-i2v' if image else ''}",
        fixed_size=bool(transformer.get("use_learned_positional_embeddings")),
    )
    if transformer.get("patch_size_t"):  # CogVideoX 1.5: 16k+1 frames at 16 fps
        return replace(
            base,
            key=f"cogvideox1.5-{size}{'-i2v' if image else ''}",
            width=1360, height=768, frames=81, fps=16, frame_step=16, fixed_frames=False,
            activation_gb=12.0, vae_decode_gb=30.0, vae_tiled_gb=4.0,
        )  # fmt: skip
    return base


def _wan(pipeline: str, index: dict[str, Any], transformer: dict[str, Any], hint: str) -> VideoVariant:
    image = pipeline == "WanImageToVideoPipeline"
    two_experts = bool(index.get("transformer_2") and index["transformer_2"][0] is not None)
    if index.get("expand_timesteps") or transformer.get("in_channels") == 48:
        return replace(
            _WAN21, key="wan2.2-ti2v-5b", t2v="WanPipeline", i2v="WanImageToVideoPipeline", i2v_from_t2v=True,
            width=1280, height=704, frames=121, fps=24, activation_gb=8.0, vae_decode_gb=20.0, vae_tiled_gb=4.0,
        )  # fmt: skip
    large = transformer.get("num_layers", 30) >= 40
    mode = ("flf2v" if transformer.get("pos_embed_seq_len") is not None else "i2v") if image else "t2v"
    hd = two_experts or mode == "flf2v" or (large and not image) or "720" in hint
    variant = replace(
        _WAN21,
        key=f"wan{'2.2-a14b' if two_experts else '2.1-14b' if large else '2.1-1.3b'}-{mode}",
        t2v=None if image else pipeline,
        i2v=pipeline if image else None,
        last_frame=mode == "flf2v",
        two_experts=two_experts,
        activation_gb=12.0 if large else 4.0,
        vae_decode_gb=24.0 if hd else 9.0,
        vae_tiled_gb=4.0 if hd else 2.5,
    )
    return replace(variant, width=1280, height=720) if hd else variant


def detect_video_variant(
    pipeline: str, index: dict[str, Any] | None = None, transformer: dict[str, Any] | None = None, hint: str = ""
) -> VideoVariant:
    """The video variant of a checkpoint from its pipeline class name and configs."""
    index = index or {}
    transformer = transformer or {}
    if pipeline in ("CogVideoXPipeline", "CogVideoXImageToVideoPipeline"):
        return _cogvideox(pipeline, transformer, hint)
    if pipeline in ("WanPipeline", "WanImageToVideoPipeline"):
        return _wan(pipeline, index, transformer, hint)
    if pipeline == "HunyuanVideoPipeline":
        return _HUNYUAN
    if pipeline == "HunyuanVideoImageToVideoPipeline":
        return replace(_HUNYUAN, key="hunyuanvideo-i2v", t2v=None, i2v=pipeline, guidance=1.0)
    if pipeline == "HunyuanVideo15Pipeline":
        return _variant_hv15(transformer, image=False)
    if pipeline == "HunyuanVideo15ImageToVideoPipeline":
        return _variant_hv15(transformer, image=True)
    if pipeline == "LTXConditionPipeline":
        # 0.9.5 and later (the distilled ones too): one pipeline for text and image starts, and the only LTX
        # pipeline that takes the authors' custom timestep list.
        return replace(_LTX, t2v=pipeline, i2v=pipeline, i2v_from_t2v=False)
    if pipeline in ("LTXPipeline", "LTXImageToVideoPipeline"):
        return _LTX
    if pipeline in ("LTX2Pipeline", "LTX2ImageToVideoPipeline"):
        return _ltx2(transformer)
    raise RecipeError(
        f"{pipeline} is not a video pipeline Tale can drive",
        hint="supported: CogVideoX, Wan 2.1/2.2, HunyuanVideo (1.5), LTX-Video, LTX-2 checkpoints in diffusers format",
    )


def _ltx2(transformer: dict[str, Any]) -> VideoVariant:
    """LTX-2.0, or LTX-2.3 (its transformer modulates cross-attention), with the guidance Lightricks publishes for
    each (ltx-pipelines LTX_2_PARAMS, LTX_2_3_PARAMS): 40 or 30 steps; audio guidance 7, modality 3, rescale 0.7;
    spatio-temporal guidance at block 29 or 28; 2.3's cross-modal timesteps. Spatio-temporal guidance needs a
    transformer built with perturbed attention; the diffusers LTX-2.0 checkpoint has none, and there the extra pass
    would change nothing, so it is not run. Pinned here, not left to the pipeline's defaults, which follow 2.3."""
    newer = bool(transformer.get("cross_attn_mod"))
    block = 28 if newer else 29
    stg = 1.0 if transformer.get("perturbed_attn") and block < int(transformer.get("num_layers", 48)) else 0.0
    call = {"audio_guidance_scale": 7.0, "modality_scale": 3.0, "audio_modality_scale": 3.0, "guidance_rescale": 0.7,
            "audio_guidance_rescale": 0.7, "stg_scale": stg, "audio_stg_scale": stg,
            "spatio_temporal_guidance_blocks": [block] if stg else None, "use_cross_timestep": newer}  # fmt: skip
    return replace(_LTX2, key="ltx2.3" if newer else "ltx2", steps=30 if newer else 40, extra_call=call)


def _variant_hv15(transformer: dict[str, Any], *, image: bool) -> VideoVariant:
    small = transformer.get("target_size", 640) <= 640
    return replace(
        _HUNYUAN15,
        key=f"hunyuanvideo1.5-{'480p' if small else '720p'}-{'i2v' if image else 't2v'}",
        t2v=None if image else "HunyuanVideo15Pipeline",
        i2v="HunyuanVideo15ImageToVideoPipeline" if image else None,
        width=848 if small else 1280,
        height=480 if small else 720,
    )


# Well-known hub ids -> (pipeline class, model_index fields, transformer config fields) that decide the
# variant, so a plan can be checked (`--dry-run`) before the weights are downloaded.
_KNOWN_IDS: tuple[tuple[tuple[str, ...], str, dict[str, Any], dict[str, Any]], ...] = (
    (("cogvideox1.5", "i2v"), "CogVideoXImageToVideoPipeline", {}, {"num_layers": 42, "patch_size_t": 2}),
    (("cogvideox1.5",), "CogVideoXPipeline", {}, {"num_layers": 42, "patch_size_t": 2}),
    (("cogvideox-5b", "i2v"), "CogVideoXImageToVideoPipeline", {}, {"num_layers": 42,
                                                                    "use_learned_positional_embeddings": True}),
    (("cogvideox-5b",), "CogVideoXPipeline", {}, {"num_layers": 42}),
    (("cogvideox-2b",), "CogVideoXPipeline", {}, {"num_layers": 30}),
    (("wan2.2-ti2v",), "WanPipeline", {"expand_timesteps": True}, {"in_channels": 48}),
    (("wan2.2", "i2v"), "WanImageToVideoPipeline", {"transformer_2": ["diffusers", "WanTransformer3DModel"]}, {"num_layers": 40}),
    (("wan2.2",), "WanPipeline", {"transformer_2": ["diffusers", "WanTransformer3DModel"]}, {"num_layers": 40}),
    (("wan2.1", "flf2v"), "WanImageToVideoPipeline", {}, {"num_layers": 40, "pos_embed_seq_len": 514}),
    (("wan2.1", "i2v"), "WanImageToVideoPipeline", {}, {"num_layers": 40}),
    (("wan2.1", "14b"), "WanPipeline", {}, {"num_layers": 40}),
    (("wan2.1",), "WanPipeline", {}, {"num_layers": 30}),
    (("hunyuanvideo-1.5", "i2v"), "HunyuanVideo15ImageToVideoPipeline", {}, {}),
    (("hunyuanvideo-1.5",), "HunyuanVideo15Pipeline", {}, {}),
    (("hunyuanvideo-i2v",), "HunyuanVideoImageToVideoPipeline", {}, {}),
    (("hunyuanvideo",), "HunyuanVideoPipeline", {}, {}),
    *((("ltx-video-0.9." + minor,), "LTXConditionPipeline", {}, {}) for minor in "5678"),
    (("ltx-video",), "LTXPipeline", {}, {}),
    (("ltx-2.3",), "LTX2Pipeline", {}, {"cross_attn_mod": True, "perturbed_attn": True}),
    (("ltx-2",), "LTX2Pipeline", {}, {}),
)  # fmt: skip


def guess_from_id(model: str) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """What a well-known hub id will load, without its files; None for ids Tale does not know."""
    lowered = model.lower()
    for needles, pipeline, index, transformer in _KNOWN_IDS:
        if all(needle in lowered for needle in needles):
            return pipeline, index, transformer
    return None


def detect_image_variant(pipeline: str, transformer: dict[str, Any] | None = None) -> ImageVariant:
    if pipeline == "StableDiffusionXLPipeline":
        return ImageVariant(
            key="sdxl", family="sdxl", pipeline=pipeline, width=1024, height=1024, steps=30, guidance=5.0
        )
    if pipeline == "FluxPipeline":
        if (transformer or {}).get("guidance_embeds", True):
            return ImageVariant(
                key="flux-dev", family="flux", pipeline=pipeline, width=1024, height=1024, steps=28, guidance=3.5
            )
        return ImageVariant(
            key="flux-schnell", family="flux", pipeline=pipeline, width=1024, height=1024, steps=4, guidance=0.0,
            extra_call={"max_sequence_length": 256},
        )  # fmt: skip
    raise RecipeError(
        f"{pipeline} is not an image pipeline Tale can drive",
        hint="supported: SDXL and Flux.1 checkpoints in diffusers format",
    )


# ---------------------------------------------------------------- where the files are


def hf_home() -> Path:
    return Path(
        os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    )


def hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or hf_home() / "hub")


def _hub_missing() -> MissingDependencyError:
    # Both extras that load weights carry huggingface_hub; the voice alone needs no torch.
    return MissingDependencyError(
        "huggingface_hub is not installed",
        hint="pip install 'tale-cli[local]' (or 'tale-cli[voice-local]' for the local voice alone)",
    )


def pull_hint(model: str) -> str:
    return f"run `tale models pull {model}` (downloads into {hub_cache()})"


def resolve_model(model: str) -> Path:
    """A model's folder: the path itself, or its snapshot in the Hugging Face cache. Never downloads."""
    if not model:
        raise RecipeError("no model is set", hint="set `model` in the recipe or pass --model ID|FOLDER")
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or model.startswith((".", "~")) or not REPO_ID.match(model):
        raise ModelMissingError(
            f"model folder not found: {model}", hint="pass an existing folder or a hub id like ORG/NAME"
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise _hub_missing() from None
    try:
        return Path(snapshot_download(model, local_files_only=True, cache_dir=hub_cache()))
    except Exception:  # LocalEntryNotFoundError and friends: the files are not here
        raise ModelMissingError(f"model {model} is not downloaded", hint=pull_hint(model)) from None


def local_model_ids(recipe: Recipe, *, planning: bool, planner: str | None = None) -> list[str]:
    """Every local model (hub id or folder) a run of the recipe loads: planner, images, video, voice, judge."""
    from tale_cli.registry import Role, provider

    wanted: list[str] = []
    if planning and (planner or recipe.planner.backend) == "local":
        wanted.append(recipe.planner.model)
    if recipe.image.backend == "diffusers":
        wanted.append(recipe.image.model)
    if recipe.video.backend == "diffusers":
        wanted.append(recipe.video.model)
    if recipe.voice.enabled:
        voice = provider(recipe.voice.backend, Role.VOICE)
        if voice.needs_weights:
            wanted.append(recipe.voice.model or voice.models[0])
    if recipe.judge.backend == "local":
        wanted += judge_models(recipe)
    return list(dict.fromkeys(model for model in wanted if model))


def check_local_models(recipe: Recipe, *, planning: bool, planner: str | None = None) -> list[Path]:
    """Every local model the run will load is on disk: a missing one fails here, before any work."""
    found = [resolve_model(model) for model in local_model_ids(recipe, planning=planning, planner=planner)]
    if recipe.video.backend == "diffusers":
        found += [resolve_lora(lora) for lora in recipe.video.lora]
    return found


def resolve_lora(lora: LoraConfig) -> Path:
    """A recipe LoRA's file on disk: the file itself, or its one weight file in the Hugging Face cache."""
    if lora.file is not None:
        path = Path(lora.file).expanduser()
        if not path.is_file():
            raise ModelMissingError(f"LoRA file not found: {lora.file}", hint="give an existing .safetensors file")
        return path
    assert lora.repo is not None and lora.weight_name is not None
    if not REPO_ID.match(lora.repo):
        raise RecipeError(f"LoRA repo '{lora.repo}' is not a hub id", hint="a hub id looks like ORG/NAME")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        from tale_cli.errors import missing_extra

        raise missing_extra("local", "huggingface_hub") from None
    try:
        return Path(hf_hub_download(lora.repo, lora.weight_name, cache_dir=hub_cache(), local_files_only=True))
    except Exception:  # LocalEntryNotFoundError and friends: the file is not here
        raise ModelMissingError(
            f"LoRA {lora.source} is not downloaded",
            hint=f"run `tale models pull --recipe RECIPE` or {pull_hint(lora.repo)}",
        ) from None


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a JSON object")
    return data


def read_pipeline_index(folder: Path) -> dict[str, Any]:
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ModelMissingError(
            f"{folder} has no model_index.json: not a diffusers pipeline",
            hint="use a diffusers-format checkpoint (the hub ids ending in -Diffusers, or ones with model_index.json)",
        )
    return read_json(index_path)


def component_config(folder: Path, component: str = "transformer") -> dict[str, Any]:
    path = folder / component / "config.json"
    return read_json(path) if path.is_file() else {}


_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
                "I8": 1, "U8": 1, "BOOL": 1}  # fmt: skip


def safetensors_bytes(path: Path, float_bytes: int) -> int:
    """Bytes a safetensors file's tensors take once floating-point ones are cast to `float_bytes` each."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    total = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for size in entry["shape"]:
            count *= size
        dtype = entry["dtype"]
        total += count * (float_bytes if dtype.startswith(("F", "BF")) else _DTYPE_BYTES.get(dtype, 4))
    return total


def component_weights(folder: Path, float_bytes: int = 2) -> dict[str, int]:
    """Each pipeline component's weight bytes at the given float size, read from file headers."""
    index = read_pipeline_index(folder)
    weights: dict[str, int] = {}
    for component, value in index.items():
        if component.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        sub = folder / component
        if not sub.is_dir():
            continue
        files = sorted(sub.glob("*.safetensors"))
        if files:
            weights[component] = sum(safetensors_bytes(f, float_bytes) for f in files)
        else:
            bins = list(sub.glob("*.bin")) + list(sub.glob("*.pt"))
            if bins:
                weights[component] = sum(f.stat().st_size for f in bins) * float_bytes // 4
    return weights


# ---------------------------------------------------------------- pull and list


@dataclass
class CachedModel:
    model_id: str
    size_bytes: int
    files: int
    pipeline: str | None
    path: str
    last_used: float


def list_cached_models() -> list[CachedModel]:
    """Models in the Hugging Face cache, largest first, with the pipeline class where there is one."""
    try:
        from huggingface_hub import scan_cache_dir
    except ImportError:
        raise _hub_missing() from None
    cache = hub_cache()
    if not cache.is_dir():
        return []
    info = scan_cache_dir(cache)
    models: list[CachedModel] = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        newest = max(repo.revisions, key=lambda r: r.last_modified, default=None)
        pipeline = None
        if newest is not None:
            index = Path(newest.snapshot_path) / "model_index.json"
            if (Path(newest.snapshot_path) / ONNX_VOICE_MARKER).is_file():
                pipeline = ONNX_VOICE_KIND
            elif index.is_file():
                try:
                    pipeline = str(read_json(index).get("_class_name") or "") or None
                except InputError:
                    pipeline = None
        models.append(
            CachedModel(
                model_id=repo.repo_id,
                size_bytes=repo.size_on_disk,
                files=repo.nb_files,
                pipeline=pipeline,
                path=str(newest.snapshot_path if newest else repo.repo_path),
                last_used=repo.last_accessed,
            )
        )
    return sorted(models, key=lambda m: (-m.size_bytes, m.model_id))


# Only what from_pretrained reads for a transformers model; skips duplicate .bin/.pth/gguf copies.
_TRANSFORMERS_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"]
# An ONNX text-to-speech checkpoint laid out as Supertonic's: the file that marks one, and the files a voice reads
# (its four graphs, their config and character table, the voice styles, the licence), not the samples, pictures
# and other runtimes' copies the repository also holds.
ONNX_VOICE_MARKER = "onnx/tts.json"
ONNX_VOICE_FILES = ["onnx/*.onnx", "onnx/tts.json", "onnx/unicode_indexer.json", "voice_styles/*.json", "LICENSE"]
ONNX_VOICE_KIND = "ONNX text-to-speech"


class PullError(TaleError):
    """A model that could not be downloaded."""


def _is_onnx_voice(model_id: str, cache: Path, offline: bool) -> bool:
    """Whether a hub repository is an ONNX voice (it holds ONNX_VOICE_MARKER), asked before anything large is fetched."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        hf_hub_download(model_id, ONNX_VOICE_MARKER, cache_dir=cache, local_files_only=offline)
    except EntryNotFoundError:  # not in the repository (or, offline, not in the cache)
        return False
    return True


def pull_model(model_id: str) -> Path:
    """Download a model into the Hugging Face cache (HF_HOME): a diffusers pipeline, an ONNX voice (only the files it
    reads) or a transformers model."""
    if not REPO_ID.match(model_id):
        raise InputError(f"'{model_id}' is not a hub id", hint="a hub id looks like ORG/NAME, e.g. THUDM/CogVideoX-5b")
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
        )
    except ImportError:
        raise _hub_missing() from None
    cache = hub_cache()
    # Read at call time (huggingface_hub reads it once at import): offline, a pull only confirms the cache.
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        if _is_onnx_voice(model_id, cache, offline):
            return Path(
                snapshot_download(model_id, allow_patterns=ONNX_VOICE_FILES, cache_dir=cache, local_files_only=offline)
            )
        try:
            hf_hub_download(model_id, "model_index.json", cache_dir=cache, local_files_only=offline)
            is_pipeline = True
        except LocalEntryNotFoundError:
            if not offline:
                raise
            is_pipeline = False  # offline and no pipeline index cached: a cached transformers model, or nothing
        except EntryNotFoundError:
            is_pipeline = False
        if is_pipeline:
            from diffusers import DiffusionPipeline

            return Path(DiffusionPipeline.download(model_id, cache_dir=cache, local_files_only=offline))
        folder = Path(
            snapshot_download(model_id, allow_patterns=_TRANSFORMERS_FILES, cache_dir=cache, local_files_only=offline)
        )
        if not any(folder.glob("*.safetensors")):
            # An older model (some detectors and embedders) ships its weights as pytorch_model.bin only.
            folder = Path(
                snapshot_download(model_id, allow_patterns=["*.bin"], cache_dir=cache, local_files_only=offline)
            )
        return folder
    except LocalEntryNotFoundError:
        raise PullError(
            f"cannot reach the Hugging Face hub to download {model_id}",
            hint="check the network (HF_HUB_OFFLINE=1 forbids downloads; HF_ENDPOINT picks a mirror)",
        ) from None
    except GatedRepoError:
        raise PullError(
            f"{model_id} is gated: accept its licence on huggingface.co first",
            hint="then set HF_TOKEN in the environment and pull again",
        ) from None
    except RepositoryNotFoundError:
        raise PullError(
            f"no model {model_id} on the Hugging Face hub", hint="check the id's spelling and case"
        ) from None
    except (OSError, ValueError) as error:
        raise PullError(
            f"could not download {model_id}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from None


# ---------------------------------------------------------------- a recipe's weights


@dataclass(frozen=True)
class Pulled:
    kind: str  # "model" or "lora"
    name: str
    path: Path


def pull_lora(lora: LoraConfig) -> Path:
    """Download one recipe LoRA: only its named weight file, never the rest of its repository."""
    if lora.file is not None:
        return resolve_lora(lora)
    assert lora.repo is not None and lora.weight_name is not None
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
        )
    except ImportError:
        from tale_cli.errors import missing_extra

        raise missing_extra("local", "huggingface_hub") from None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        return Path(hf_hub_download(lora.repo, lora.weight_name, cache_dir=hub_cache(), local_files_only=offline))
    except LocalEntryNotFoundError:
        raise PullError(
            f"cannot reach the Hugging Face hub to download the LoRA {lora.source}",
            hint="check the network (HF_HUB_OFFLINE=1 forbids downloads; HF_ENDPOINT picks a mirror)",
        ) from None
    except GatedRepoError:
        raise PullError(f"{lora.repo} is gated: accept its licence on huggingface.co first") from None
    except RepositoryNotFoundError:
        raise PullError(
            f"no repository {lora.repo} on the Hugging Face hub", hint="check the recipe's LoRA repo"
        ) from None
    except EntryNotFoundError:
        raise PullError(
            f"{lora.repo} has no file {lora.weight_name}", hint="check the recipe's LoRA weight_name"
        ) from None
    except (OSError, ValueError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PullError(f"could not download the LoRA {lora.source}: {first}") from None


def pull_recipe(recipe: Recipe) -> list[Pulled]:
    """Everything a local recipe loads: its planner, image, video, voice and judge models, and the video's LoRAs."""
    pulled: list[Pulled] = []
    models = local_model_ids(recipe, planning=True)
    if not models:
        raise InputError(f"recipe '{recipe.name}' loads no local model", hint="pick a local-* or private recipe")
    for model in models:
        path = Path(model).expanduser()
        pulled.append(Pulled("model", model, path if path.is_dir() else pull_model(model)))
    if recipe.video.backend == "diffusers":
        for lora in recipe.video.lora:
            pulled.append(Pulled("lora", lora.source, pull_lora(lora)))
    return pulled


# The local judge's default models: an open-vocabulary detector and an image embedder.
DEFAULT_DETECTOR = "google/owlv2-base-patch16-ensemble"
DEFAULT_EMBEDDER = "google/siglip2-base-patch16-224"


def judge_models(recipe: Recipe) -> list[str]:
    """The detector and embedder the local judge of this recipe loads."""
    return [recipe.judge.detector or DEFAULT_DETECTOR, recipe.judge.embedder or DEFAULT_EMBEDDER]
