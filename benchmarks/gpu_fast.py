"""The few-step part of gpu_check: base recipe vs fast recipe, film time, and Tale ÷ plain diffusers per step.

For each model (Wan 2.1 T2V, LTX-Video) at full size with random bf16 weights: a random rank-64 LoRA is saved
and fused through Tale's own recipe path (`[[video.lora]]`), the fast recipe's scheduler, shift, steps and
guidance are set, and
- Tale's fast clip (all steps + VAE decode) is timed, then the same pipeline object called directly by plain
  diffusers with the same settings (same LoRA, fused; same scheduler): the per-step ratio, goal ≤ 1.03;
- the base recipe (50 steps with classifier-free guidance) is timed for a few steps and extrapolated;
- both are projected to the 8-shot example's film (examples/story.md: 8 shots × 8 s), goal ≥ 10× faster.

`plan()` is pure (no torch): `gpu_check.py --dry-run` prints it, and a CPU test runs it.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EXAMPLE_SHOTS, EXAMPLE_SECONDS = 8, 8.0
STEP_GOAL, SPEEDUP_GOAL = 1.03, 10.0
LTX_DISTILLED_TIMESTEPS = [1000, 993, 987, 981, 975, 909, 725, 0.03]


@dataclass
class FastPlan:
    """What one model's fast check runs: its native clip, the base and fast settings, the film it projects."""

    model: str
    native: tuple[int, int, int, int]  # width, height, frames, fps
    base_steps: int
    base_guidance: float
    base_timed_steps: int
    fast_steps: int
    fast_guidance: float
    fast_options: dict[str, Any] = field(default_factory=dict)
    lora_rank: int = 64
    film_shots: int = EXAMPLE_SHOTS
    shot_seconds: float = EXAMPLE_SECONDS

    @property
    def clips_per_shot(self) -> int:
        _, _, frames, fps = self.native
        return max(1, math.ceil(self.shot_seconds / (frames / fps) - 1e-6))

    def describe(self) -> str:
        width, height, frames, fps = self.native
        return (
            f"{self.model}: {width}x{height}x{frames}@{fps}; base {self.base_steps} steps guidance "
            f"{self.base_guidance:g} (timed {self.base_timed_steps}, extrapolated); fast {self.fast_steps} steps "
            f"guidance {self.fast_guidance:g} {self.fast_options or ''} + random rank-{self.lora_rank} LoRA; film "
            f"{self.film_shots} shots × {self.clips_per_shot} clips"
        )


def plan(models: list[str], *, tiny: bool) -> list[FastPlan]:
    """The fast checks for `models` ("wan", "wan14b", "ltx"); tiny sizes run the same logic on the CPU."""
    plans: list[FastPlan] = []
    for name in models:
        if name in ("wan", "wan14b"):
            native = (32, 32, 9, 8) if tiny else ((1280, 720, 81, 16) if name == "wan14b" else (832, 480, 81, 16))
            plans.append(FastPlan(
                model="wan2.1-t2v-14b" if name == "wan14b" else "wan2.1-t2v-1.3b", native=native, base_steps=50,
                base_guidance=5.0, base_timed_steps=3, fast_steps=4, fast_guidance=1.0,
                fast_options={"scheduler": "euler", "shift": 5.0}, lora_rank=4 if tiny else 64,
            ))  # fmt: skip
        elif name == "ltx":
            plans.append(FastPlan(
                model="ltx-video", native=(32, 32, 9, 8) if tiny else (768, 512, 121, 24), base_steps=50,
                base_guidance=3.0, base_timed_steps=3, fast_steps=8, fast_guidance=1.0,
                fast_options={"timesteps": LTX_DISTILLED_TIMESTEPS, "decode_timestep": 0.05,
                              "decode_noise_scale": 0.025},
                lora_rank=4 if tiny else 64,
            ))  # fmt: skip
        else:
            raise ValueError(f"unknown fast-check model '{name}' (valid: wan, wan14b, ltx)")
    return plans


def random_lora(pipe: Any, rank: int, folder: Path) -> Path:
    """A random LoRA over every attention projection of the denoiser, saved in diffusers' format."""
    import torch

    state: dict[str, Any] = {}
    generator = torch.Generator("cpu").manual_seed(0)
    for name, module in pipe.transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and re.search(r"\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$", name):
            state[f"{name}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=generator) * 0.01
            state[f"{name}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=generator) * 0.01
    type(pipe).save_lora_weights(str(folder), transformer_lora_layers=state, weight_name="random-lora.safetensors")
    return folder / "random-lora.safetensors"


def run_fast(
    fast: FastPlan,
    pipe: Any,
    *,
    cuda: bool,
    prompt: str,
    negative: str,
    timer: Any,
    measure: Any,
    recipe: Any,
    say: Any,
) -> dict[str, Any]:
    """Time the base (a few steps, extrapolated), Tale's fast clip and plain diffusers' fast clip on one pipeline."""
    import torch

    from tale_cli.backends.diffusers.video import DiffusersVideo
    from tale_cli.config import LoraConfig
    from tale_cli.pipeline.bench import project_film

    width, height, frames, fps = fast.native
    row: dict[str, Any] = {"plan": asdict(fast)}
    call = {"prompt": prompt, "negative_prompt": negative, "height": height, "width": width, "num_frames": frames}

    def plain(steps: int, guidance: float, **extra: Any) -> dict[str, Any]:
        marks = timer(cuda)
        _, total, peak = measure(
            lambda: pipe(**call, num_inference_steps=steps, guidance_scale=guidance, output_type="np",
                         generator=torch.Generator("cpu").manual_seed(0), callback_on_step_end=marks, **extra),
            cuda,
        )  # fmt: skip
        per_step = (marks.marks[-1] - marks.marks[0]) / (len(marks.marks) - 1) if len(marks.marks) > 1 else None
        return {"seconds_per_step": per_step, "total_s": total, "peak_gib": peak}

    say(f"base, {fast.base_timed_steps} steps with guidance {fast.base_guidance:g} + decode")
    base = plain(fast.base_timed_steps, fast.base_guidance)
    row["base_timed"] = base
    with tempfile.TemporaryDirectory(prefix="tale-gpu-lora-") as folder:
        lora = LoraConfig(file=str(random_lora(pipe, fast.lora_rank, Path(folder))), scale=1.0)
        native = {"native_width": width, "native_height": height, "native_frames": frames, "native_fps": fps}
        backend = DiffusersVideo(
            recipe(fast.model, fast.fast_steps, {**native, **fast.fast_options}, guidance=fast.fast_guidance,
                   lora=[lora]),
            pipeline=pipe, say=say,
        )  # fmt: skip
        say(f"Tale fast recipe ({fast.fast_steps} steps, LoRA fused, {fast.fast_options})")
        (_, stats), total, peak = measure(
            lambda: backend.generate(prompt, negative_prompt=negative, frames=frames, seed=0), cuda
        )
        tale = {"seconds_per_step": stats["seconds_per_step"], "total_s": total, "peak_gib": peak}
        row["tale_fast"], row["speedups"] = tale, list(backend.speedups)
    extra = {k: v for k, v in fast.fast_options.items() if k in ("timesteps", "decode_timestep", "decode_noise_scale")}
    say("plain diffusers, same pipeline, LoRA and scheduler")
    row["plain_fast"] = plain_fast = plain(fast.fast_steps, fast.fast_guidance, **extra)
    if tale["seconds_per_step"] and plain_fast["seconds_per_step"]:
        row["ratio_step"] = tale["seconds_per_step"] / plain_fast["seconds_per_step"]
    film = project_film(
        seconds_per_clip=tale["total_s"], seconds_per_step=tale["seconds_per_step"], steps=fast.fast_steps,
        guidance=fast.fast_guidance, shots=fast.film_shots, shot_seconds=fast.shot_seconds,
        clip_seconds=frames / fps, base_recipe=f"{fast.base_steps} steps", base_steps=fast.base_steps,
        base_guidance=fast.base_guidance,
        base_measured=_extrapolate(base, fast.base_timed_steps, fast.base_steps),
    )  # fmt: skip
    row["film"] = asdict(film)
    row["goals"] = {"ratio_step_ok": row.get("ratio_step", math.inf) <= STEP_GOAL,
                    "speedup_ok": film.speedup >= SPEEDUP_GOAL}  # fmt: skip
    return row


def _extrapolate(timed: dict[str, Any], timed_steps: int, steps: int) -> float | None:
    """A base clip at `steps` from a run of `timed_steps`: the time outside denoising plus `steps` × s/step."""
    per_step = timed.get("seconds_per_step")
    if not per_step:
        return None
    outside = max(0.0, timed["total_s"] - timed_steps * per_step)
    return outside + steps * per_step


def print_fast(rows: dict[str, dict[str, Any]]) -> None:
    if not rows:
        return
    print()
    print(f"{'model':<18} {'base film s':>12} {'fast film s':>12} {'speed-up':>9} {'Tale÷diffusers':>15}")
    print("-" * 70)
    for name, row in rows.items():
        film = row.get("film")
        if not film:
            continue
        ratio = f"{row['ratio_step']:.3f}" if "ratio_step" in row else "-"
        print(f"{name:<18} {film['base_film_s']:>12.1f} {film['film_s']:>12.1f} {film['speedup']:>8.2f}× {ratio:>15}")
    print(f"film: the 8-shot example ({EXAMPLE_SHOTS} × {EXAMPLE_SECONDS:g} s); base extrapolated from its timed steps;"
          f" goals: speed-up ≥ {SPEEDUP_GOAL:g}×, Tale ÷ diffusers per step ≤ {STEP_GOAL}")  # fmt: skip
