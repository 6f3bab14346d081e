"""`tale bench`: time one native clip of a local recipe and record GPU-seconds per clip for `tale cost`.

The record lives in one JSON file (`TALE_BENCH_FILE`, else `$XDG_CACHE_HOME/tale/bench.json`) in the
shape `tale cost --benchmark FILE` reads: {"results": [{"model", "gpu", "seconds_per_clip", "steps", …}]},
one entry per recipe, the newest measurement winning. `gpu_seconds_per_clip()` reads one back.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import OutputError, RecipeError
from tale_cli.registry import backend_runs_locally

if TYPE_CHECKING:
    from tale_cli.backends.base import VideoBackend
    from tale_cli.config import Recipe

BENCH_VERSION = 1


@dataclass
class BenchResult:
    recipe: str
    backend: str
    model: str
    device: str
    clip_seconds: float
    seconds_per_clip: float
    seconds_per_step: float | None
    steps: int | None
    native: str | None
    peak_vram_gb: float | None
    load_s: float | None
    memory: dict[str, Any] | None
    speedups: list[str] = field(default_factory=list)
    measured_at: str = ""
    film: FilmProjection | None = None

    @property
    def gpu_seconds_per_video_second(self) -> float:
        return self.seconds_per_clip / self.clip_seconds if self.clip_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["gpu"] = gpu_key(self.device)
        data["source"] = f"tale bench --recipe {self.recipe}"
        data["gpu_seconds_per_video_second"] = round(self.gpu_seconds_per_video_second, 4)
        if self.film is None:
            data.pop("film")
        return data


@dataclass
class FilmProjection:
    """The whole film at the measured speed, and the many-step base it is compared with."""

    shots: int
    clips_per_shot: int
    film_s: float
    base_recipe: str | None
    base_steps: int
    base_seconds_per_clip: float
    base_film_s: float
    base_source: str
    speedup: float


def project_film(
    *,
    seconds_per_clip: float,
    seconds_per_step: float | None,
    steps: int | None,
    guidance: float | None,
    shots: int,
    shot_seconds: float,
    clip_seconds: float,
    base_recipe: str | None = None,
    base_steps: int = 50,
    base_guidance: float | None = None,
    base_measured: float | None = None,
) -> FilmProjection:
    """Film time = shots × native clips per shot × seconds per clip (a chained clip repeats one frame: rounded up).

    The base clip is the bench file's measurement of the base recipe on the same GPU when there is one; else it
    is estimated from this run: the time outside denoising, plus the base's steps at this run's per-step time,
    doubled when the base uses classifier-free guidance and this recipe does not (two passes a step).
    """
    clips = max(1, math.ceil(shot_seconds / clip_seconds - 1e-6)) if clip_seconds > 0 else 1
    film = shots * clips * seconds_per_clip
    if base_measured is not None:
        base_clip, source = base_measured, "measured"
    else:
        per_step = seconds_per_step or (seconds_per_clip / steps if steps else 0.0)
        outside = max(0.0, seconds_per_clip - (steps or 0) * per_step)
        passes = 2 if (base_guidance or 0) > 1.0 and (guidance or 0) <= 1.0 else 1
        base_clip, source = outside + base_steps * per_step * passes, "estimated from this run's s/step"
    base_film = shots * clips * base_clip
    return FilmProjection(
        shots=shots, clips_per_shot=clips, film_s=round(film, 2), base_recipe=base_recipe, base_steps=base_steps,
        base_seconds_per_clip=round(base_clip, 3), base_film_s=round(base_film, 2), base_source=source,
        speedup=round(base_film / film, 2) if film > 0 else 0.0,
    )  # fmt: skip


_GPU_KEYS = (("h200", "h200"), ("h100", "h100-80gb"), ("a100", "a100-80gb"), ("a10g", "a10g"), ("l40s", "l40s"),
             ("4090", "rtx-4090"), ("3090", "rtx-3090"))  # fmt: skip


def gpu_key(device: str) -> str:
    """A short GPU name as price books key them ('NVIDIA H100 80GB HBM3' -> 'h100-80gb')."""
    lowered = device.lower()
    for needle, key in _GPU_KEYS:
        if needle in lowered:
            return "a100-40gb" if key == "a100-80gb" and "40gb" in lowered else key
    return re.sub(r"[^a-z0-9]+", "-", lowered).strip("-") or "cpu"


def bench_file() -> Path:
    explicit = os.environ.get("TALE_BENCH_FILE")
    if explicit:
        return Path(explicit).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tale" / "bench.json"


def read_bench(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Recipe name -> its newest measurement; an unreadable or missing file reads as empty."""
    path = path or bench_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        return {}
    return {str(r["recipe"]): r for r in results if isinstance(r, dict) and r.get("recipe")}


def record_bench(result: BenchResult, path: Path | None = None) -> Path:
    path = path or bench_file()
    entries = read_bench(path)
    entries[result.recipe] = result.to_json()
    document = {"version": BENCH_VERSION, "results": [entries[name] for name in sorted(entries)]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        part.replace(path)
    except OSError as error:
        raise OutputError(
            f"cannot write {path}: {error.strerror}", hint="set TALE_BENCH_FILE to a writable path"
        ) from None
    return path


def gpu_seconds_per_clip(recipe: str, path: Path | None = None) -> tuple[float, float] | None:
    """(GPU-seconds for one clip, that clip's seconds) measured for `recipe`, or None if never benched."""
    entry = read_bench(path).get(recipe)
    if not entry:
        return None
    try:
        return float(entry["seconds_per_clip"]), float(entry["clip_seconds"])
    except (KeyError, TypeError, ValueError):
        return None


def _device_name() -> str:
    import sys

    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    return "cpu"


def run_bench(recipe: Recipe, *, warmup: bool = True, backend: VideoBackend | None = None) -> BenchResult:
    """Render one clip of the model's native length (after a warm-up clip that pays for loading)."""
    from tale_cli.backends import video_backend
    from tale_cli.backends.base import ShotRequest
    from tale_cli.executors.processes import NullJournal
    from tale_cli.story.plan import Plan, Shot

    backend = backend or video_backend(recipe)
    if not backend_runs_locally(backend.name):
        raise RecipeError(f"tale bench measures local backends; '{backend.name}' runs elsewhere")
    native = backend.capabilities().native_seconds
    seconds = round(native, 3) if native is not None else recipe.seconds
    fps = recipe.fps
    prompt = "A red fox runs through a snowy forest at dawn, cinematic, detailed fur, soft light"
    shot = Shot(index=1, duration_s=seconds, prompt=prompt)
    plan = Plan(title="bench", slug="bench", width=recipe.width, height=recipe.height, fps=fps, shots=[shot])
    try:
        with tempfile.TemporaryDirectory(prefix="tale-bench-") as folder:
            times: list[float] = []
            notes: dict[str, Any] = {}
            for run in range(2 if warmup else 1):
                request = ShotRequest(
                    plan=plan, shot=shot, prompt=prompt, negative_prompt="blurry, low quality",
                    width=plan.width, height=plan.height, fps=fps, duration_s=seconds, seed=run,
                    output=Path(folder) / f"bench-{run}.mp4.part", journal=NullJournal(),
                )  # fmt: skip
                started = time.perf_counter()
                result = backend.render_shot(request)
                times.append(time.perf_counter() - started)
                notes = result.notes
    finally:
        backend.close()
    seconds_per_clip = round(float(notes.get("generate_s") or times[-1]), 3)
    return BenchResult(
        recipe=recipe.name,
        backend=backend.name,
        model=recipe.video.model or backend.name,
        device=_device_name(),
        clip_seconds=seconds,
        seconds_per_clip=seconds_per_clip,
        seconds_per_step=notes.get("seconds_per_step"),
        steps=notes.get("steps"),
        native=notes.get("native"),
        peak_vram_gb=notes.get("peak_vram_gb"),
        load_s=notes.get("load_s"),
        memory=notes.get("memory"),
        speedups=list(notes.get("speedups", [])),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        film=_projection(recipe, notes, seconds_per_clip, seconds),
    )


def _projection(recipe: Recipe, notes: dict[str, Any], seconds_per_clip: float, clip_seconds: float) -> FilmProjection:
    """The recipe's whole film, and the speed-up over its base recipe (measured on this GPU if benched)."""
    from tale_cli.config import load_recipe

    base = load_recipe(recipe.base) if recipe.base else None
    measured = read_bench().get(base.name) if base else None
    same_gpu = measured is not None and measured.get("gpu") == gpu_key(_device_name())
    return project_film(
        seconds_per_clip=seconds_per_clip,
        seconds_per_step=notes.get("seconds_per_step"),
        steps=notes.get("steps"),
        guidance=recipe.video.guidance,
        shots=recipe.shots,
        shot_seconds=recipe.seconds,
        clip_seconds=clip_seconds,
        base_recipe=base.name if base else None,
        base_steps=(base.video.steps if base and base.video.steps else 50),
        base_guidance=base.video.guidance if base else 5.0,
        base_measured=float(measured["seconds_per_clip"]) if same_gpu and measured else None,
    )
