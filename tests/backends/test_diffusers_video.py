"""The diffusers video backend on tiny random-weight pipelines of every family: real denoising on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tale_cli.backends.base import ShotRequest
from tale_cli.backends.diffusers.pipelines import VideoSettings, plan_segments
from tale_cli.backends.diffusers.video import DiffusersVideo
from tale_cli.backends.models import ModelMissingError, detect_video_variant
from tale_cli.errors import BackendError, RecipeError
from tale_cli.media.ffmpeg import check_clip, probe

pytest.importorskip("diffusers")

from tiny_pipelines import local_recipe, shot_request


def red_png(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    Image.new("RGB", size, (220, 30, 30)).save(path)
    return path


def render(backend: DiffusersVideo, request: ShotRequest) -> dict[str, Any]:
    result = backend.render_shot(request)
    info = check_clip(request.output, expected_s=request.duration_s, fps=request.fps)
    assert (info.width, info.height) == (request.width, request.height)
    assert result.cost_usd == 0.0 and result.model
    return result.notes


@pytest.mark.parametrize(
    ("family", "variant"),
    [
        ("cogvideox", "cogvideox-2b"),
        ("wan", "wan2.1-1.3b-t2v"),
        ("wan-ti2v", "wan2.2-ti2v-5b"),
        ("wan-a14b", "wan2.2-a14b-t2v"),
        ("hunyuanvideo", "hunyuanvideo"),
        ("ltx", "ltx-video"),
        ("ltx-condition", "ltx-video"),
    ],
)
def test_text_to_video_for_every_family(tiny_model, tmp_path: Path, family: str, variant: str) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model(family)))
    notes = render(backend, shot_request(tmp_path))
    assert notes["variant"] == variant
    assert notes["modes"] == ["t2v"] and notes["segments"] == [9]
    assert notes["native"] == "32x32@8" and notes["steps"] == 2
    assert notes["memory"]["device"] == "cpu"
    backend.close()


@pytest.mark.parametrize(
    ("family", "variant"),
    [
        ("cogvideox-i2v", "cogvideox-2b-i2v"),
        ("wan-i2v", "wan2.1-1.3b-i2v"),
        ("wan-ti2v", "wan2.2-ti2v-5b"),
        ("ltx", "ltx-video"),
        ("ltx-condition", "ltx-video"),
    ],
)
def test_image_to_video_from_the_first_frame(tiny_model, tmp_path: Path, family: str, variant: str) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model(family)))
    assert backend.capabilities().image_to_video
    notes = render(backend, shot_request(tmp_path, first_frame=red_png(tmp_path / "first.png")))
    assert (notes["variant"], notes["modes"], notes["start"]) == (variant, ["i2v"], "first-frame")


def test_a_shot_longer_than_the_native_clip_is_chained_from_the_last_frame(tiny_model, tmp_path: Path) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model("ltx")))
    calls: list[Any] = []
    original = backend._call

    def spy(image: Any, **kwargs: Any) -> Any:
        frames, sound = original(image, **kwargs)
        calls.append((image, frames))
        return frames, sound

    backend._call = spy  # type: ignore[method-assign]
    notes = render(backend, shot_request(tmp_path, duration=2.0))
    assert notes["segments"] == [9, 9] and notes["modes"] == ["t2v", "i2v"]
    first_segment_last_frame = calls[0][1][-1]
    conditioning = calls[1][0]
    assert conditioning.size == (32, 32)
    assert (abs(Image.fromarray(first_segment_last_frame).getpixel((5, 5))[0] - conditioning.getpixel((5, 5))[0])) <= 2


def test_wan_first_and_last_frame_model_takes_the_last_frame_too(tiny_model, tmp_path: Path) -> None:
    assert not DiffusersVideo(local_recipe(tiny_model("wan-i2v"))).capabilities().last_frame
    backend = DiffusersVideo(local_recipe(tiny_model("wan-flf2v")))
    assert backend.capabilities().last_frame and backend.variant.key == "wan2.1-1.3b-flf2v"
    request = shot_request(tmp_path, first_frame=red_png(tmp_path / "a.png"), last_frame=red_png(tmp_path / "b.png"))
    assert render(backend, request)["last_frame"] is True


def test_a_text_only_model_slows_its_clip_to_fill_the_shot(tiny_model, tmp_path: Path) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model("cogvideox")))
    capabilities = backend.capabilities()
    assert not capabilities.image_to_video and capabilities.max_duration_s == pytest.approx(9 / 8 * 1.5)
    notes = render(backend, shot_request(tmp_path, duration=1.5))
    assert notes["segments"] == [9] and notes["stretch"] == pytest.approx(1.5 / (9 / 8), abs=1e-3)


def test_image_only_model_draws_a_key_frame_when_the_shot_has_none(tiny_model, tmp_path: Path) -> None:
    recipe = local_recipe(tiny_model("cogvideox-i2v"), image=tiny_model("sdxl"))
    backend = DiffusersVideo(recipe)
    assert backend.capabilities().text_to_video
    notes = render(backend, shot_request(tmp_path))
    assert (notes["start"], notes["modes"]) == ("key-frame", ["i2v"])
    backend.close()
    without = DiffusersVideo(local_recipe(tiny_model("cogvideox-i2v")))
    assert not without.capabilities().text_to_video
    with pytest.raises(BackendError, match="image-to-video only"):
        without.render_shot(shot_request(tmp_path))


def test_cache_hooks_and_attention_backend_are_switched_on(tiny_model, tmp_path: Path) -> None:
    wan = DiffusersVideo(local_recipe(tiny_model("wan"), cache="first-block", attention="native"))
    notes = render(wan, shot_request(tmp_path))
    assert notes["speedups"] == ["attention native", "cache first-block"]
    assert wan.fingerprint()["cache"] == "first-block"
    cog = DiffusersVideo(local_recipe(tiny_model("cogvideox"), cache="pab"))
    assert render(cog, shot_request(tmp_path / "cog"))["speedups"] == ["cache pab"]


@pytest.mark.parametrize(
    ("video", "message"),
    [
        ({"options": {"native_size": 3}}, "unknown \\[video.options\\] key 'native_size'"),
        ({"cache": "magcache"}, "needs the model's magnitude ratios"),
        ({"cache": "faster-cache"}, "does not apply to ltx-video"),
        ({"attention": "flash_hub"}, "is not allowed"),
        ({"options": {"native_frames": 12}}, "8k\\+1 frames"),
    ],
)
def test_bad_settings_fail_before_any_weights_load(tiny_model, video: dict[str, Any], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        DiffusersVideo(local_recipe(tiny_model("ltx"), **video))


def test_a_missing_model_fails_at_once_with_how_to_pull_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelMissingError) as caught:
        DiffusersVideo(local_recipe("example-org/absent-video-model"))
    assert caught.value.message == "model example-org/absent-video-model is not downloaded"
    assert caught.value.hint is not None and "tale models pull example-org/absent-video-model" in caught.value.hint
    assert int(caught.value.exit_code) == 12


def test_segments_respect_the_frame_rule() -> None:
    variant = detect_video_variant("LTXPipeline")
    recipe = local_recipe("unused", options={"native_frames": 17, "native_fps": 8})
    settings = VideoSettings.from_recipe(recipe, variant)
    assert plan_segments(2.0, settings, variant, can_chain=True) == ([17], 1.0)
    assert plan_segments(3.0, settings, variant, can_chain=True) == ([17, 9], 1.0)
    assert plan_segments(5.0, settings, variant, can_chain=True) == ([17, 17, 9], 1.0)
    assert plan_segments(3.0, settings, variant, can_chain=False) == ([17], pytest.approx(3.0 / (17 / 8)))


def test_eight_shot_film_stitches(tiny_model, tmp_path: Path, story_file: Path) -> None:
    from tale_cli.pipeline import RenderOptions
    from tale_cli.pipeline import render as render_film

    recipe = local_recipe(tiny_model("ltx")).model_copy(update={"shots": 8, "seconds": 1.0})
    report = render_film(story_file, RenderOptions(recipe=recipe, out_root=tmp_path / "out"))
    assert not report.failed and report.rendered == 8
    assert report.film is not None and abs(probe(report.film).duration_s - 8.0) < 0.2


def test_a_well_known_missing_model_can_still_be_planned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    from tale_cli.config import Recipe, VideoConfig

    backend = DiffusersVideo(Recipe(video=VideoConfig(backend="diffusers", model="THUDM/CogVideoX-5b-I2V")))
    assert backend.variant.key == "cogvideox-5b-i2v" and backend.capabilities().image_to_video
    assert backend.fingerprint()["native"] == "720x480x49@8"
    with pytest.raises(ModelMissingError, match="THUDM/CogVideoX-5b-I2V is not downloaded"):
        backend.render_shot(shot_request(tmp_path, first_frame=red_png(tmp_path / "f.png")))


# ---------------------------------------------------------------- the film's shape


def test_the_native_size_turns_to_the_films_shape() -> None:
    wan = detect_video_variant("WanPipeline", {}, {"num_layers": 30})
    settings = VideoSettings.from_recipe(
        local_recipe("unused", options={"native_width": 832, "native_height": 480}), wan
    )

    def native(width: int, height: int) -> tuple[int, int]:
        turned = settings.facing(width, height, wan)
        return turned.width, turned.height

    assert native(1280, 720) == (832, 480)  # the model's own way round
    assert native(720, 1280) == (480, 832)  # on its side, exactly
    assert native(720, 720) == (480, 480)
    assert native(720, 900) == (480, 608)  # 4:5 is far from 480x832: the short side kept, multiples of 16
    cogvideox_i2v = detect_video_variant(
        "CogVideoXImageToVideoPipeline", {}, {"use_learned_positional_embeddings": True}
    )
    assert cogvideox_i2v.fixed_size and settings.facing(720, 1280, cogvideox_i2v) is settings


def test_a_tall_shot_is_rendered_tall(tiny_model, tmp_path: Path) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model("wan"), options={"native_width": 48, "native_height": 32}))
    request = shot_request(tmp_path)
    request.width, request.height = 64, 96

    notes = render(backend, request)

    assert notes["native"] == "32x48@8"


def test_a_fixed_size_model_says_before_rendering_that_a_tall_film_gets_bars() -> None:
    from tale_cli.config import Recipe, VideoConfig

    said: list[str] = []
    recipe = Recipe(width=720, height=1280, aspect="9:16")
    recipe.video = VideoConfig(backend="diffusers", model="THUDM/CogVideoX-5b-I2V")
    backend = DiffusersVideo(recipe, say=said.append)

    backend.preflight()

    assert said == ["cogvideox-5b-i2v renders 720x480 only: this 9:16 film's shots are fitted into 720x1280 with bars"]


@pytest.mark.parametrize(("aspect", "size"), [("9:16", (720, 1280)), ("1:1", (720, 720))])
def test_tall_and_square_films_on_a_tiny_pipeline(
    tiny_model, tmp_path: Path, story_file: Path, aspect: str, size: tuple[int, int]
) -> None:
    from tale_cli.pipeline import RenderOptions
    from tale_cli.pipeline import render as render_film

    recipe = local_recipe(tiny_model("wan"), options={"native_width": 48, "native_height": 32})
    recipe = recipe.model_copy(update={"shots": 2, "seconds": 1.0})
    options = RenderOptions(recipe=recipe, out_root=tmp_path / "out", aspect=aspect, resolution="720p")

    report = render_film(story_file, options)

    assert not report.failed and report.film is not None
    assert (probe(report.film).width, probe(report.film).height) == size
    assert (report.plan.aspect, report.plan.width, report.plan.height) == (aspect, *size)
    manifest = (report.run_dir / "manifest.json").read_text(encoding="utf-8")
    assert ('"native": "32x48@8"' if aspect == "9:16" else '"native": "32x32@8"') in manifest
