"""The voice track with the real eSpeak NG and ffmpeg: spoken per shot, fitted, cached, mixed to loudness."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.backends.base import SpeechRequest
from tale_cli.backends.local.espeak import EspeakVoice
from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.errors import ExitCode, PlanError, RecipeError
from tale_cli.film.mix import measure_loudness
from tale_cli.film.voice import (
    LEAD_S,
    MAX_SPEEDUP,
    TAIL_S,
    SpeechTooLongError,
    _utterances,
    check_speech_fits,
    clip_hash,
    natural_seconds,
    plan_speech,
    shot_windows,
    voice_backend,
)
from tale_cli.media.wav import wav_seconds
from tale_cli.story.plan import parse_plan
from tests.sound import sounding_s, sounding_spans
from tests.videos import make_audio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

VOICE_RECIPE = """
description = "small animatic with a scratch voice"
width = 320
height = 180
fps = 12
shots = 3
seconds = 5.0

[video]
backend = "preview"

[voice]
backend = "espeak"
"""


@pytest.fixture
def voice_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "voiced.toml"
    path.write_text(VOICE_RECIPE, encoding="utf-8")
    return path


def _render(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["render", *args])
    return result.exit_code, result.output


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def _voice_lines(run_dir: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line["role"] == "voice"]


def _plan(shots: list[dict], **extra) -> object:
    return parse_plan({"title": "T", "slug": "t", "shots": shots, **extra})


# ---------------------------------------------------------------------------------------------- eSpeak NG


@pytest.mark.parametrize(
    ("voice", "text"), [("en-us", "The lamp blazed back to life."), ("ko", "하늘은 편지를 건넸다.")]
)
def test_espeak_speaks_english_and_korean(tmp_path: Path, voice: str, text: str) -> None:
    backend = EspeakVoice(load_recipe("preview"))
    output = tmp_path / "clip.wav"
    backend.speak(SpeechRequest(text=text, voice=voice, language="", instructions="", speed=1.0, output=output, shot=1))
    with wave.open(str(output)) as clip:
        assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, 22050)
    assert 1.0 < wav_seconds(output) < 4.0
    assert measure_loudness(output).integrated_lufs > -40  # speech, not silence


def test_espeak_offers_korean_and_checks_voices() -> None:
    backend = EspeakVoice(load_recipe("preview"))
    names = {info.name for info in backend.voices()}
    assert {"en-us", "ko", "ja", "cmn"} <= names and len(names) > 100
    assert backend.default_voice("en") == "en-us" and backend.default_voice("ko") == "ko"
    backend.check_voice("en-us+f3")
    with pytest.raises(RecipeError, match="no voice 'klingon'"):
        backend.check_voice("klingon")
    with pytest.raises(RecipeError, match="no voice for the language 'tlh'"):
        backend.default_voice("tlh")


def test_a_faster_speed_speaks_faster(tmp_path: Path) -> None:
    backend = EspeakVoice(load_recipe("preview"))
    lengths = []
    for speed in (1.0, 1.5):
        output = tmp_path / f"{speed}.wav"
        request = SpeechRequest(text="Every evening Pip watched the boats come home.", voice="en-us", language="en",
                                instructions="", speed=speed, output=output, shot=1)  # fmt: skip
        backend.speak(request)
        lengths.append(wav_seconds(output))
    assert lengths[1] < lengths[0] * 0.8


# ---------------------------------------------------------------------------------------------- the plan speaks


def test_lines_name_known_speakers() -> None:
    characters = [{"id": "mira", "name": "Mira", "voice": "en-gb"}]
    plan = _plan(
        [{"index": 1, "duration_s": 8, "prompt": "p", "narration": "At dawn.",
          "lines": [{"speaker": "mira", "text": "Hello!"}, {"speaker": "narrator", "text": "She said."}]}],
        characters=characters,
    )  # fmt: skip
    recipe = load_recipe("preview")
    speech = plan_speech(plan, recipe, voice_backend(recipe))
    assert [(u.text, u.voice) for u in speech[0].utterances] == [
        ("At dawn.", "en-us"),
        ("Hello!", "en-gb"),
        ("She said.", "en-us"),
    ]
    with pytest.raises(PlanError, match="unknown speaker 'pip'"):
        _plan([{"index": 1, "duration_s": 8, "prompt": "p", "lines": [{"speaker": "pip", "text": "Hi"}]}])
    assert "lines" not in plan.to_json() or '"speaker": "mira"' in plan.to_json()
    bare = _plan([{"index": 1, "duration_s": 8, "prompt": "p"}])
    assert '"lines"' not in bare.to_json() and '"voice"' not in bare.to_json()


def test_speech_is_spoken_in_the_order_the_story_tells_it() -> None:
    characters = [{"id": "mira", "name": "Mira", "voice": "en-gb"}, {"id": "pip", "name": "Pip", "voice": "en-us+f3"}]
    speech = [{"who": "mira", "text": "Look!"}, {"who": "narrator", "text": "The lamp came on."},
              {"who": "pip", "text": "Mrrp."}, {"who": "mira", "text": "Good cat."}]  # fmt: skip
    plan = _plan([{"index": 1, "duration_s": 8, "prompt": "p", "speech": speech}], characters=characters)
    recipe = load_recipe("preview")
    backend = voice_backend(recipe)
    said = plan_speech(plan, recipe, backend)[0].utterances
    assert [(u.text, u.voice) for u in said] == [
        ("Look!", "en-gb"), ("The lamp came on.", "en-us"), ("Mrrp.", "en-us+f3"), ("Good cat.", "en-gb")
    ]  # fmt: skip
    # A backend that voices two speakers at once hears lines said one after another as one dialogue, and the
    # narration between them in its place.
    dialogue = _utterances(plan, plan.shots[0], "en-us", 2, "espeak")
    assert [u.text for u in dialogue] == ["Look!", "The lamp came on.", "Pip: Mrrp.\nMira: Good cat."]
    assert [s.name for s in dialogue[2].speakers] == ["Pip", "Mira"]
    # Narration, then lines, as plans had it: the same clips, so nothing already spoken is spoken again.
    old = _plan([{"index": 1, "duration_s": 8, "prompt": "p", "narration": "At dawn.",
                  "lines": [{"speaker": "mira", "text": "Look!"}]}], characters=characters)  # fmt: skip
    new = _plan([{"index": 1, "duration_s": 8, "prompt": "p", "speech": [
        {"who": "narrator", "text": "At dawn."}, {"who": "mira", "text": "Look!"}]}], characters=characters)  # fmt: skip
    hashes = [[clip_hash(backend, recipe, u, "en") for u in plan_speech(p, recipe, backend)[0].utterances]
              for p in (old, new)]  # fmt: skip
    assert hashes[0] == hashes[1] and len(hashes[0]) == 2
    assert [u.text for u in plan_speech(old, recipe, backend)[0].utterances] == ["At dawn.", "Look!"]


def test_windows_follow_crossfades() -> None:
    assert shot_windows([8, 8, 8]) == [(0, 8), (8, 16), (16, 24)]
    assert shot_windows([8, 8], 1.0) == [(0, 7.5), (7.5, 15)]


def test_words_that_cannot_fit_are_refused_before_anything_is_spent() -> None:
    long_text = " ".join(["word"] * 40)
    plan = _plan([{"index": 1, "duration_s": 4, "prompt": "p", "narration": long_text}])
    recipe = load_recipe("preview")
    speech = plan_speech(plan, recipe, voice_backend(recipe))
    assert natural_seconds(long_text) > (4 - LEAD_S - TAIL_S) * MAX_SPEEDUP
    with pytest.raises(SpeechTooLongError, match=r"shot 1's speech needs 14\.3 s") as caught:
        check_speech_fits(speech, 1.0)
    assert "plan.json" in (caught.value.hint or "")
    assert natural_seconds("하늘은 편지를 건넸다") == pytest.approx(9 / 6.5)


# ---------------------------------------------------------------------------------------------- renders


def test_narration_is_spoken_in_every_shot_at_the_target_loudness(
    tmp_path: Path, story_file: Path, voice_recipe: Path
) -> None:
    code, output = _render(str(story_file), "--recipe", str(voice_recipe), "--out", str(tmp_path))
    assert code == ExitCode.OK, output
    run_dir = tmp_path / "the-small-test"
    film = run_dir / "film.mp4"
    loudness = measure_loudness(film)
    assert abs(loudness.integrated_lufs - -14.0) <= 1.0
    assert loudness.true_peak_db <= -1.5
    manifest = _manifest(run_dir)
    clips = manifest["voice"]["clips"]
    # The third shot's quotation ("Meet me at the lighthouse.") is a clip of its own, before the narration that
    # follows it in the story (it used to come after).
    assert [clip["shot"] for clip in clips] == [1, 2, 3, 3]
    assert [clip["text"] for clip in clips[2:]] == ["Meet me at the lighthouse.", "Ada smiled and began to run."]
    assert clips[2]["start_s"] + clips[2]["seconds"] < clips[3]["start_s"]
    for clip in clips:
        number = clip["shot"] - 1
        start, end = clip["start_s"], clip["start_s"] + clip["seconds"]
        assert number * 5.0 + LEAD_S <= start + 1e-6 and end <= (number + 1) * 5.0 - TAIL_S + 1e-6
        assert sounding_s(film, start, end) > 0.6 * clip["seconds"]
    # Sound only where the voice speaks: the preview's own sound is silence, and there is no bed. (A silence
    # shorter than silencedetect's shortest, like the lead-in before the first clip, reads as sound.)
    spans = sounding_spans(film)
    for begin, finish in spans:
        inside = any(c["start_s"] - 0.2 <= begin and finish <= c["start_s"] + c["seconds"] + 0.1 for c in clips)
        assert inside, (begin, finish, spans, [(c["start_s"], c["seconds"]) for c in clips])
    assert manifest["mix"]["voice"] is True and abs(manifest["mix"]["integrated_lufs"] - -14.0) <= 1.0
    assert len(_voice_lines(run_dir)) == 4

    again, output = _render(str(story_file), "--recipe", str(voice_recipe), "--out", str(tmp_path))
    assert again == ExitCode.OK, output
    assert len(_voice_lines(run_dir)) == 4  # nothing spoken twice

    plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    plan["shots"][1]["narration"] = "The boats slept on."
    (run_dir / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    edited, output = _render(str(run_dir / "plan.json"), "--recipe", str(voice_recipe), "--out", str(tmp_path))
    assert edited == ExitCode.OK, output
    lines = _voice_lines(run_dir)
    assert len(lines) == 5 and lines[-1]["shot"] == 2


def test_a_music_bed_plays_between_the_lines_and_ducks_under_them(
    tmp_path: Path, story_file: Path, voice_recipe: Path
) -> None:
    bed = make_audio(tmp_path / "bed.m4a", seconds=5.0, frequency=220)
    code, output = _render(str(story_file), "--recipe", str(voice_recipe), "--out", str(tmp_path), "--audio", str(bed))
    assert code == ExitCode.OK, output
    run_dir = tmp_path / "the-small-test"
    film = run_dir / "film.mp4"
    loudness = measure_loudness(film)
    assert abs(loudness.integrated_lufs - -14.0) <= 1.0 and loudness.true_peak_db <= -1.5
    assert sounding_spans(film) == [(0.0, pytest.approx(15.0, abs=0.05))]  # the bed never stops
    assert _manifest(run_dir)["mix"]["music"] == str(bed)


def test_no_voice_and_music_none_leave_the_film_as_stitched(
    tmp_path: Path, story_file: Path, voice_recipe: Path
) -> None:
    code, output = _render(
        str(story_file), "--recipe", str(voice_recipe), "--out", str(tmp_path), "--no-voice", "--music", "none"
    )
    assert code == ExitCode.OK, output
    run_dir = tmp_path / "the-small-test"
    manifest = _manifest(run_dir)
    assert manifest.get("voice") is None and manifest.get("mix") is None and manifest["film"]["fast_path"] is True
    assert sounding_spans(run_dir / "film.mp4") == []


def test_speech_too_long_for_its_shot_stops_the_render_before_any_shot(
    tmp_path: Path, story_file: Path, voice_recipe: Path
) -> None:
    # The planner keeps each shot's words within its seconds; a hand-edited plan.json may not.
    planned = CliRunner().invoke(app, ["plan", str(story_file), "-r", str(voice_recipe), "-o", str(tmp_path)])
    assert planned.exit_code == 0, planned.output
    plan_file = tmp_path / "the-small-test" / "plan.json"
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    plan["shots"][0]["narration"] = " ".join(["Ada walked slowly along the quiet harbour wall at dawn."] * 3)
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    code, output = _render(str(plan_file), "--recipe", str(voice_recipe), "--out", str(tmp_path))
    assert code == ExitCode.PLAN, output
    assert "shot 1's speech needs" in output and "plan.json" in output
    assert not list((tmp_path / "the-small-test" / "shots").glob("shot-*.mp4"))


def test_voice_flags(tmp_path: Path, story_file: Path, voice_recipe: Path) -> None:
    code, output = _render(str(story_file), "-r", str(voice_recipe), "-o", str(tmp_path), "--voice", "sora")
    assert code == ExitCode.RECIPE and "unknown voice backend 'sora'" in output and "espeak" in output
    code, output = _render(str(story_file), "-r", str(voice_recipe), "-o", str(tmp_path), "--voice", "espeak:xx")
    assert code == ExitCode.RECIPE and "no voice 'xx'" in output
    code, output = _render(str(story_file), "-o", str(tmp_path), "--voice", "espeak", "--no-voice")
    assert code == ExitCode.INPUT and "contradict" in output
    code, output = _render(str(story_file), "-o", str(tmp_path), "--music", str(tmp_path / "missing.mp3"))
    assert code == ExitCode.INPUT and "music file not found" in output
    code, output = _render(str(story_file), "-r", str(voice_recipe), "-o", str(tmp_path), "--voice",
                           "espeak:en-gb+f3", "--private")  # fmt: skip
    assert code == ExitCode.OK, output
    assert {clip["voice"] for clip in _manifest(tmp_path / "the-small-test")["voice"]["clips"]} == {"en-gb+f3"}


def test_korean_narration_is_spoken_in_every_shot(tmp_path: Path) -> None:
    recipe = tmp_path / "ko.toml"
    recipe.write_text(VOICE_RECIPE.replace("shots = 3", "shots = 8").replace("seconds = 5.0", "seconds = 8.0"))
    code, output = _render(str(EXAMPLES / "story.ko.md"), "--recipe", str(recipe), "--out", str(tmp_path))
    assert code == ExitCode.OK, output
    run_dir = tmp_path / "달빛-우체부"
    film = run_dir / "film.mp4"
    clips = _manifest(run_dir)["voice"]["clips"]
    assert [clip["shot"] for clip in clips] == list(range(1, 9))
    assert {clip["voice"] for clip in clips} == {"ko"}
    for index in range(8):
        assert sounding_s(film, index * 8.0, index * 8.0 + 8.0) > 3.0
    loudness = measure_loudness(film)
    assert abs(loudness.integrated_lufs - -14.0) <= 1.0 and loudness.true_peak_db <= -1.5


# ---------------------------------------------------------------------------------------------- tale voices


def test_tale_voices_lists_every_backend_and_one_on_request() -> None:
    result = CliRunner().invoke(app, ["voices", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    catalogues = {entry["backend"]: entry for entry in json.loads(result.stdout)["backends"]}
    assert set(catalogues) == {"espeak", "openai", "gemini", "runway", "supertonic"}
    assert catalogues["espeak"]["local"] is True and catalogues["openai"]["local"] is False
    espeak = {voice["name"]: voice for voice in catalogues["espeak"]["voices"]}
    assert espeak["ko"]["description"] == "Korean" and "en-us" in espeak
    assert {"marin", "coral", "cedar"} <= {voice["name"] for voice in catalogues["openai"]["voices"]}
    assert {"Kore", "Puck", "Sulafat"} <= {voice["name"] for voice in catalogues["gemini"]["voices"]}
    table = CliRunner().invoke(app, ["voices", "--backend", "openai"], env={"COLUMNS": "120"})
    assert table.exit_code == ExitCode.OK and "marin" in table.output and "Korean" not in table.output
    unknown = CliRunner().invoke(app, ["voices", "--backend", "sora"])
    assert unknown.exit_code == ExitCode.RECIPE
    assert "valid names are: espeak, gemini, openai, runway, supertonic" in unknown.output


def test_stitching_a_run_folder_again_keeps_its_voice(tmp_path: Path, story_file: Path, voice_recipe: Path) -> None:
    code, output = _render(str(story_file), "--recipe", str(voice_recipe), "--out", str(tmp_path))
    assert code == ExitCode.OK, output
    run_dir = tmp_path / "the-small-test"
    result = CliRunner().invoke(app, ["stitch", str(run_dir), "--loudness", "-20"])
    assert result.exit_code == ExitCode.OK, result.output
    film = run_dir / "film.mp4"
    assert abs(measure_loudness(film).integrated_lufs - -20.0) <= 1.0
    first = _manifest(run_dir)["voice"]["clips"][0]
    assert sounding_s(film, first["start_s"], first["start_s"] + first["seconds"]) > 0.6 * first["seconds"]
    silent = CliRunner().invoke(app, ["stitch", str(run_dir), "--no-voice"])
    assert silent.exit_code == ExitCode.OK, silent.output
    assert sounding_spans(film) == []


KEEPERS = """---
title: Two Keepers
shots: 2
characters:
  - name: Mira
    description: a young woman who keeps the lighthouse
  - name: Tom
    description: an old fisherman
---

The storm came at night. "The lamp is out," Mira said.

Tom pulled on his coat. "I will row out," Tom said.
"""


def test_a_character_keeps_its_voice_in_every_retake_and_film(tmp_path: Path, voice_recipe: Path) -> None:
    story = tmp_path / "keepers.md"
    story.write_text(KEEPERS, encoding="utf-8")
    code, output = _render(str(story), "--recipe", str(voice_recipe), "--out", str(tmp_path / "first"))
    assert code == ExitCode.OK, output
    run_dir = tmp_path / "first" / "two-keepers"
    cast = {c["id"]: c["voice"]["espeak"] for c in json.loads((run_dir / "plan.json").read_text())["characters"]}
    assert cast == {"mira": "en-us+f1", "tom": "en-us+grandpa"}

    def spoken(run: Path) -> dict[str, str]:
        return {clip["text"]: clip["voice"] for clip in _manifest(run)["voice"]["clips"]}

    first = spoken(run_dir)
    assert first == {
        "The storm came at night.": "en-us",
        "The lamp is out.": cast["mira"],
        "Tom pulled on his coat.": "en-us",
        "I will row out.": cast["tom"],
    }
    retake = CliRunner().invoke(app, ["retake", str(run_dir), "1", "2", "--new-seed"])
    assert retake.exit_code == ExitCode.OK, retake.output
    assert spoken(run_dir) == first and len(_manifest(run_dir)["shots"]["1"]["takes"]) == 2
    code, output = _render(str(run_dir / "plan.json"), "--recipe", str(voice_recipe), "--out", str(tmp_path / "second"))
    assert code == ExitCode.OK, output
    assert spoken(tmp_path / "second" / "two-keepers") == first
    # A narrator's voice given on the command line changes the narration only: the characters keep theirs.
    code, output = _render(str(run_dir / "plan.json"), "--voice", "espeak:en-gb", "--out", str(tmp_path / "third"))
    assert code == ExitCode.OK, output
    third = spoken(tmp_path / "third" / "two-keepers")
    assert third["The lamp is out."] == cast["mira"] and third["The storm came at night."] == "en-gb"
