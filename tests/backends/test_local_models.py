"""Model variants from configs, resolving folders and the Hugging Face cache, pulling and listing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.backends.models import (
    ModelMissingError,
    PullError,
    component_weights,
    detect_image_variant,
    detect_video_variant,
    pull_model,
    resolve_model,
    safetensors_bytes,
)
from tale_cli.errors import ExitCode


@pytest.mark.parametrize(
    ("pipeline", "index", "transformer", "hint", "key", "native"),
    [
        ("CogVideoXPipeline", {}, {"num_layers": 42}, "THUDM/CogVideoX-5b", "cogvideox-5b", (720, 480, 49, 8)),
        ("CogVideoXImageToVideoPipeline", {}, {"num_layers": 42}, "", "cogvideox-5b-i2v", (720, 480, 49, 8)),
        ("CogVideoXPipeline", {}, {"num_layers": 42, "patch_size_t": 2}, "", "cogvideox1.5-5b", (1360, 768, 81, 16)),
        ("WanPipeline", {}, {"num_layers": 30}, "", "wan2.1-1.3b-t2v", (832, 480, 81, 16)),
        ("WanPipeline", {}, {"num_layers": 40}, "", "wan2.1-14b-t2v", (1280, 720, 81, 16)),
        (
            "WanImageToVideoPipeline",
            {},
            {"num_layers": 40},
            "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
            "wan2.1-14b-i2v",
            (832, 480, 81, 16),
        ),
        (
            "WanImageToVideoPipeline",
            {},
            {"num_layers": 40},
            "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
            "wan2.1-14b-i2v",
            (1280, 720, 81, 16),
        ),
        ("WanPipeline", {"expand_timesteps": True}, {"in_channels": 48}, "", "wan2.2-ti2v-5b", (1280, 704, 121, 24)),
        (
            "WanPipeline",
            {"transformer_2": ["diffusers", "WanTransformer3DModel"]},
            {"num_layers": 40},
            "",
            "wan2.2-a14b-t2v",
            (1280, 720, 81, 16),
        ),
        ("HunyuanVideoPipeline", {}, {}, "", "hunyuanvideo", (1280, 720, 129, 24)),
        ("HunyuanVideo15Pipeline", {}, {"target_size": 480}, "", "hunyuanvideo1.5-480p-t2v", (848, 480, 121, 24)),
        ("LTXPipeline", {}, {}, "", "ltx-video", (768, 512, 121, 24)),
    ],
)
def test_video_variants(pipeline: str, index: dict, transformer: dict, hint: str, key: str, native: tuple) -> None:
    variant = detect_video_variant(pipeline, index, transformer, hint)
    assert variant.key == key
    assert (variant.width, variant.height, variant.frames, variant.fps) == native
    assert variant.valid_frames(variant.frames) == variant.frames


def test_which_variants_chain_and_take_last_frames() -> None:
    assert detect_video_variant("LTXPipeline").i2v == "LTXImageToVideoPipeline"
    assert detect_video_variant("WanPipeline", {"expand_timesteps": True}).i2v == "WanImageToVideoPipeline"
    assert detect_video_variant("CogVideoXPipeline").i2v is None
    flf2v = detect_video_variant("WanImageToVideoPipeline", {}, {"num_layers": 40, "pos_embed_seq_len": 514})
    assert flf2v.last_frame and flf2v.key == "wan2.1-14b-flf2v"
    assert detect_image_variant("FluxPipeline", {"guidance_embeds": False}).key == "flux-schnell"
    assert detect_image_variant("StableDiffusionXLPipeline").steps == 30


def test_unknown_pipelines_are_refused() -> None:
    from tale_cli.errors import RecipeError

    with pytest.raises(RecipeError, match="not a video pipeline Tale can drive"):
        detect_video_variant("StableDiffusionPipeline")
    with pytest.raises(RecipeError, match="not an image pipeline"):
        detect_image_variant("WanPipeline")


def _fake_hub_snapshot(cache: Path, repo: str, source: Path) -> Path:
    """Lay a folder out the way huggingface_hub caches a download: refs/main -> snapshots/<commit>."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit, encoding="utf-8")
    snapshot = root / "snapshots" / commit
    shutil.copytree(source, snapshot)
    (root / "blobs").mkdir()
    return snapshot


def test_resolve_a_folder_a_cached_hub_id_and_a_missing_one(
    tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tiny_model("wan")
    assert resolve_model(str(folder)) == folder
    snapshot = _fake_hub_snapshot(cache, "tiny-org/tiny-wan", folder)
    assert resolve_model("tiny-org/tiny-wan") == snapshot
    with pytest.raises(ModelMissingError, match="model tiny-org/other is not downloaded"):
        resolve_model("tiny-org/other")
    with pytest.raises(ModelMissingError, match="model folder not found"):
        resolve_model(str(tmp_path / "nowhere"))


def test_component_weights_come_from_safetensors_headers(tiny_model) -> None:
    import torch
    from diffusers import WanPipeline

    folder = tiny_model("wan")
    weights = component_weights(folder, float_bytes=2)
    assert set(weights) == {"transformer", "text_encoder", "vae"}
    pipe = WanPipeline.from_pretrained(str(folder), dtype=torch.float32)
    parameters = sum(p.numel() for p in pipe.transformer.parameters()) + sum(
        b.numel() for b in pipe.transformer.buffers()
    )
    assert weights["transformer"] == pytest.approx(parameters * 2, rel=0.05)
    assert safetensors_bytes(next((folder / "vae").glob("*.safetensors")), 4) == component_weights(folder, 4)["vae"]


def test_models_list_shows_the_cache(tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tale_cli.cli.app import app

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    runner = CliRunner()
    empty = runner.invoke(app, ["models", "list"])
    assert empty.exit_code == 0 and "no models cached" in empty.stdout
    _fake_hub_snapshot(cache, "tiny-org/tiny-ltx", tiny_model("ltx"))
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cache"] == str(cache)
    (entry,) = data["models"]
    assert (entry["model"], entry["pipeline"]) == ("tiny-org/tiny-ltx", "LTXPipeline")
    table = runner.invoke(app, ["models", "list"])
    assert "tiny-org/tiny-ltx" in table.stdout and "LTXPipeline" in table.stdout


def test_pull_offline_fails_in_one_line_and_a_cached_pull_succeeds(
    tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tale_cli.cli.app import app

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PullError, match="cannot reach the Hugging Face hub to download tiny-org/absent"):
        pull_model("tiny-org/absent")
    result = CliRunner().invoke(app, ["models", "pull", "tiny-org/absent"])
    assert result.exit_code == int(ExitCode.FAILURE)
    assert "error: cannot reach the Hugging Face hub" in result.stderr and "Traceback" not in result.output
    snapshot = _fake_hub_snapshot(cache, "tiny-org/tiny-ltx", tiny_model("ltx"))
    assert pull_model("tiny-org/tiny-ltx") == snapshot
    pulled = CliRunner().invoke(app, ["models", "pull", "tiny-org/tiny-ltx", "--json"])
    assert pulled.exit_code == 0 and json.loads(pulled.stdout)["path"] == str(snapshot)
    # A cached transformers model (a judge's detector) has no pipeline index: offline, its pull confirms the cache.
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text('{"model_type": "owlv2"}', encoding="utf-8")
    (encoder / "model.safetensors").write_bytes(b"weights")
    cached = _fake_hub_snapshot(cache, "tiny-org/tiny-detector", encoder)
    assert pull_model("tiny-org/tiny-detector") == cached
    bad = CliRunner().invoke(app, ["models", "pull", "../etc"])
    assert bad.exit_code == int(ExitCode.INPUT) and "is not a hub id" in bad.stderr


def test_render_with_a_missing_model_stops_before_planning(
    tmp_path: Path, story_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("diffusers")
    from tale_cli.cli.app import app

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", str(story_file), "--recipe", "local-wan2.1-1.3b", "--out", str(out)])
    assert result.exit_code == int(ExitCode.MISSING_DEPENDENCY), result.output
    assert "error: model Wan-AI/Wan2.1-T2V-1.3B-Diffusers is not downloaded" in result.stderr
    assert "tale models pull Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in result.stderr
    assert not out.exists()


def test_pull_recipe_fetches_the_base_and_only_the_named_lora_file(tiny_model, tmp_path: Path) -> None:
    """`tale models pull --recipe` against a fake hub: the LoRA's one weight file comes down, nothing else."""
    import os
    import subprocess
    import sys

    from fakes.hub import start

    hub = start({"tiny-org/fast-loras": {"loras/step4.safetensors": b"lora-bytes", "other.safetensors": b"not me",
                                         "README.md": b"# card"}})  # fmt: skip
    recipe = tmp_path / "fast.toml"
    recipe.write_text(
        f'[video]\nbackend = "diffusers"\nmodel = "{tiny_model("wan")}"\nsteps = 4\n\n'
        '[[video.lora]]\nrepo = "tiny-org/fast-loras"\nweight_name = "loras/step4.safetensors"\nscale = 0.8\n',
        encoding="utf-8",
    )
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "0",
           "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tale_cli", "models", "pull", "--recipe", str(recipe), "--json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        missing = recipe.read_text(encoding="utf-8").replace("step4.safetensors", "absent.safetensors")
        recipe.write_text(missing, encoding="utf-8")
        bad = subprocess.run(
            [sys.executable, "-m", "tale_cli", "models", "pull", "--recipe", str(recipe)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        hub.shutdown()
    assert done.returncode == 0, done.stderr
    pulled = json.loads(done.stdout)["pulled"]
    assert [(p["kind"], p["name"]) for p in pulled] == [
        ("model", str(tiny_model("wan"))), ("lora", "tiny-org/fast-loras/loras/step4.safetensors")]  # fmt: skip
    assert Path(pulled[1]["path"]).read_bytes() == b"lora-bytes"
    assert {path for _, _, path in hub.served} == {"loras/step4.safetensors", "loras/absent.safetensors"}
    assert bad.returncode == int(ExitCode.FAILURE)
    assert "tiny-org/fast-loras has no file loras/absent.safetensors" in bad.stderr and "Traceback" not in bad.stderr
