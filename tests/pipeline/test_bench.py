from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.pipeline.bench import BenchResult, gpu_key, gpu_seconds_per_clip, read_bench, record_bench


def _result(recipe: str, seconds: float) -> BenchResult:
    return BenchResult(
        recipe=recipe, backend="diffusers", model="THUDM/CogVideoX-5b", device="NVIDIA H100 80GB HBM3",
        clip_seconds=6.125, seconds_per_clip=seconds, seconds_per_step=1.7, steps=50, native="720x480@8",
        peak_vram_gb=30.1, load_s=40.0, memory={"strategy": "none"},
    )  # fmt: skip


def test_bench_file_keeps_the_newest_entry_per_recipe_in_the_cost_format(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    record_bench(_result("local-cogvideox-5b", 95.0), path)
    record_bench(_result("local-wan2.1-1.3b", 40.0), path)
    record_bench(_result("local-cogvideox-5b", 88.5), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [r["recipe"] for r in data["results"]] == ["local-cogvideox-5b", "local-wan2.1-1.3b"]
    first = data["results"][0]
    assert (first["model"], first["gpu"], first["seconds_per_clip"], first["steps"]) == (
        "THUDM/CogVideoX-5b",
        "h100-80gb",
        88.5,
        50,
    )
    assert first["gpu_seconds_per_video_second"] == pytest.approx(88.5 / 6.125, abs=1e-3)
    assert gpu_seconds_per_clip("local-cogvideox-5b", path) == (88.5, 6.125)
    assert gpu_seconds_per_clip("never-benched", path) is None
    assert read_bench(tmp_path / "missing.json") == {}


def test_the_cost_command_reads_the_bench_file(tmp_path: Path) -> None:
    from tale_cli.cost import load_timings

    path = record_bench(_result("local-cogvideox-5b", 88.5), tmp_path / "bench.json")
    (timing,) = load_timings(path)
    assert (timing.model, timing.gpu, timing.seconds) == ("THUDM/CogVideoX-5b", "h100-80gb", 88.5)


def test_gpu_keys() -> None:
    assert gpu_key("NVIDIA A100-SXM4-80GB") == "a100-80gb"
    assert gpu_key("NVIDIA GeForce RTX 4090") == "rtx-4090"
    assert gpu_key("cpu") == "cpu"


def test_tale_bench_on_a_tiny_model(tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tale_cli.cli.app import app

    monkeypatch.setenv("TALE_BENCH_FILE", str(tmp_path / "bench.json"))
    recipe = tmp_path / "tiny-bench.toml"
    recipe.write_text(
        f'[video]\nbackend = "diffusers"\nmodel = "{tiny_model("wan")}"\nsteps = 2\n'
        "[video.options]\nnative_width = 32\nnative_height = 32\nnative_frames = 9\nnative_fps = 8\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["bench", "--recipe", str(recipe), "--no-warmup", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["recipe"] == "tiny-bench" and data["steps"] == 2 and data["native"] == "32x32@8"
    assert data["clip_seconds"] == 1.125 and data["seconds_per_clip"] > 0 and data["seconds_per_step"] > 0
    assert data["bench_file"] == str(tmp_path / "bench.json")
    assert gpu_seconds_per_clip("tiny-bench") == (data["seconds_per_clip"], 1.125)
    table = CliRunner().invoke(app, ["bench", "--recipe", str(recipe), "--no-warmup", "--steps", "1"])
    assert table.exit_code == 0 and "seconds per step" in table.stdout and "recorded in" in table.stdout
    assert read_bench()["tiny-bench"]["steps"] == 1


def test_the_film_projection_and_the_speed_up_over_the_base() -> None:
    from tale_cli.pipeline.bench import project_film

    # Wan 2.1 14B fast: 4 steps without guidance at 3 s a step plus 10 s of encode/decode, 12 five-second shots.
    fast = project_film(seconds_per_clip=22.0, seconds_per_step=3.0, steps=4, guidance=1.0, shots=12,
                        shot_seconds=5.0, clip_seconds=81 / 16, base_recipe="local-wan2.1-14b", base_steps=50,
                        base_guidance=5.0)  # fmt: skip
    assert (fast.clips_per_shot, fast.film_s) == (1, 264.0)
    assert fast.base_seconds_per_clip == 10.0 + 50 * 3.0 * 2 and fast.base_source.startswith("estimated")
    assert fast.speedup == pytest.approx(310 / 22, abs=0.01)
    measured = project_film(seconds_per_clip=22.0, seconds_per_step=3.0, steps=4, guidance=1.0, shots=8,
                            shot_seconds=8.0, clip_seconds=5.0, base_measured=440.0)  # fmt: skip
    assert (measured.clips_per_shot, measured.base_source, measured.speedup) == (2, "measured", 20.0)


def test_tale_bench_prints_the_film_and_the_speed_up(
    tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tale_cli.cli.app import app

    monkeypatch.setenv("TALE_BENCH_FILE", str(tmp_path / "bench.json"))
    native = "[video.options]\nnative_width = 32\nnative_height = 32\nnative_frames = 9\nnative_fps = 8\n"
    base = tmp_path / "tiny-base.toml"
    base.write_text(f'shots = 3\nseconds = 2.0\n[video]\nbackend = "diffusers"\nmodel = "{tiny_model("wan")}"\n'
                    f"steps = 6\nguidance = 5.0\n{native}", encoding="utf-8")  # fmt: skip
    fast = tmp_path / "tiny-fast.toml"
    fast.write_text(f'shots = 3\nseconds = 2.0\nbase = "{base}"\n[video]\nbackend = "diffusers"\n'
                    f'model = "{tiny_model("wan")}"\nsteps = 2\nguidance = 1.0\n{native}', encoding="utf-8")  # fmt: skip

    estimated = CliRunner().invoke(app, ["bench", "--recipe", str(fast), "--no-warmup", "--json"])
    assert estimated.exit_code == 0, estimated.output
    film = json.loads(estimated.stdout)["film"]
    assert (film["shots"], film["clips_per_shot"], film["base_steps"]) == (3, 2, 6)
    assert film["film_s"] == pytest.approx(6 * json.loads(estimated.stdout)["seconds_per_clip"], abs=0.02)
    assert film["base_source"].startswith("estimated") and film["speedup"] > 1.0
    assert CliRunner().invoke(app, ["bench", "--recipe", str(base), "--no-warmup"]).exit_code == 0
    table = CliRunner().invoke(app, ["bench", "--recipe", str(fast), "--no-warmup"])
    assert table.exit_code == 0 and "speed-up over the base (film)" in table.stdout and "(measured)" in table.stdout
    assert read_bench()["tiny-fast"]["film"]["base_source"] == "measured"
