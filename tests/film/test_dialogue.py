"""Dialogue in the clip (`[voice] dialogue = "clip"`): the video model says the lines on screen, the voice backend
the narration; the line's subtitle is timed from the speech heard in the clip, and a clip that says nothing where
its line should be is flagged by the judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloudrender import EXAMPLE_STORY, SMALL_VEO
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.media.ffmpeg import synthetic_clip

runner = CliRunner()
LINE = "Pip is the real keeper of the light,"


def tale(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


def speaking_veo(tmp_path: Path, dialogue: str = "clip") -> Path:
    path = tmp_path / "veo-dialogue.toml"
    text = SMALL_VEO.replace('backend = "gemini"\n[image]', 'backend = "offline"\n[image]')
    path.write_text(text + f'[voice]\nbackend = "espeak"\ndialogue = "{dialogue}"\n', encoding="utf-8")
    return path


@pytest.fixture
def rendered(fake_providers: Any, tmp_path: Path) -> tuple[Path, Any]:
    recipe = speaking_veo(tmp_path)
    made = tale("render", str(EXAMPLE_STORY), "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--yes",
                "--json")  # fmt: skip
    return Path(made["run_dir"]), fake_providers


def _manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def _speaking_shot(run_dir: Path) -> tuple[int, float, float]:
    """The shot with Mira's line, and where it is in the film."""
    plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    start = 0.0
    for shot in plan["shots"]:
        if any(LINE.rstrip(",") in line["text"] for line in shot.get("lines", [])):
            return shot["index"], start, start + shot["duration_s"]
        start += shot["duration_s"]
    raise AssertionError("the example's line is in no shot")


def test_the_video_model_says_the_line_and_the_voice_only_the_narration(rendered: tuple[Path, Any]) -> None:
    from tale_cli.film.dialogue import heard_in

    run_dir, fake = rendered
    _, begin, end = _speaking_shot(run_dir)

    prompts = [r["json"]["instances"][0]["prompt"] for r in fake.requests if r["path"].endswith(":predictLongRunning")]
    speaking = [p for p in prompts if LINE.rstrip(",") in p]
    assert len(speaking) == 1 and 'Mira says: "' in speaking[0], "the line and its speaker go to Veo"
    assert all(r["json"]["parameters"].get("generateAudio") is True for r in fake.requests
               if r["path"].endswith(":predictLongRunning"))  # fmt: skip
    spoken = [clip["text"] for clip in _manifest(run_dir)["voice"]["clips"]]
    assert spoken and not any(LINE.rstrip(",") in text for text in spoken), "no TTS for a line the clip says"

    cues = (run_dir / "film.srt").read_text(encoding="utf-8")
    assert LINE.rstrip(",") in cues
    film_cues = _manifest(run_dir)["film"]["dialogue_cues"]
    assert len(film_cues) >= 1 and all(begin - 0.01 <= a < b <= end + 0.01 for a, b, _ in film_cues)
    # The film has sound in the shot's window: the clip's own (the fake's clips carry a tone).
    window = run_dir.parent / "window.mp4"
    from tale_cli.media.ffmpeg import run_ffmpeg

    run_ffmpeg(["-ss", f"{begin:.3f}", "-t", f"{end - begin:.3f}", "-i", str(run_dir / "film.mp4"), str(window)])
    assert heard_in(window).speaks


def test_a_clip_that_says_nothing_where_its_line_should_be_is_flagged(rendered: tuple[Path, Any], tmp_path) -> None:
    run_dir, _ = rendered
    index, begin, end = _speaking_shot(run_dir)
    silent = tmp_path / "silent.mp4"
    synthetic_clip(silent, width=320, height=180, fps=24, duration_s=end - begin, audio=False)
    tale("replace", str(run_dir), str(index), str(silent))

    report = tale("judge", str(run_dir), "--json")

    rows = {row["shot"]: row for row in report["shots"] if row["current"]}
    assert rows[index]["mute_line"] is True and rows[index]["score"] == 0.0
    assert all(row["mute_line"] is False for shot, row in rows.items() if shot != index)
    assert index in report["flagged"]


def test_dialogue_in_the_clip_needs_clips_with_sound(fake_providers: Any, tmp_path: Path, tiny_recipe: Path) -> None:
    recipe = tmp_path / "mute.toml"
    recipe.write_text(tiny_recipe.read_text() + '[voice]\nbackend = "espeak"\ndialogue = "clip"\n', encoding="utf-8")
    refused = tale("render", str(EXAMPLE_STORY), "--recipe", str(recipe), "--out", str(tmp_path / "out"), code=5)
    assert 'dialogue = "clip" needs a video model whose clips carry sound' in refused.output

    silent_veo = speaking_veo(tmp_path)
    silent_veo.write_text(silent_veo.read_text().replace("audio = true", "audio = false"), encoding="utf-8")
    refused = tale("render", str(EXAMPLE_STORY), "--recipe", str(silent_veo), "--out", str(tmp_path / "o2"), "--yes",
                   code=5)  # fmt: skip
    assert "set audio = true in [video]" in refused.output and fake_providers.requests == []


def test_heard_in_finds_sound_and_its_absence(tmp_path: Path) -> None:
    from tale_cli.film.dialogue import heard_in

    toned, mute = tmp_path / "toned.mp4", tmp_path / "mute.mp4"
    synthetic_clip(toned, width=64, height=64, fps=12, duration_s=2.0, audio=True)
    synthetic_clip(mute, width=64, height=64, fps=12, duration_s=2.0, audio=False)
    assert heard_in(toned).speaks and heard_in(toned).first_to_last[1] > 1.9
    assert not heard_in(mute).speaks and heard_in(mute).spans == ()


def test_the_estimate_does_not_price_a_line_the_clip_says(tmp_path: Path) -> None:
    from tale_cli import cost
    from tale_cli.config import load_recipe
    from tale_cli.planners import plan_story
    from tale_cli.story.reader import read_story

    overlay = load_recipe("veo-3.1-fast").model_copy(deep=True)
    overlay.voice.backend = "gemini"
    plan = plan_story(read_story(EXAMPLE_STORY), overlay, planner_name="offline")
    clip = overlay.model_copy(update={"voice": overlay.voice.model_copy(update={"dialogue": "clip"})})
    said, unsaid = cost.estimate_render(plan, overlay), cost.estimate_render(plan, clip)
    assert 0 < unsaid.voice_seconds < said.voice_seconds


def test_seedance_is_given_the_characters_voice_to_say_the_line_with(fake_providers: Any, tmp_path: Path) -> None:
    from cloudrender import shrunk

    recipe = tmp_path / "seedance-dialogue.toml"
    text = Path(shrunk("runway-seedance2", tmp_path)).read_text(encoding="utf-8")
    text = text.replace('backend = "openai"\nmodel = "gpt-5.4-mini"', 'backend = "offline"', 1)
    text = text.replace("audio = false", "audio = true")
    recipe.write_text(text + '[voice]\nbackend = "espeak"\ndialogue = "clip"\n', encoding="utf-8")
    made = tale("render", str(EXAMPLE_STORY), "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--yes",
                "--json")  # fmt: skip
    run_dir = Path(made["run_dir"])
    index, _, _ = _speaking_shot(run_dir)

    creates = [r["json"] for r in fake_providers.requests if r["path"] in ("/v1/image_to_video", "/v1/text_to_video")]
    assert len(creates) == 8
    given = [body for body in creates if "referenceAudio" in body]
    assert len(given) == 1 and given[0]["referenceAudio"][0]["uri"].startswith("data:audio/wav;base64,")
    assert LINE.rstrip(",") in given[0]["promptText"] and given[0]["audio"] is True
    samples = _manifest(run_dir)["voice"]["samples"]
    assert [s["shot"] for s in samples] == [index] and LINE.rstrip(",") in samples[0]["text"]
    assert not any(LINE.rstrip(",") in clip["text"] for clip in _manifest(run_dir)["voice"]["clips"])

    again = tale("render", str(run_dir / "plan.json"), "--recipe", str(recipe), "--yes", "--json")
    assert again["counts"]["rendered"] == 0
    assert sum(1 for r in fake_providers.requests if r["path"].endswith("_to_video")) == 8, "nothing paid again"
