"""The judge's cost against the render it judges: the 8-shot example rendered on the preview, then judged, each
measured in this run. Reports judging time ÷ render time for the no-model checks (`none`) and for the local judge
(OWLv2 + SigLIP 2 when their weights are pulled, else tiny random-weight stand-ins of the same code path, which time
the plumbing, not the real models). On a machine with CUDA the local judge runs on the GPU.

Goal: the judge's share of a local (GPU) render ≤ 10 %; the preview renders in seconds, so there the ratio is an
upper bound of that share.

Usage: python benchmarks/bench_judge.py [RUNS]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORY = ROOT / "examples" / "story.md"


def render(out: Path) -> tuple[Path, float]:
    command = [sys.executable, "-m", "tale_cli", "render", str(STORY), "--out", str(out), "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return Path(json.loads(done.stdout)["run_dir"]), time.perf_counter() - start


def judge_models(work: Path) -> tuple[str, str, str]:
    """The detector and embedder to time: the real ones when pulled, else tiny random-weight ones."""
    from tale_cli.backends.local.judge import DEFAULT_DETECTOR, DEFAULT_EMBEDDER
    from tale_cli.backends.models import resolve_model
    from tale_cli.errors import TaleError

    try:
        resolve_model(DEFAULT_DETECTOR)
        resolve_model(DEFAULT_EMBEDDER)
        return DEFAULT_DETECTOR, DEFAULT_EMBEDDER, "real weights"
    except TaleError:
        sys.path.insert(0, str(ROOT / "tests"))
        import tiny_judges

        detector = tiny_judges.save_detector(work / "detector")
        embedder = tiny_judges.save_embedder(work / "embedder")
        return str(detector), str(embedder), "tiny random-weight stand-ins (no weights pulled)"


def judge(run_dir: Path, recipe: Path | None, backend: str | None) -> float:
    command = [sys.executable, "-m", "tale_cli", "judge", str(run_dir), "--json"]
    command += ["--recipe", str(recipe)] if recipe else []
    command += ["--backend", backend] if backend else []
    shutil.rmtree(run_dir / "judge", ignore_errors=True)  # judged afresh, never from the cache
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        detector, embedder, which = judge_models(work)
        recipe = work / "judged.toml"
        recipe.write_text(
            (ROOT / "recipes" / "preview.toml").read_text(encoding="utf-8")
            + f'\n[judge]\nbackend = "local"\ndetector = "{detector}"\nembedder = "{embedder}"\n',
            encoding="utf-8",
        )
        renders, checks, local = [], [], []
        for run in range(runs):
            run_dir, seconds = render(work / f"out-{run}")
            renders.append(seconds)
            checks.append(judge(run_dir, None, "none"))
            local.append(judge(run_dir, recipe, None))
    rendered, checked, judged = min(renders), min(checks), min(local)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"preview render of the 8-shot example: {rendered:.2f} s (best of {runs})")
    print(f"no-model checks (none): {checked:.2f} s; ratio checks/render = {checked / rendered:.3f}")
    print(f"local judge on {device}, {which}: {judged:.2f} s; ratio judge/render = {judged / rendered:.3f}")
    print("goal: the judge's share of a local GPU render <= 0.10 (a GPU render takes minutes a shot, not seconds)")


if __name__ == "__main__":
    main()
