"""Fit a local pipeline to the card: pick dtype and offload strategy from free memory, then apply it.

`choose_memory_plan` is a pure function of the free memory, the weights and the family's activation
estimate, so it can be tested with made-up figures; `apply_memory_plan` does the diffusers calls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

GB = 1024**3
# CUDA context, allocator slack, the scheduler's tensors: kept free whatever the strategy.
RESERVE_BYTES = int(1.5 * GB)
# What group offload keeps resident besides activations: one group in flight plus its prefetch.
GROUP_RESIDENT_BYTES = 1 * GB

Strategy = Literal["none", "model-offload", "group-offload", "sequential-offload"]
Mode = Literal["auto", "speed", "low-vram"]


@dataclass(frozen=True)
class MemoryPlan:
    strategy: Strategy
    dtype: str
    vae_tiling: bool = False
    fp8_layerwise: bool = False
    device: str = "cuda"
    needed_bytes: int | None = None
    free_bytes: int | None = None
    reason: str = ""
    # Weight-only quantisation of the denoisers ("int8" or "fp8"), chosen by auto memory or asked by the recipe.
    quantize: str | None = None

    def describe(self) -> str:
        parts = [self.strategy, self.dtype]
        if self.quantize:
            parts.append(f"{self.quantize} weights")
        if self.vae_tiling:
            parts.append("VAE tiling")
        if self.fp8_layerwise:
            parts.append("fp8 weight storage")
        text = f"memory: {', '.join(parts)} on {self.device}"
        if self.needed_bytes is not None and self.free_bytes is not None:
            text += f" (needs about {self.needed_bytes / GB:.1f} GiB of {self.free_bytes / GB:.1f} GiB free)"
        return text + (f": {self.reason}" if self.reason else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "dtype": self.dtype,
            "vae_tiling": self.vae_tiling,
            "fp8_layerwise": self.fp8_layerwise,
            "device": self.device,
            "quantize": self.quantize,
        }


def choose_memory_plan(
    mode: Mode,
    *,
    free_bytes: int | None,
    weights: dict[str, int],
    activation_bytes: int,
    vae_decode_bytes: int,
    vae_tiled_bytes: int,
    dtype: str = "bfloat16",
    denoiser: str = "transformer",
    quantize: str | None = None,
    can_quantize: str | None = None,
) -> MemoryPlan:
    """The fastest strategy that fits `free_bytes` (None: no CUDA device, run on the CPU in float32).

    `weights` are each component's bytes in `dtype`; the denoiser is the component fp8 storage shrinks.
    `quantize` is what the recipe asks for ("none" forbids it); `can_quantize` is the kind auto may pick
    ("fp8" on cards with fp8 support, else "int8"; None: no quantisation library), tried before any offload.
    """
    if free_bytes is None:
        asked = quantize if quantize in ("int8", "fp8") else None
        return MemoryPlan("none", "float32", device="cpu", reason="no CUDA device", quantize=asked)
    denoisers = [name for name in weights if name.startswith("transformer")] or [denoiser]
    if quantize in ("int8", "fp8"):
        weights = _quantized(weights, denoisers)
    plan = _choose(mode, free_bytes, weights, activation_bytes, vae_decode_bytes, vae_tiled_bytes, dtype, denoiser)
    if quantize in ("int8", "fp8"):
        return replace(plan, quantize=quantize, fp8_layerwise=False)
    if mode != "auto" or quantize == "none" or can_quantize is None or plan.strategy == "none":
        return plan
    smaller = _choose(mode, free_bytes, _quantized(weights, denoisers), activation_bytes, vae_decode_bytes,
                      vae_tiled_bytes, dtype, denoiser)  # fmt: skip
    if smaller.strategy != "none":
        return plan
    return replace(
        smaller,
        quantize=can_quantize,
        reason=f"{dtype} weights would need {plan.strategy}; {can_quantize} weights fit without offload",
    )


def _quantized(weights: dict[str, int], denoisers: list[str]) -> dict[str, int]:
    """Weight bytes once the denoisers hold one byte per weight (int8 or fp8) instead of two."""
    return {name: size // 2 if name in denoisers else size for name, size in weights.items()}


def _choose(
    mode: Mode,
    free_bytes: int,
    weights: dict[str, int],
    activation_bytes: int,
    vae_decode_bytes: int,
    vae_tiled_bytes: int,
    dtype: str,
    denoiser: str,
) -> MemoryPlan:
    total = sum(weights.values())
    biggest = max(weights.values(), default=0)
    denoiser_bytes = weights.get(denoiser, biggest)
    usable = free_bytes - RESERVE_BYTES

    def plan(strategy: Strategy, needed: int, *, tiling: bool, fp8: bool = False, reason: str = "") -> MemoryPlan:
        return MemoryPlan(strategy, dtype, tiling, fp8, "cuda", needed + RESERVE_BYTES, free_bytes, reason)

    if mode == "speed":
        tiling = total + activation_bytes + vae_decode_bytes > usable
        needed = total + activation_bytes + (vae_tiled_bytes if tiling else vae_decode_bytes)
        note = "asked for speed: no offload" + ("; may not fit this card" if needed > usable else "")
        return plan("none", needed, tiling=tiling, reason=note)
    if mode == "low-vram":
        needed = activation_bytes + vae_tiled_bytes + GROUP_RESIDENT_BYTES
        if needed <= usable:
            return plan("group-offload", needed, tiling=True, reason="asked for low VRAM")
        return plan("sequential-offload", activation_bytes + vae_tiled_bytes, tiling=True, reason="asked for low VRAM")

    candidates: list[tuple[Strategy, int, bool, bool, str]] = [
        ("none", total + activation_bytes + vae_decode_bytes, False, False, "everything fits"),
        ("none", total + activation_bytes + vae_tiled_bytes, True, False, "fits with a tiled VAE decode"),
        (
            "model-offload",
            biggest + activation_bytes + vae_tiled_bytes,
            True,
            False,
            "one component on the card at a time",
        ),
        (
            "model-offload",
            max([size for name, size in weights.items() if name != denoiser] + [denoiser_bytes // 2])
            + activation_bytes
            + vae_tiled_bytes,
            True,
            True,
            "denoiser weights stored in fp8",
        ),
        (
            "group-offload",
            activation_bytes + vae_tiled_bytes + GROUP_RESIDENT_BYTES,
            True,
            False,
            "layers streamed from CPU",
        ),
    ]
    for strategy, needed, tiling, fp8, reason in candidates:
        if needed <= usable:
            return plan(strategy, needed, tiling=tiling, fp8=fp8, reason=reason)
    return plan(
        "sequential-offload", activation_bytes + vae_tiled_bytes, tiling=True, reason="smallest footprint; slow"
    )


def dtype_bytes(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


def quantize_kind() -> str | None:
    """What auto memory may quantise to here: fp8 on cards with fp8 tensor cores (sm 8.9+), else int8; None
    without torchao."""
    import importlib.util

    import torch

    if importlib.util.find_spec("torchao") is None:
        return None
    if torch.cuda.is_available() and torch.cuda.get_device_capability(0) >= (8, 9):
        return "fp8"
    return "int8"


def cuda_facts() -> tuple[int | None, str, str]:
    """(free bytes or None without CUDA, best half dtype, device name)."""
    import torch

    if not torch.cuda.is_available():
        return None, "float32", "cpu"
    free, _total = torch.cuda.mem_get_info()
    dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return int(free), dtype, torch.cuda.get_device_name(0)


def apply_memory_plan(
    pipe: Any, plan: MemoryPlan, *, denoisers: tuple[str, ...] = ("transformer", "transformer_2")
) -> None:
    """Place a loaded pipeline per the plan: layerwise casting first, then the offload hooks, then VAE tiling."""
    import torch

    if plan.fp8_layerwise:
        compute = getattr(torch, plan.dtype)
        for name in denoisers:
            module = getattr(pipe, name, None)
            if module is not None and hasattr(module, "enable_layerwise_casting"):
                module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute)
    if plan.device == "cpu":
        pipe.to("cpu")
    elif plan.strategy == "none":
        pipe.to("cuda")
    elif plan.strategy == "model-offload":
        pipe.enable_model_cpu_offload(device="cuda")
    elif plan.strategy == "group-offload":
        pipe.enable_group_offload(
            onload_device=torch.device("cuda"),
            offload_device=torch.device("cpu"),
            offload_type="leaf_level",
            use_stream=True,
        )
    else:
        pipe.enable_sequential_cpu_offload(device="cuda")
    vae = getattr(pipe, "vae", None)
    if plan.vae_tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
