"""What a recipe changes in a loaded pipeline's weights before the first step: LoRAs fused, weights quantised,
and the scheduler its few-step distillation was trained for.

Order matters: LoRAs are fused into the full-precision weights first (a LoRA cannot be fused into int8 or
fp8 weights), then the weights are quantised, then the pipeline is placed on the card.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import BackendError, RecipeError

if TYPE_CHECKING:
    from tale_cli.config import LoraConfig

# A text encoder smaller than this gains little from quantisation and may lose accuracy; UMT5-XXL (Wan) is ~11 GB.
TEXT_ENCODER_QUANTIZE_BYTES = 4 * 1024**3
SCHEDULERS = ("euler", "unipc")
# What has been done to each live pipeline's weights, so a pipeline shared by several backends (a benchmark
# comparing settings on one loaded model) is fused and quantised once, never twice.
_DONE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def lora_key(loras: list[LoraConfig]) -> tuple[tuple[str, float, str | None], ...]:
    return tuple((lora.source, float(lora.scale), lora.expert) for lora in loras)


def fuse_loras(pipe: Any, loras: list[LoraConfig], files: list[Path]) -> list[str]:
    """Load each LoRA through diffusers' own loader, fuse it at its scale into its expert, then drop the adapter.

    Returns one line per LoRA for the run's notes. The adapter layers are removed after fusing, so denoising
    runs the plain (fused) linear layers at the same speed as the base model.
    """
    record = _DONE.setdefault(pipe, {})
    wanted = lora_key(loras)
    if "loras" in record:
        if record["loras"] != wanted:
            raise BackendError("this loaded pipeline already has other LoRAs fused into it", hint="load it afresh")
        return list(record["lora_notes"])
    done: list[str] = []
    for number, (lora, path) in enumerate(zip(loras, files, strict=True)):
        component = "transformer_2" if lora.expert == "low-noise" else "transformer"
        if getattr(pipe, component, None) is None:
            raise RecipeError(f"LoRA {lora.source} targets the {lora.expert} expert, which this model does not have")
        adapter = f"tale_lora_{number}"
        kwargs: dict[str, Any] = {"weight_name": path.name, "adapter_name": adapter}
        if component == "transformer_2":
            kwargs["load_into_transformer_2"] = True
        try:
            pipe.load_lora_weights(str(path.parent), **kwargs)
            pipe.fuse_lora(components=[component], lora_scale=float(lora.scale), adapter_names=[adapter])
            pipe.unload_lora_weights()
        except (ValueError, KeyError, RuntimeError, OSError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BackendError(f"LoRA {lora.source} does not fit this model: {first[:200]}") from None
        done.append(f"lora {path.name} ×{lora.scale:g}" + (f" ({lora.expert})" if lora.expert else ""))
    record["loras"], record["lora_notes"] = wanted, done
    return done


def _quantize_config(kind: str) -> Any:
    try:
        from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig
    except ImportError:
        from tale_cli.errors import missing_extra

        raise missing_extra("local", "torchao") from None
    return Int8WeightOnlyConfig() if kind == "int8" else Float8WeightOnlyConfig()


def quantize_pipeline(
    pipe: Any, kind: str, *, denoisers: tuple[str, ...] = ("transformer", "transformer_2")
) -> list[str]:
    """Weight-only quantisation (torchao) of the denoisers, and of a large text encoder; returns what was done."""
    record = _DONE.setdefault(pipe, {})
    if "quantize" in record:
        if record["quantize"] != kind:
            raise BackendError(f"this loaded pipeline is already quantised to {record['quantize']}")
        return list(record["quantize_notes"])
    _quantize_config(kind)
    from torchao.quantization import quantize_

    if kind == "fp8":
        import torch

        if not torch.cuda.is_available():
            raise BackendError("quantize = 'fp8' needs a CUDA GPU", hint="use quantize = 'int8' on the CPU")
    done: list[str] = []
    for name in denoisers:
        module = getattr(pipe, name, None)
        if module is not None:
            quantize_(module, _quantize_config(kind))
            done.append(name)
    encoder = getattr(pipe, "text_encoder", None)
    if encoder is not None and hasattr(encoder, "parameters"):
        size = sum(p.numel() * p.element_size() for p in encoder.parameters())
        if size >= TEXT_ENCODER_QUANTIZE_BYTES:
            # int8 for the encoder whatever the denoiser gets: its outputs feed every step, fp8 costs more accuracy.
            quantize_(encoder, _quantize_config("int8"))
            done.append("text_encoder (int8)")
    record["quantize"], record["quantize_notes"] = kind, done
    return done


def set_scheduler(pipe: Any, name: str, shift: float | None) -> str:
    """Swap the pipeline's scheduler for the flow-matching one a distilled model expects, with its shift."""
    import diffusers

    config = dict(pipe.scheduler.config)
    extra: dict[str, Any]
    if name == "euler":
        extra = {"shift": shift} if shift is not None else {}
        pipe.scheduler = diffusers.FlowMatchEulerDiscreteScheduler.from_config(config, **extra)
    elif name == "unipc":
        extra = {"flow_shift": shift, "use_flow_sigmas": True, "prediction_type": "flow_prediction"}
        pipe.scheduler = diffusers.UniPCMultistepScheduler.from_config(
            config, **{k: v for k, v in extra.items() if v is not None}
        )
    else:
        raise RecipeError(f"scheduler '{name}' is not one of {', '.join(SCHEDULERS)}")
    return f"scheduler {name}" + (f" shift {shift:g}" if shift is not None else "")
