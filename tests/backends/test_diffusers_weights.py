"""Recipe LoRAs, quantised weights and distillation schedulers on tiny random-weight pipelines (CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tale_cli.backends.diffusers.video import DiffusersVideo
from tale_cli.config import LoraConfig
from tale_cli.errors import BackendError, RecipeError

pytest.importorskip("diffusers")
pytest.importorskip("peft")

import tiny_pipelines
from tiny_pipelines import local_recipe, save_tiny_lora, shot_request


def built(family: str) -> Any:
    """A tiny pipeline in eval mode, as from_pretrained leaves one (a fresh module is in training mode: dropout)."""
    pipe = tiny_pipelines.BUILDERS[family]()
    for component in pipe.components.values():
        if hasattr(component, "eval"):
            component.eval()
    return pipe


def latents(backend: DiffusersVideo) -> Any:
    output, _ = backend.generate("a fox runs on the sea", seed=5, decode=False)
    return output


def counting_fuses(pipe: Any) -> list[int]:
    """Count the pipeline's fuse_lora calls (the instance attribute shadows the class method)."""
    calls: list[int] = []
    original = pipe.fuse_lora

    def fuse_lora(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    pipe.fuse_lora = fuse_lora
    return calls


@pytest.mark.parametrize("family", ["wan", "ltx"])
def test_a_lora_changes_the_output_and_is_fused_once(tmp_path: Path, family: str) -> None:
    lora = LoraConfig(file=str(save_tiny_lora(family, tmp_path / "lora")), scale=1.0)
    plain = latents(DiffusersVideo(local_recipe("tiny"), pipeline=built(family)))
    pipe = built(family)
    fuses = counting_fuses(pipe)
    first = DiffusersVideo(local_recipe("tiny", lora=[lora]), pipeline=pipe)
    with_lora = latents(first)
    fused_weight = pipe.transformer.transformer_blocks[0].attn1.to_q.weight.clone() if family == "ltx" else None

    assert (with_lora - plain).abs().max() > 1e-4
    assert any(line.startswith("lora tiny-lora.safetensors ×1") for line in first.speedups)
    # A second backend on the same loaded pipeline (a benchmark comparing settings) does not fuse again.
    second = DiffusersVideo(local_recipe("tiny", lora=[lora]), pipeline=pipe)
    assert (latents(second) - with_lora).abs().max() < 1e-5
    assert len(fuses) == 1
    if fused_weight is not None:
        assert pipe.transformer.transformer_blocks[0].attn1.to_q.weight.equal(fused_weight)
    # The adapter layers are gone after fusing: denoising runs plain linear layers.
    assert type(pipe.transformer.modules().__next__()).__name__.endswith("Model")
    assert not any("lora" in name for name, _ in pipe.transformer.named_modules())


def test_wan22_loras_go_to_the_expert_they_name(tmp_path: Path) -> None:
    high = LoraConfig(file=str(save_tiny_lora("wan", tmp_path / "high", seed=1)), expert="high-noise")
    low = LoraConfig(file=str(save_tiny_lora("wan", tmp_path / "low", seed=2)), expert="low-noise", scale=0.5)
    pipe = built("wan-a14b")
    before = [m.blocks[0].attn1.to_q.weight.clone() for m in (pipe.transformer, pipe.transformer_2)]

    DiffusersVideo(local_recipe("tiny", lora=[low]), pipeline=pipe).load()

    assert pipe.transformer.blocks[0].attn1.to_q.weight.equal(before[0])
    assert not pipe.transformer_2.blocks[0].attn1.to_q.weight.equal(before[1])
    other = built("wan-a14b")
    DiffusersVideo(local_recipe("tiny", lora=[high, low]), pipeline=other).load()
    assert not other.transformer.blocks[0].attn1.to_q.weight.equal(before[0])
    with pytest.raises(RecipeError, match=r"has two experts: LoRA .* must say which"):
        DiffusersVideo(local_recipe("tiny", lora=[LoraConfig(file=high.file)]), pipeline=built("wan-a14b"))
    with pytest.raises(RecipeError, match="has one denoiser"):
        DiffusersVideo(local_recipe("tiny", lora=[high]), pipeline=built("wan"))


def test_the_content_hash_follows_the_lora_and_its_scale(tiny_model, tmp_path: Path) -> None:
    file = str(save_tiny_lora("wan", tmp_path / "lora"))

    def fingerprint(*loras: LoraConfig) -> dict[str, Any]:
        return DiffusersVideo(local_recipe(tiny_model("wan"), lora=list(loras))).fingerprint()

    plain, full, half = fingerprint(), fingerprint(LoraConfig(file=file)), fingerprint(LoraConfig(file=file, scale=0.5))
    assert "loras" not in plain and full["loras"] == [{"source": file, "scale": 1.0, "expert": None}]
    assert len({str(plain), str(full), str(half)}) == 3


def test_a_recipe_lora_renders_through_from_pretrained(tiny_model, tmp_path: Path) -> None:
    lora = LoraConfig(file=str(save_tiny_lora("ltx", tmp_path / "lora")), scale=0.8)
    backend = DiffusersVideo(local_recipe(tiny_model("ltx"), lora=[lora]))
    notes = backend.render_shot(shot_request(tmp_path)).notes
    assert "lora tiny-lora.safetensors ×0.8" in notes["speedups"]
    missing = DiffusersVideo(
        local_recipe(tiny_model("ltx"), lora=[LoraConfig(file=str(tmp_path / "absent.safetensors"))])
    )
    with pytest.raises(Exception, match="LoRA file not found"):
        missing.render_shot(shot_request(tmp_path / "b"))


def test_a_lora_that_does_not_fit_the_model_fails_in_one_line(tmp_path: Path) -> None:
    wan_lora = LoraConfig(file=str(save_tiny_lora("wan", tmp_path / "lora")))
    with pytest.raises(BackendError, match="does not fit this model"):
        DiffusersVideo(local_recipe("tiny", lora=[wan_lora]), pipeline=built("ltx")).load()


def test_int8_weight_only_quantisation_on_the_cpu(tiny_model, tmp_path: Path) -> None:
    pytest.importorskip("torchao")
    backend = DiffusersVideo(local_recipe(tiny_model("wan"), quantize="int8"))
    notes = backend.render_shot(shot_request(tmp_path)).notes
    weight = backend._pipes["WanPipeline"].transformer.blocks[0].attn1.to_q.weight
    assert "Int8" in type(weight).__name__
    assert notes["memory"]["quantize"] == "int8"
    assert any(line.startswith("int8 weights (transformer") for line in notes["speedups"])
    assert backend.fingerprint()["quantize"] == "int8"


def test_fp8_needs_a_gpu_and_says_so(tiny_model) -> None:
    pytest.importorskip("torchao")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this checks the CPU refusal")
    with pytest.raises(BackendError, match="needs a CUDA GPU"):
        DiffusersVideo(local_recipe(tiny_model("wan"), quantize="fp8")).load()


@pytest.mark.gpu
def test_fp8_weight_only_quantisation_on_the_gpu(tiny_model, tmp_path: Path) -> None:
    pytest.importorskip("torchao")
    backend = DiffusersVideo(local_recipe(tiny_model("wan"), quantize="fp8"))
    notes = backend.render_shot(shot_request(tmp_path)).notes
    assert notes["memory"]["quantize"] == "fp8" and notes["memory"]["device"] == "cuda"


def test_a_distillation_scheduler_and_shift_are_set(tiny_model, tmp_path: Path) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model("wan"), options={"scheduler": "euler", "shift": 5.0}))
    backend.load()
    scheduler = backend._pipes["WanPipeline"].scheduler
    assert type(scheduler).__name__ == "FlowMatchEulerDiscreteScheduler" and scheduler.config.shift == 5.0
    assert "scheduler euler shift 5" in backend.speedups
    with pytest.raises(RecipeError, match="scheduler 'ddim' is not one of"):
        DiffusersVideo(local_recipe(tiny_model("wan"), options={"scheduler": "ddim"}))
    with pytest.raises(RecipeError, match="timesteps must be a list of 2 numbers"):
        DiffusersVideo(local_recipe(tiny_model("ltx"), options={"timesteps": [1000, 500, 0]}))
