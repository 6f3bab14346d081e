"""Runway's voice against the fake server: the real runwayml SDK, its presets, made voices, strict requests, prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import runway as fake_runway
from typer.testing import CliRunner

from tale_cli.backends.runway.voice import DESIGN_MODEL, PRESETS, RunwayVoice
from tale_cli.cli.app import app
from tale_cli.config import Recipe
from tale_cli.errors import ExitCode, RecipeError

RECIPE = """
description = "small animatic, spoken by Runway"
width = 320
height = 180
fps = 12
shots = 3
seconds = 5.0

[video]
backend = "preview"

[voice]
backend = "runway"
{extra}
"""


def test_the_presets_and_design_model_are_the_sdk_s() -> None:
    assert PRESETS == fake_runway.PRESETS and DESIGN_MODEL in fake_runway.DESIGN_MODELS


def test_runway_narrates_with_a_preset_priced_and_audited(fake_providers, tmp_path: Path, story_file: Path) -> None:
    recipe = tmp_path / "runway.toml"
    recipe.write_text(RECIPE.format(extra='voice = "Eleanor"'), encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(story_file), "-r", str(recipe), "-o", str(tmp_path), "--yes"])
    assert result.exit_code == ExitCode.OK, result.output
    bodies = [r["json"] for r in fake_providers.requests if r["path"] == "/v1/text_to_speech"]
    assert len(bodies) == fake_providers.creates["runway-speech"] >= 3
    narration = bodies[0]
    assert narration["model"] == "eleven_v3" and narration["languageCode"] == "en"
    assert narration["voice"] == {"type": "runway-preset", "presetId": "Eleanor"}
    run_dir = tmp_path / "the-small-test"
    clips = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["voice"]["clips"]
    for clip in clips:
        # The book's second-hand $0.10 a minute.
        assert clip["model"] == "eleven_v3" and clip["cost_usd"] == pytest.approx(0.10 * clip["seconds"] / 60, rel=0.3)
    audit = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    spoken = [line for line in audit if line["role"] == "voice"]
    assert len(spoken) == len(bodies) and all(line["job_id"] and line["cost_usd"] > 0 for line in spoken)


def test_what_runway_cannot_speak_is_refused_before_any_request(fake_providers) -> None:
    def recipe(**voice: object) -> Recipe:
        return Recipe.model_validate({"voice": {"backend": "runway", **voice}})

    with pytest.raises(RecipeError, match="no style instructions"):
        RunwayVoice(recipe(instructions="calm"))
    with pytest.raises(RecipeError, match="'seed_audio' is not a Runway speech model") as refused:
        RunwayVoice(recipe(model="seed_audio"))
    assert "speaks the voices made" in (refused.value.hint or "")
    with pytest.raises(RecipeError, match=r"0\.7 to 1\.2"):
        RunwayVoice(recipe(speed=1.5))
    slow = RunwayVoice(recipe(speed=0.8))
    with pytest.raises(RecipeError, match="takes no speed"):
        slow.check_voice("0b6a6c3e-1d2f-4a5b-9c8d-7e6f5a4b3c2d")
    with pytest.raises(RecipeError, match="no voice 'maya'"):
        slow.check_voice("maya")
    slow.check_voice("Maya")
    assert fake_providers.requests == []


def test_the_fake_runway_voice_api_is_as_strict_as_the_real_one(fake_providers) -> None:
    import runwayml

    client = runwayml.RunwayML(api_key=fake_providers.keys["runway"], max_retries=0)

    def refused(call) -> str:
        with pytest.raises(runwayml.APIStatusError) as error:
            call()
        return f"{error.value.status_code} {error.value.body}"

    preset = {"type": "runway-preset", "preset_id": "Maya"}
    assert client.text_to_speech.create(model="eleven_v3", prompt_text="Hello.", voice=preset).id
    assert "400" in refused(lambda: client.text_to_speech.create(
        model="eleven_v3", prompt_text="Hello.", voice={"type": "runway-preset", "preset_id": "Nobody"}))  # fmt: skip
    assert "speed" in refused(
        lambda: client.text_to_speech.create(model="eleven_v3", prompt_text="Hello.", voice=preset, speed=1.5)
    )
    assert "promptText" in refused(
        lambda: client.text_to_speech.create(model="eleven_multilingual_v2", prompt_text="a" * 1001, voice=preset)
    )
    elsewhere = {"type": "reference-audio", "audio_uri": "http://example.com/voice.mp3"}
    assert "audioUri" in refused(
        lambda: client.text_to_speech.create(model="seed_audio", prompt_text="Hello.", voice=elsewhere)
    )
    short = {"type": "text", "model": "eleven_ttv_v3", "prompt": "an old man"}
    assert "at least 20" in refused(lambda: client.voices.create(from_=short, name="Tom"))
    unknown_model = {"type": "text", "model": "eleven_ttv_v9", "prompt": "a gravelly old fisherman, slow"}
    assert "from" in refused(lambda: client.voices.create(from_=unknown_model, name="Tom"))  # type: ignore[typeddict-item]
    assert "404" in refused(lambda: client.voices.retrieve("0b6a6c3e-1d2f-4a5b-9c8d-7e6f5a4b3c2d"))
    wrong = runwayml.RunwayML(api_key="wrong-runway-key-not-real", max_retries=0)
    assert "401" in refused(lambda: wrong.voices.create(from_=short, name="Tom"))
    assert fake_providers.creates["runway-voice"] == 0

    made = client.voices.create(from_={**short, "prompt": "a gravelly old fisherman, slow"}, name="Tom")
    voice = client.voices.retrieve(made.id)
    assert voice.status == "READY" and voice.preview_url.endswith(f"/voices/{made.id}/preview.mp3")
