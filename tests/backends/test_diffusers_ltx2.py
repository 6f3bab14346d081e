"""LTX-2 through diffusers on a tiny random-weight pipeline: the picture and its sound come from one pipeline call and
leave as one clip, a video stream and an AAC track of the shot's length, that survives conforming."""

from __future__ import annotations

import functools
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tale_cli.backends.base import ShotRequest
from tale_cli.backends.diffusers.pipelines import VideoSettings
from tale_cli.backends.diffusers.video import DiffusersVideo
from tale_cli.backends.models import detect_video_variant, guess_from_id
from tale_cli.errors import RecipeError
from tale_cli.media.ffmpeg import check_clip, probe

pytest.importorskip("diffusers")

from sound import audio_seconds, sounding_s
from tiny_pipelines import local_recipe, shot_request


def counted_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every LTX-2 pipeline call from here on: the pipeline, what it was given, what it gave back."""
    from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline

    calls: list[dict[str, Any]] = []
    for cls in (LTX2Pipeline, LTX2ImageToVideoPipeline):

        @functools.wraps(cls.__call__)
        def counted(self: Any, *args: Any, _original: Any = cls.__call__, **kwargs: Any) -> Any:
            output = _original(self, *args, **kwargs)
            calls.append({"pipeline": type(self).__name__, "kwargs": kwargs, "frames": len(output.frames[0]),
                          "samples": output.audio.shape[-1]})  # fmt: skip
            return output

        monkeypatch.setattr(cls, "__call__", counted)
    return calls


def render_with_sound(backend: DiffusersVideo, request: ShotRequest) -> dict[str, Any]:
    result = backend.render_shot(request)
    info = check_clip(request.output, expected_s=request.duration_s, fps=request.fps)
    assert (info.width, info.height) == (request.width, request.height)
    assert result.has_audio and info.has_audio and info.audio_codec == "aac"
    assert audio_seconds(request.output) == pytest.approx(request.duration_s, abs=1 / request.fps)
    # The model's own sound, not a silent track.
    assert sounding_s(request.output, 0.0, request.duration_s) > 0.5 * request.duration_s
    return result.notes


def test_a_text_to_video_shot_carries_the_sound_made_in_its_one_pipeline_call(
    tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model("ltx2"), audio=True))
    assert backend.capabilities().audio and backend.fingerprint()["audio"] is True
    calls = counted_calls(monkeypatch)

    notes = render_with_sound(backend, shot_request(tmp_path))

    assert (notes["variant"], notes["modes"], notes["segments"]) == ("ltx2", ["t2v"], [9])
    assert notes["audio_rate"] == 24000 and not list(tmp_path.glob("*.wav"))
    assert [call["pipeline"] for call in calls] == ["LTX2Pipeline"]
    assert calls[0]["frames"] == 9 and calls[0]["samples"] > 0.9 * 24000 * 9 / 8
    assert calls[0]["kwargs"]["frame_rate"] == 8 and calls[0]["kwargs"]["use_cross_timestep"] is False
    backend.close()


def test_an_image_to_video_shot_starts_from_the_first_frame_compressed_as_in_training(
    tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first.png"
    Image.new("RGB", (40, 30), (220, 30, 30)).save(first)
    backend = DiffusersVideo(local_recipe(tiny_model("ltx2"), audio=True))
    calls = counted_calls(monkeypatch)

    notes = render_with_sound(backend, shot_request(tmp_path, first_frame=first))

    assert (notes["modes"], notes["start"]) == (["i2v"], "first-frame")
    assert [call["pipeline"] for call in calls] == ["LTX2ImageToVideoPipeline"]
    given = calls[0]["kwargs"]
    # Tale's ffmpeg did the H.264 round trip the model was trained with, so the pipeline (which needs PyAV) does not.
    assert given["image_crf"] == 0 and given["image"].size == (32, 32)
    red, green, _ = given["image"].getpixel((16, 16))
    assert red > 180 and green < 70


def test_a_chained_shot_joins_each_segments_sound_in_step_with_its_frames(
    tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model("ltx2"), audio=True))
    calls = counted_calls(monkeypatch)

    notes = render_with_sound(backend, shot_request(tmp_path, duration=2.0))

    assert notes["segments"] == [9, 9] and notes["modes"] == ["t2v", "i2v"]
    assert [call["pipeline"] for call in calls] == ["LTX2Pipeline", "LTX2ImageToVideoPipeline"]


def test_the_sound_survives_conforming_to_another_size_and_rate(tiny_model, tmp_path: Path) -> None:
    from tale_cli.backends.cloud import conform_into

    request = shot_request(tmp_path)
    DiffusersVideo(local_recipe(tiny_model("ltx2"), audio=True)).render_shot(request)
    raw = shutil.copy(request.output, tmp_path / "raw.mp4")
    other = replace(request, width=64, height=48, fps=12, output=tmp_path / "conformed.mp4.part")

    assert conform_into(other, Path(raw)) is True

    info = probe(other.output)
    assert (info.width, info.height, info.has_audio) == (64, 48, True)
    assert audio_seconds(other.output) == pytest.approx(1.0, abs=1 / 12)


def test_without_audio_in_the_recipe_the_clip_is_mute(tiny_model, tmp_path: Path) -> None:
    backend = DiffusersVideo(local_recipe(tiny_model("ltx2")))
    assert not backend.capabilities().audio and "audio" not in backend.fingerprint()
    request = shot_request(tmp_path)
    assert backend.render_shot(request).has_audio is False
    assert not probe(request.output).has_audio


def test_the_checkpoint_decides_its_published_guidance() -> None:
    # Lightricks/LTX-2's transformer config: no cross-attention modulation, no perturbed attention.
    two = detect_video_variant("LTX2Pipeline", {}, {"num_layers": 48})
    assert (two.key, two.steps, two.guidance, two.audio, two.size_step) == ("ltx2", 40, 3.0, True, 32)
    assert two.extra_call["use_cross_timestep"] is False and two.extra_call["stg_scale"] == 0.0
    assert two.extra_call["spatio_temporal_guidance_blocks"] is None and two.extra_call["audio_guidance_scale"] == 7.0
    three = detect_video_variant(
        "LTX2ImageToVideoPipeline", {}, {"num_layers": 48, "cross_attn_mod": True, "perturbed_attn": True}
    )
    assert (three.key, three.steps, three.i2v) == ("ltx2.3", 30, "LTX2ImageToVideoPipeline")
    assert three.extra_call["spatio_temporal_guidance_blocks"] == [28] and three.extra_call["stg_scale"] == 1.0
    assert three.extra_call["use_cross_timestep"] is True
    assert guess_from_id("Lightricks/LTX-2") == ("LTX2Pipeline", {}, {})
    assert guess_from_id("Lightricks/LTX-Video") == ("LTXPipeline", {}, {})


def test_sizes_are_multiples_of_32_frames_8k_plus_1_and_no_cache_hook_applies() -> None:
    variant = detect_video_variant("LTX2Pipeline")
    settings = VideoSettings.from_recipe(local_recipe("unused", options={"native_width": 768, "native_height": 512,
                                                                          "native_frames": 121, "native_fps": 24}),
                                         variant)  # fmt: skip
    assert (settings.facing(1080, 1920, variant).width, settings.facing(1080, 1920, variant).height) == (512, 768)
    four_five = settings.facing(1080, 1350, variant)
    assert four_five.width % 32 == 0 and four_five.height % 32 == 0
    with pytest.raises(RecipeError, match="multiple of 32"):
        VideoSettings.from_recipe(local_recipe("unused", options={"native_width": 784}), variant)
    with pytest.raises(RecipeError, match="8k\\+1"):
        VideoSettings.from_recipe(local_recipe("unused", options={"native_frames": 120}), variant)
    with pytest.raises(RecipeError, match="does not apply to ltx2") as refused:
        VideoSettings.from_recipe(local_recipe("unused", cache="first-block"), variant)
    assert refused.value.hint == "caches for this family: none"


def test_the_recipe_names_the_model_its_settings_and_their_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tale_cli.backends.models import local_model_ids
    from tale_cli.config import load_recipe

    recipe = load_recipe("local-ltx2")
    assert (recipe.video.model, recipe.video.steps, recipe.video.guidance, recipe.video.audio) == (
        "Lightricks/LTX-2", 40, 3.0, True)  # fmt: skip
    assert "LTX_2_PARAMS" in recipe.description and "huggingface.co/Lightricks/LTX-2" in recipe.description
    assert 55 <= recipe.shots * recipe.seconds <= 65
    assert local_model_ids(recipe, planning=True) == ["Lightricks/LTX-2"]  # what `tale models pull --recipe` fetches
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    planned = DiffusersVideo(recipe)  # not downloaded here: planned from its id
    assert planned.variant.key == "ltx2" and planned.capabilities().audio
    assert planned.fingerprint()["native"] == "768x512x121@24" and planned.fingerprint()["steps"] == 40


def test_a_film_of_ltx2_shots_keeps_their_sound(tiny_model, tmp_path: Path, story_file: Path) -> None:
    from tale_cli.pipeline import RenderOptions
    from tale_cli.pipeline import render as render_film

    recipe = local_recipe(tiny_model("ltx2"), audio=True).model_copy(update={"shots": 2, "seconds": 1.0})
    report = render_film(story_file, RenderOptions(recipe=recipe, out_root=tmp_path / "out"))

    assert not report.failed and report.rendered == 2 and report.film is not None
    assert probe(report.film).has_audio and audio_seconds(report.film) == pytest.approx(2.0, abs=0.2)
    assert sounding_s(report.film, 0.0, 2.0) > 1.0


def test_ltx2_with_sound_can_say_a_shots_lines_in_the_clip() -> None:
    from tale_cli.backends import video_backend
    from tale_cli.config import load_recipe
    from tale_cli.film.dialogue import check_dialogue

    recipe = load_recipe("local-ltx2")
    speaking = recipe.model_copy(update={"voice": recipe.voice.model_copy(update={"dialogue": "clip"})})
    backend = video_backend(speaking)
    try:
        capabilities = backend.capabilities()
        assert capabilities.audio and capabilities.speaks
        check_dialogue(speaking, capabilities, backend.name)  # a model with its own sound says the lines itself
    finally:
        backend.close()
