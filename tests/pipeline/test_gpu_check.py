"""benchmarks/gpu_check.py is ready for a lent GPU: its plan, its dry run and its few-step logic on tiny models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def run(*args: str, out: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent.parent)}
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=900)


def test_the_dry_run_prints_the_few_step_plan_and_imports_nothing_heavy() -> None:
    done = run("--dry-run", "--fast-models", "wan14b,ltx")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("few-step check: ")]
    assert len(lines) == 2
    assert "wan2.1-t2v-14b: 1280x720x81@16; base 50 steps guidance 5" in lines[0] and "fast 4 steps" in lines[0]
    assert "ltx-video: 768x512x121@24" in lines[1] and "fast 8 steps" in lines[1]
    assert "film 8 shots × 2 clips" in lines[0]
    bad = run("--dry-run", "--fast-models", "sora")
    assert bad.returncode != 0 and "unknown fast-check model 'sora'" in bad.stderr


def test_the_few_step_check_runs_on_tiny_models(tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    done = run("--tiny", "--models", "none", "--fast-models", "wan,ltx", out=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    assert report["errors"] == [], report["errors"]
    for model in ("wan2.1-t2v-1.3b", "ltx-video"):
        row = report["fast"][model]
        assert row["film"]["shots"] == 8 and row["ratio_step"] > 0, row
        assert row["film"]["speedup"] > 1.0, row  # 50 guided steps against 4 unguided ones
        assert any(line.startswith("lora random-lora.safetensors") for line in row["speedups"])
    assert "speed-up" in done.stdout and "Tale÷diffusers" in done.stdout
