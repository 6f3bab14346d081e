from __future__ import annotations

import pytest

from tale_cli.backends.diffusers.memory import GB, MemoryPlan, choose_memory_plan

# Weights in bf16 as the checkpoints' safetensors headers give them.
COGVIDEOX_5B = {"transformer": int(11.1 * GB), "text_encoder": int(9.5 * GB), "vae": int(0.4 * GB)}
WAN_1_3B = {"transformer": int(2.8 * GB), "text_encoder": int(11.4 * GB), "vae": int(0.25 * GB)}
WAN_14B = {"transformer": int(28.6 * GB), "text_encoder": int(11.4 * GB), "vae": int(0.25 * GB)}


def plan_for(
    weights: dict[str, int], free_gb: float, mode: str = "auto", act: float = 5.0, vae: float = 14.0, tiled: float = 2.5
):
    return choose_memory_plan(
        mode,  # type: ignore[arg-type]
        free_bytes=int(free_gb * GB),
        weights=weights,
        activation_bytes=int(act * GB),
        vae_decode_bytes=int(vae * GB),
        vae_tiled_bytes=int(tiled * GB),
    )


def test_an_80_gb_card_runs_cogvideox_5b_without_offload() -> None:
    plan = plan_for(COGVIDEOX_5B, 79.0)
    assert (plan.strategy, plan.vae_tiling, plan.fp8_layerwise) == ("none", False, False)
    assert plan.describe().startswith("memory: none, bfloat16 on cuda (needs about")


def test_a_24_gb_card_renders_cogvideox_5b_with_model_offload() -> None:
    plan = plan_for(COGVIDEOX_5B, 23.0)
    assert plan.strategy == "model-offload" and plan.vae_tiling and not plan.fp8_layerwise
    assert plan.needed_bytes is not None and plan.needed_bytes <= 23 * GB


def test_a_24_gb_card_renders_wan_1_3b_without_offload_but_tiled() -> None:
    plan = plan_for(WAN_1_3B, 23.0, act=4.0, vae=9.0)
    assert (plan.strategy, plan.vae_tiling) == ("none", True)


def test_smaller_cards_step_down_to_fp8_then_group_then_sequential() -> None:
    offload = plan_for(WAN_14B, 48.0, act=12.0, vae=24.0, tiled=4.0)
    assert (offload.strategy, offload.fp8_layerwise) == ("model-offload", False)
    fp8 = plan_for(WAN_14B, 36.0, act=12.0, vae=24.0, tiled=4.0)
    assert (fp8.strategy, fp8.fp8_layerwise) == ("model-offload", True)
    assert plan_for(WAN_14B, 20.0, act=12.0, vae=24.0, tiled=4.0).strategy == "group-offload"
    assert plan_for(WAN_14B, 8.0, act=12.0, vae=24.0, tiled=4.0).strategy == "sequential-offload"


def test_speed_and_low_vram_override_the_fit() -> None:
    speed = plan_for(COGVIDEOX_5B, 23.0, mode="speed")
    assert speed.strategy == "none" and "may not fit" in speed.reason
    low = plan_for(COGVIDEOX_5B, 79.0, mode="low-vram")
    assert (low.strategy, low.vae_tiling) == ("group-offload", True)


def test_no_cuda_means_cpu_float32() -> None:
    plan = choose_memory_plan("auto", free_bytes=None, weights=COGVIDEOX_5B, activation_bytes=0,
                              vae_decode_bytes=0, vae_tiled_bytes=0)  # fmt: skip
    assert (plan.device, plan.dtype, plan.strategy) == ("cpu", "float32", "none")
    assert plan.describe() == "memory: none, float32 on cpu: no CUDA device"


@pytest.mark.parametrize("free_gb", [12.0, 30.0, 50.0, 90.0])
def test_the_chosen_plan_always_fits_what_it_claims(free_gb: float) -> None:
    plan = plan_for(COGVIDEOX_5B, free_gb)
    if plan.strategy != "sequential-offload":
        assert plan.needed_bytes is not None and plan.needed_bytes <= free_gb * GB


# Wan 2.1 T2V 14B in bf16: a 28 GiB transformer, an 11 GiB UMT5 encoder, a small VAE.
WAN_14B = {"transformer": 28 * GB, "text_encoder": 11 * GB, "vae": GB // 2}


def wan_14b(free_gb: float, *, quantize: str | None = None, can_quantize: str | None = None) -> MemoryPlan:
    return choose_memory_plan(
        "auto", free_bytes=int(free_gb * GB), weights=WAN_14B, activation_bytes=12 * GB,
        vae_decode_bytes=24 * GB, vae_tiled_bytes=4 * GB, quantize=quantize, can_quantize=can_quantize,
    )  # fmt: skip


def test_auto_quantises_when_the_bf16_weights_would_need_offload_and_says_so() -> None:
    without = wan_14b(48)
    assert without.strategy == "model-offload" and without.quantize is None
    plan = wan_14b(48, can_quantize="fp8")
    assert (plan.strategy, plan.quantize) == ("none", "fp8")
    assert "bfloat16 weights would need model-offload; fp8 weights fit without offload" in plan.describe()
    assert "fp8 weights" in plan.describe()


def test_auto_does_not_quantise_what_fits_or_what_the_recipe_forbids() -> None:
    assert wan_14b(80, can_quantize="int8").quantize is None
    forbidden = wan_14b(48, can_quantize="int8", quantize="none")
    assert forbidden.quantize is None and forbidden.strategy == "model-offload"
    # Too small even quantised: offload in bf16 rather than a quantised model that still does not fit.
    assert wan_14b(24, can_quantize="int8").quantize is None


def test_a_recipe_that_asks_for_int8_gets_it_and_its_smaller_footprint() -> None:
    plan = wan_14b(48, quantize="int8")
    assert (plan.strategy, plan.quantize, plan.fp8_layerwise) == ("none", "int8", False)
    cpu = choose_memory_plan("auto", free_bytes=None, weights=WAN_14B, activation_bytes=0, vae_decode_bytes=0,
                             vae_tiled_bytes=0, quantize="int8")  # fmt: skip
    assert cpu.device == "cpu" and cpu.quantize == "int8"
