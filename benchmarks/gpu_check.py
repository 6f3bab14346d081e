"""Tale's diffusers backend ÷ plain diffusers on one GPU: CogVideoX-5B and Wan 2.1 T2V 1.3B at full size.

The models are built from their published configs with random weights in bf16 (no downloads: only torch,
diffusers, transformers and accelerate are needed). Both paths run the same pipeline object at native
size with the same steps, guidance and seed, timed per denoising step (CUDA-synchronised callbacks) and
end to end; the goal is Tale ÷ diffusers ≤ 1.05. Then the speed options Tale can switch on — diffusers
cache hooks and regional torch.compile — are timed against Tale without them (denoising only).

Every optional part is guarded: a failure is reported in the table and the JSON, and the run goes on.
A time budget (default 420 s) skips what would not finish. Prints a table; writes $OUT/gpu_check.json
when OUT is set. `--tiny` runs the same logic with tiny configs on the CPU, to check the script itself.

Then the few-step checks (benchmarks/gpu_fast.py): base vs fast recipe on the 8-shot example's film, with a
random LoRA fused through the recipe path, and Tale ÷ plain diffusers per step at the fast settings.

    python benchmarks/gpu_check.py [--steps 5] [--budget-s 420] [--models wan,cogvideox] [--no-compile] [--tiny]
        [--fast-models wan,ltx|wan14b,ltx|none] [--dry-run]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_fast  # beside this script; imports nothing heavy

START = time.monotonic()
PROMPT = "A red fox runs through a snowy forest at dawn, cinematic, detailed fur, soft golden light"
NEGATIVE = "blurry, low quality, distorted"

# Published configs (transformer/config.json etc. of THUDM/CogVideoX-5b and Wan-AI/Wan2.1-T2V-1.3B-Diffusers).
T5_XXL = {"vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
          "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
          "feed_forward_proj": "gated-gelu", "layer_norm_epsilon": 1e-6, "decoder_start_token_id": 0}  # fmt: skip
UMT5_XXL = {**T5_XXL, "vocab_size": 256384}
MODELS: dict[str, dict[str, Any]] = {
    "cogvideox-5b": {
        "transformer": {"num_attention_heads": 48, "attention_head_dim": 64, "in_channels": 16, "out_channels": 16,
                        "time_embed_dim": 512, "text_embed_dim": 4096, "num_layers": 42, "sample_width": 90,
                        "sample_height": 60, "sample_frames": 49, "patch_size": 2, "temporal_compression_ratio": 4,
                        "max_text_seq_length": 226, "use_rotary_positional_embeddings": True},
        "vae": {"scaling_factor": 0.7},
        "text": T5_XXL,
        "native": (720, 480, 49),
        "caches": ["pab", "faster-cache", "first-block"],
    },
    "wan2.1-t2v-1.3b": {
        "transformer": {"patch_size": [1, 2, 2], "num_attention_heads": 12, "attention_head_dim": 128, "in_channels": 16,
                        "out_channels": 16, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 8960, "num_layers": 30,
                        "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024},
        "vae": {},
        "text": UMT5_XXL,
        "native": (832, 480, 81),
        "caches": ["first-block", "pab"],
    },
}  # fmt: skip
# The few-step check's models (benchmarks/gpu_fast.py): Wan 2.1 T2V 14B and LTX-Video 2B as published.
FAST_MODELS: dict[str, dict[str, Any]] = {
    "wan2.1-t2v-1.3b": MODELS["wan2.1-t2v-1.3b"],
    "wan2.1-t2v-14b": {**MODELS["wan2.1-t2v-1.3b"], "transformer": {
        **MODELS["wan2.1-t2v-1.3b"]["transformer"], "num_attention_heads": 40, "ffn_dim": 13824, "num_layers": 40}},
    "ltx-video": {"transformer": {}, "vae": {}, "text": T5_XXL},
}  # fmt: skip
TINY: dict[str, dict[str, Any]] = {
    "cogvideox-5b": {
        "transformer": {"num_attention_heads": 4, "attention_head_dim": 16, "in_channels": 16, "out_channels": 16,
                        "time_embed_dim": 8, "text_embed_dim": 32, "num_layers": 2, "sample_width": 4,
                        "sample_height": 4, "sample_frames": 9, "patch_size": 2, "max_text_seq_length": 226,
                        "use_rotary_positional_embeddings": True},
        "vae": {"block_out_channels": (8, 8, 8, 8), "layers_per_block": 1, "norm_num_groups": 2},
        "text": {"vocab_size": 200, "d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 1, "num_heads": 4,
                 "relative_attention_num_buckets": 8, "decoder_start_token_id": 0},
        "native": (32, 32, 9),
        "caches": ["pab", "faster-cache", "first-block"],
    },
    "wan2.1-t2v-1.3b": {
        "transformer": {"patch_size": [1, 2, 2], "num_attention_heads": 2, "attention_head_dim": 12, "in_channels": 16,
                        "out_channels": 16, "text_dim": 32, "freq_dim": 256, "ffn_dim": 32, "num_layers": 2,
                        "rope_max_seq_len": 32},
        "vae": {"base_dim": 3, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1},
        "text": {"vocab_size": 200, "d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 1, "num_heads": 4,
                 "relative_attention_num_buckets": 8, "decoder_start_token_id": 0},
        "native": (32, 32, 9),
        "caches": ["first-block", "pab"],
    },
}  # fmt: skip


TINY_FAST: dict[str, dict[str, Any]] = {
    "wan2.1-t2v-1.3b": TINY["wan2.1-t2v-1.3b"],
    "wan2.1-t2v-14b": TINY["wan2.1-t2v-1.3b"],
    "ltx-video": {
        "transformer": {"in_channels": 8, "out_channels": 8, "num_attention_heads": 4, "attention_head_dim": 8,
                        "cross_attention_dim": 32, "num_layers": 1, "caption_channels": 32},
        "vae": {"latent_channels": 8, "block_out_channels": (8, 8, 8, 8), "decoder_block_out_channels": (8, 8, 8, 8),
                "layers_per_block": (1, 1, 1, 1, 1), "decoder_layers_per_block": (1, 1, 1, 1, 1),
                "spatio_temporal_scaling": (True, True, False, False),
                "decoder_spatio_temporal_scaling": (True, True, False, False),
                "decoder_inject_noise": (False, False, False, False, False),
                "upsample_residual": (False, False, False, False), "upsample_factor": (1, 1, 1, 1),
                "timestep_conditioning": False, "patch_size": 1, "patch_size_t": 1, "encoder_causal": True,
                "decoder_causal": False},
        "text": TINY["wan2.1-t2v-1.3b"]["text"],
    },
}  # fmt: skip


def log(text: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {text}", flush=True)


def short_error(error: BaseException) -> str:
    lines = [line for line in traceback.format_exception_only(type(error), error)[-1].strip().splitlines() if line]
    return (lines[-1] if lines else type(error).__name__)[:300]


class Report:
    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.data: dict[str, Any] = {"models": {}, "errors": [], "skipped": []}

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - START)

    def error(self, model: str, part: str, error: BaseException) -> None:
        log(f"{model}: {part} FAILED: {short_error(error)}")
        self.data["errors"].append({"model": model, "part": part, "error": short_error(error),
                                    "trace": traceback.format_exc()[-1500:]})  # fmt: skip

    def skip(self, model: str, part: str, why: str) -> None:
        log(f"{model}: {part} skipped: {why}")
        self.data["skipped"].append({"model": model, "part": part, "why": why})


def tokenizer() -> Any:
    from transformers import T5Tokenizer

    words = [
        "<pad>",
        "</s>",
        "<unk>",
        "▁",
        *(f"▁{w}" for w in PROMPT.lower().replace(",", "").split()),
        *"abcdefghijklmnopqrstuvwxyz,.",
    ]
    unique = list(dict.fromkeys(words))
    return T5Tokenizer(vocab=[(w, 0.0 if i < 3 else -float(i)) for i, w in enumerate(unique)], extra_ids=0)


def construct(factory: Any, device: str, dtype: Any) -> Any:
    """Build a module straight on the device in the target dtype (random init there is fast)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            return factory().eval()
    finally:
        torch.set_default_dtype(previous)


def build(name: str, spec: dict[str, Any], device: str, dtype: Any) -> Any:
    import torch
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    if name.startswith("cogvideox"):
        from diffusers import (
            AutoencoderKLCogVideoX,
            CogVideoXDPMScheduler,
            CogVideoXPipeline,
            CogVideoXTransformer3DModel,
        )

        transformer = construct(lambda: CogVideoXTransformer3DModel(**spec["transformer"]), device, dtype)
        vae = construct(lambda: AutoencoderKLCogVideoX(**spec["vae"]), device, dtype)
        text = construct(lambda: T5EncoderModel(T5Config(**spec["text"])), device, dtype)
        scheduler = CogVideoXDPMScheduler(
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
            prediction_type="v_prediction",
            rescale_betas_zero_snr=True,
            snr_shift_scale=1.0,
            timestep_spacing="trailing",
            clip_sample=False,
        )
        return CogVideoXPipeline(
            tokenizer=tokenizer(), text_encoder=text, vae=vae, transformer=transformer, scheduler=scheduler
        )
    if name.startswith("ltx"):
        from diffusers import (
            AutoencoderKLLTXVideo,
            FlowMatchEulerDiscreteScheduler,
            LTXConditionPipeline,
            LTXVideoTransformer3DModel,
        )

        transformer = construct(lambda: LTXVideoTransformer3DModel(**spec["transformer"]), device, dtype)
        vae = construct(lambda: AutoencoderKLLTXVideo(**spec["vae"]), device, dtype)
        text = construct(lambda: T5EncoderModel(T5Config(**spec["text"])), device, dtype)
        scheduler = FlowMatchEulerDiscreteScheduler()
        # 0.9.5+ layout: the condition pipeline is the one that takes the distilled timestep list.
        return LTXConditionPipeline(
            scheduler=scheduler, vae=vae, text_encoder=text, tokenizer=tokenizer(), transformer=transformer
        )
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    transformer = construct(lambda: WanTransformer3DModel(**spec["transformer"]), device, dtype)
    for parameter_name, parameter in transformer.named_parameters():
        if any(keep in parameter_name for keep in getattr(transformer, "_keep_in_fp32_modules", None) or ()):
            parameter.data = parameter.data.float()
    vae = construct(lambda: AutoencoderKLWan(**spec["vae"]), device, torch.float32)  # Tale loads Wan's VAE in fp32
    text_cls, text_config = (
        (UMT5EncoderModel, UMT5Config) if spec["text"]["vocab_size"] > 100_000 else (T5EncoderModel, T5Config)
    )
    text = construct(lambda: text_cls(text_config(**spec["text"])), device, dtype)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return WanPipeline(tokenizer=tokenizer(), text_encoder=text, vae=vae, transformer=transformer, scheduler=scheduler)


class Timer:
    """Plain diffusers' side of the timing: the same synchronised per-step marks Tale takes."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.marks: list[float] = []

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        self.marks.append(time.perf_counter())
        return kwargs


def measure(fn: Any, cuda: bool) -> tuple[Any, float, float | None]:
    import torch

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = fn()
    if cuda:
        torch.cuda.synchronize()
    total = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 1024**3 if cuda else None
    return result, total, peak


def recipe(
    model: str,
    steps: int,
    native: dict[str, Any],
    *,
    cache: str = "none",
    compile_: bool = False,
    guidance: float | None = None,
    lora: list[Any] | None = None,
) -> Any:
    """The recipe fields the diffusers backend reads, without needing pydantic on the GPU box."""
    video = SimpleNamespace(model=model, steps=steps, guidance=guidance, memory="auto", cache=cache, compile=compile_,
                            attention=None, options=dict(native), quantize=None, lora=list(lora or []))  # fmt: skip
    return SimpleNamespace(name="gpu-check", video=video, image=SimpleNamespace(backend="preview", model=""))


def run_model(name: str, spec: dict[str, Any], args: argparse.Namespace, report: Report) -> None:
    import torch

    from tale_cli.backends.diffusers.video import DiffusersVideo

    cuda = torch.cuda.is_available() and not args.tiny
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    width, height, frames = spec["native"]
    row: dict[str, Any] = {"native": f"{width}x{height}x{frames}", "steps": args.steps, "runs": [], "speedups": {}}
    report.data["models"][name] = row
    log(f"{name}: building at full size in {str(dtype).replace('torch.', '')} on {device}")
    try:
        pipe, row["build_s"], _ = measure(lambda: build(name, spec, device, dtype), cuda)
        pipe.set_progress_bar_config(disable=True)
        row["params_b"] = round(sum(p.numel() for p in pipe.transformer.parameters()) / 1e9, 3)
    except Exception as error:
        report.error(name, "build", error)
        return
    guidance = 6.0 if name.startswith("cogvideox") else 5.0
    plain_kwargs = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "height": height, "width": width,
                    "num_frames": frames, "guidance_scale": guidance}  # fmt: skip

    def plain(steps: int, output_type: str) -> dict[str, Any]:
        timer = Timer(cuda)
        _, total, peak = measure(
            lambda: pipe(
                **plain_kwargs,
                num_inference_steps=steps,
                output_type=output_type,
                generator=torch.Generator("cpu").manual_seed(0),
                callback_on_step_end=timer,
            ),
            cuda,
        )
        per_step = (timer.marks[-1] - timer.marks[0]) / (len(timer.marks) - 1) if len(timer.marks) > 1 else None
        return {"seconds_per_step": per_step, "total_s": total, "peak_gib": peak}

    def tale(backend: Any, decode: bool) -> dict[str, Any]:
        (_, stats), total, peak = measure(
            lambda: backend.generate(PROMPT, negative_prompt=NEGATIVE, frames=frames, seed=0, decode=decode), cuda
        )
        return {"seconds_per_step": stats["seconds_per_step"], "total_s": total, "peak_gib": peak}

    try:
        log(f"{name}: warm-up (1 step and a VAE decode, so neither timed path pays first-call costs)")
        plain(1, "np")
        log(f"{name}: plain diffusers, {args.steps} steps + VAE decode")
        base = {"path": "diffusers", "decode": True, **plain(args.steps, "np")}
        row["runs"].append(base)
        log(f"{name}: diffusers {base['seconds_per_step']:.3f} s/step, {base['total_s']:.1f} s total")
    except Exception as error:
        report.error(name, "plain diffusers", error)
        return
    native = {"native_width": width, "native_height": height, "native_frames": frames}
    try:
        backend = DiffusersVideo(recipe(name, args.steps, native), pipeline=pipe, say=lambda t: log(f"{name}: {t}"))
        backend.load()
        row["memory"] = backend.memory_plan.describe() if backend.memory_plan else None
        if backend.memory_plan is not None and backend.memory_plan.strategy != "none":
            report.skip(
                name, "same-settings comparison", f"Tale chose {backend.memory_plan.strategy}; diffusers ran without"
            )
        log(f"{name}: Tale backend, {args.steps} steps + VAE decode")
        ours = {"path": "tale", "decode": True, **tale(backend, True)}
        row["runs"].append(ours)
        row["ratio_step"] = ours["seconds_per_step"] / base["seconds_per_step"]
        row["ratio_total"] = ours["total_s"] / base["total_s"]
        log(f"{name}: tale {ours['seconds_per_step']:.3f} s/step; Tale ÷ diffusers {row['ratio_step']:.3f} per step, "
            f"{row['ratio_total']:.3f} end to end")  # fmt: skip
    except Exception as error:
        report.error(name, "tale backend", error)
        return
    reference = ours["seconds_per_step"]
    for cache in spec["caches"]:
        need = args.steps * reference * 1.5 + 10
        if report.left() < need:
            report.skip(name, f"cache {cache}", f"time budget ({report.left():.0f} s left, needs ~{need:.0f} s)")
            continue
        try:
            log(f"{name}: Tale with cache {cache} ({args.steps} steps, no decode)")
            variant = DiffusersVideo(
                recipe(name, args.steps, native, cache=cache), pipeline=pipe, say=lambda t: log(f"{name}: {t}")
            )
            run = {"path": f"tale + cache {cache}", "decode": False, **tale(variant, False)}
            row["runs"].append(run)
            row["speedups"][f"cache {cache}"] = reference / run["seconds_per_step"]
        except Exception as error:
            report.error(name, f"cache {cache}", error)
        finally:
            try:
                if getattr(pipe.transformer, "is_cache_enabled", False):
                    pipe.transformer.disable_cache()
            except Exception as error:
                report.error(name, f"disable cache {cache}", error)
                return
    compile_need = 2 * args.steps * reference + (30 if args.tiny else 90)
    if args.no_compile:
        report.skip(name, "regional compile", "--no-compile")
    elif report.left() < compile_need:
        report.skip(name, "regional compile", f"time budget ({report.left():.0f} s left, needs ~{compile_need:.0f} s)")
    else:
        try:
            log(f"{name}: Tale with regional torch.compile (first call compiles)")
            compiled = DiffusersVideo(
                recipe(name, args.steps, native, compile_=True), pipeline=pipe, say=lambda t: log(f"{name}: {t}")
            )
            warm = tale(compiled, False)
            row["compile_first_call_s"] = warm["total_s"]
            run = {"path": "tale + regional compile", "decode": False, **tale(compiled, False)}
            row["runs"].append(run)
            row["speedups"]["regional compile"] = reference / run["seconds_per_step"]
        except Exception as error:
            report.error(name, "regional compile", error)


def run_fast_checks(plans: list[Any], args: argparse.Namespace, report: Report) -> None:
    """The few-step checks (benchmarks/gpu_fast.py), one freshly built pipeline per model, within the budget."""
    import torch

    cuda = torch.cuda.is_available() and not args.tiny
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    specs = TINY_FAST if args.tiny else FAST_MODELS
    rows = report.data.setdefault("fast", {})
    for fast in plans:
        if report.left() < 90:
            report.skip(fast.model, "few-step check", f"time budget ({report.left():.0f} s left)")
            continue
        log(f"{fast.model}: building for the few-step check ({fast.describe()})")
        try:
            pipe = build(fast.model, specs[fast.model], device, dtype)
            pipe.set_progress_bar_config(disable=True)
            rows[fast.model] = gpu_fast.run_fast(
                fast, pipe, cuda=cuda, prompt=PROMPT, negative=NEGATIVE, timer=Timer, measure=measure,
                recipe=recipe, say=lambda t, m=fast.model: log(f"{m}: {t}"),
            )  # fmt: skip
        except Exception as error:
            report.error(fast.model, "few-step check", error)
        pipe = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def print_table(report: Report) -> None:
    print()
    print(f"{'model':<18} {'path':<28} {'s/step':>8} {'total s':>8} {'peak GiB':>9} {'ratio':>7}")
    print("-" * 82)
    for name, row in report.data["models"].items():
        for run in row["runs"]:
            if run["path"] == "diffusers":
                ratio = ""
            elif run["path"] == "tale":
                ratio = f"{row.get('ratio_step', float('nan')):.3f}"
            else:
                key = run["path"].replace("tale + ", "")
                ratio = f"×{row['speedups'].get(key, float('nan')):.2f}"
            step = f"{run['seconds_per_step']:.3f}" if run.get("seconds_per_step") else "-"
            peak = f"{run['peak_gib']:.1f}" if run.get("peak_gib") is not None else "-"
            decode = "" if run["decode"] else " (no decode)"
            print(f"{name:<18} {(run['path'] + decode)[:28]:<28} {step:>8} {run['total_s']:>8.1f} {peak:>9} {ratio:>7}")
        if "ratio_total" in row:
            print(f"{name:<18} {'Tale ÷ diffusers end to end':<28} {'':>8} {'':>8} {'':>9} {row['ratio_total']:>7.3f}")
    print("ratio: Tale ÷ diffusers per step (goal ≤ 1.05); ×N: speed-up over Tale without the option, per step")
    for item in report.data["skipped"]:
        print(f"skipped  {item['model']}: {item['part']}: {item['why']}")
    for item in report.data["errors"]:
        print(f"FAILED   {item['model']}: {item['part']}: {item['error']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=420.0)
    parser.add_argument("--models", default="wan,cogvideox")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU: checks the script, not the GPU")
    parser.add_argument("--fast-models", default="wan,ltx", help="few-step checks: wan (1.3B), wan14b, ltx; or none")
    parser.add_argument("--dry-run", action="store_true", help="print what would run, import nothing heavy")
    args = parser.parse_args()
    fast_plans = gpu_fast.plan([m for m in args.fast_models.split(",") if m and m != "none"], tiny=args.tiny)
    if args.dry_run:
        print(f"cache/compile checks: {args.models} at {args.steps} steps; budget {args.budget_s:g} s")
        for fast in fast_plans:
            print("few-step check: " + fast.describe())
        return 0
    report = Report(args.budget_s)
    data = report.data
    data.update({"started": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
                 "steps": args.steps, "tiny": args.tiny})  # fmt: skip
    try:
        import diffusers
        import torch

        data.update({"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"})  # fmt: skip
        if not torch.cuda.is_available() and not args.tiny:
            raise RuntimeError("no CUDA device (use --tiny to check the script on the CPU)")
        if args.tiny:
            torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
        specs = TINY if args.tiny else MODELS
        wanted = [n for w in args.models.split(",") for n in specs if n.startswith(w.strip())]
        log(f"device {data['device']}, torch {torch.__version__}, diffusers {diffusers.__version__}, models {wanted}")
        for name in wanted:
            if report.left() < 60:
                report.skip(name, "everything", "time budget")
                continue
            try:
                run_model(name, specs[name], args, report)
            except Exception as error:
                report.error(name, "run", error)
            gc.collect()  # the pipeline went with run_model's frame: hand its memory back before the next model
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        run_fast_checks(fast_plans, args, report)
    except Exception as error:
        report.error("-", "setup", error)
    data["elapsed_s"] = round(time.monotonic() - START, 1)
    print_table(report)
    gpu_fast.print_fast(data.get("fast", {}))
    out = os.environ.get("OUT")
    if out:
        path = Path(out) / "gpu_check.json"
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 1 if data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
