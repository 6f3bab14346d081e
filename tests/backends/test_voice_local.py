"""The local neural voice (Supertonic 3) on a tiny random-weight model with the real one's files and graph names:
ONNX Runtime inference, the text front end for English and Korean, clips cached by content, the missing-model hint,
`tale voices`, `tale models pull`, and a private render that opens no outside connection."""

from __future__ import annotations

import json
import shutil
import unicodedata
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.backends.base import SpeechRequest
from tale_cli.backends.local.supertonic import (
    BASE_PACE,
    BUILT_IN_VOICES,
    DEFAULT_MODEL,
    SupertonicVoice,
    model_language,
    pieces,
    prepare_text,
    weights_digest,
)
from tale_cli.backends.models import ONNX_VOICE_FILES, ModelMissingError, pull_model
from tale_cli.cli.app import app
from tale_cli.config import Recipe, VoiceConfig, load_recipe, with_sound_overrides
from tale_cli.errors import ExitCode, MissingDependencyError, PlanError
from tale_cli.keys.privacy import private_problems
from tale_cli.media.wav import wav_seconds
from tests import tiny_supertonic

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

RECIPE = """
width = 320
height = 180
fps = 12
shots = {shots}
seconds = {seconds}

[video]
backend = "preview"
{voice}
"""


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache of this test's own (and the suite is offline: HF_HUB_OFFLINE=1)."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def pulled(hub: Path) -> Path:
    """The tiny model where `tale models pull Supertone/supertonic-3` puts the real one; its snapshot folder."""
    return tiny_supertonic.save_to_hub_cache(hub, DEFAULT_MODEL)


def _backend(model: str = "") -> SupertonicVoice:
    return SupertonicVoice(Recipe(voice=VoiceConfig(backend="supertonic", model=model)))


def _speak(backend: SupertonicVoice, text: str, language: str, output: Path, *, speed: float = 1.0) -> dict:
    request = SpeechRequest(text=text, voice="F1", language=language, instructions="", speed=speed, output=output,
                            shot=1)  # fmt: skip
    return backend.speak(request).notes


def _recipe(tmp_path: Path, *, shots: int = 3, seconds: float = 5.0, voice: str = "") -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE.format(shots=shots, seconds=seconds, voice=voice), encoding="utf-8")
    return path


def _render(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["render", *args])


def _voice_lines(run_dir: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line["role"] == "voice"]


# ---------------------------------------------------------------------------------------------- speaking


@pytest.mark.parametrize(
    ("text", "language"), [("The lamp blazed back to life.", "en"), ("하늘은 편지를 건넸다.", "ko")]
)
def test_english_and_korean_are_spoken_through_the_real_graphs(
    pulled: Path, tmp_path: Path, text: str, language: str
) -> None:
    backend = _backend()
    backend.preflight()
    output = tmp_path / "clip.wav"
    notes = _speak(backend, text, language, output)
    assert notes == {"language": language, "pace": BASE_PACE, "steps": 8}
    with wave.open(str(output)) as clip:
        assert (clip.getnchannels(), clip.getsampwidth()) == (1, 2)
        assert clip.getframerate() == tiny_supertonic.CONFIG["ae"]["sample_rate"]  # the rate the model's config says
    # The tiny duration predictor gives each character the model reads (text and language tags) 30 to 60 ms.
    read = len(prepare_text(text)) + len(f"<{language}></{language}>")
    low, high = (read * seconds / BASE_PACE for seconds in (tiny_supertonic.MIN_CHAR_S, tiny_supertonic.MAX_CHAR_S))
    assert low - 0.01 <= wav_seconds(output) <= high + 0.01
    again = tmp_path / "again.wav"
    _speak(backend, text, language, again)
    assert again.read_bytes() == output.read_bytes()  # the same clip for the same words: the noise is seeded


def test_the_front_end_reads_korean_as_letters_and_plain_punctuation() -> None:
    korean = prepare_text("  하늘은 “편지”를   건넸다 ")
    assert not any("\uac00" <= c <= "\ud7a3" for c in korean)  # syllables decomposed into the letters it indexes
    assert unicodedata.normalize("NFC", korean) == '하늘은 "편지"를 건넸다.'
    assert prepare_text("Wait — what?! 🙂") == "Wait - what?!"
    assert prepare_text("a , b .") == "a, b."
    assert (model_language("ko"), model_language("ko-KR"), model_language("EN_us")) == ("ko", "ko", "en")
    assert model_language("zh") == "na"  # a language it was not trained on: the model's language-agnostic tag


def test_a_faster_speed_speaks_faster(pulled: Path, tmp_path: Path) -> None:
    backend = _backend()
    lengths = []
    for speed in (1.0, 1.5):
        _speak(backend, "Every evening Pip watched the boats come home.", "en", tmp_path / f"{speed}.wav", speed=speed)
        lengths.append(wav_seconds(tmp_path / f"{speed}.wav"))
    assert lengths[1] == pytest.approx(lengths[0] / 1.5, rel=0.02)


def test_long_text_is_spoken_in_pieces_cut_at_sentence_ends(pulled: Path, tmp_path: Path) -> None:
    sentence = "The keeper climbed the stairs and lit the lamp before the storm."
    text = " ".join([sentence] * 8)
    found = pieces(text, 300)
    assert len(found) == 2 and all(len(piece) <= 300 and piece.endswith(".") for piece in found)
    assert " ".join(found) == text
    korean = pieces("달빛 우체부는 밤마다 편지를 날랐다. " * 8, 120)
    assert [len(piece) for piece in korean] == [20 * 5 + 4, 20 * 3 + 2]  # five sentences of 20 characters, then three
    assert pieces("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    one = tmp_path / "one.wav"
    _speak(_backend(), sentence, "en", one)
    whole = tmp_path / "whole.wav"
    _speak(_backend(), text, "en", whole)
    assert wav_seconds(whole) > 7 * wav_seconds(one)


def test_characters_it_cannot_say_are_refused_by_name(pulled: Path, tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="characters the Supertonic voice cannot say: '字'"):
        _speak(_backend(), "The sign read 字.", "en", tmp_path / "clip.wav")
    assert not (tmp_path / "clip.wav").exists()


# ---------------------------------------------------------------------------------------------- the weights


def test_a_missing_model_names_the_pull_command(hub: Path, tmp_path: Path) -> None:
    backend = _backend()
    with pytest.raises(ModelMissingError) as missing:
        backend.preflight()
    assert missing.value.message == f"model {DEFAULT_MODEL} is not downloaded"
    assert f"tale models pull {DEFAULT_MODEL}" in (missing.value.hint or "")
    assert backend.fingerprint()["weights"] is None  # nothing can be spoken: the preflight says so
    assert [voice.name for voice in backend.voices()] == sorted(BUILT_IN_VOICES)
    partial = tiny_supertonic.save_to_hub_cache(hub, "tiny-org/partial")
    (partial / "onnx" / "vocoder.onnx").unlink()
    with pytest.raises(ModelMissingError, match=r"onnx/vocoder\.onnx is missing") as incomplete:
        _backend("tiny-org/partial").preflight()
    assert "tale models pull tiny-org/partial" in (incomplete.value.hint or "")


def test_without_the_extra_the_voices_are_still_listed_and_a_render_says_what_to_install(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # a core install: no extra that finds weights
    backend = _backend()
    assert [voice.name for voice in backend.voices()] == sorted(BUILT_IN_VOICES)
    assert backend.fingerprint()["weights"] is None
    with pytest.raises(MissingDependencyError, match="huggingface_hub is not installed") as missing:
        backend.preflight()
    assert "tale-cli[voice-local]" in (missing.value.hint or "")


def test_the_weights_are_part_of_every_clip_s_address(tmp_path: Path) -> None:
    first = tiny_supertonic.save_folder(tmp_path / "first", seed=0)
    second = tiny_supertonic.save_folder(tmp_path / "second", seed=1)
    copy = shutil.copytree(first, tmp_path / "copy")
    assert weights_digest(first) == weights_digest(copy) != weights_digest(second)
    fingerprint = _backend(str(first)).fingerprint()
    assert fingerprint == {"backend": "supertonic", "model": str(first), "weights": weights_digest(first), "steps": 8}


def test_pull_fetches_only_the_voice_s_files_and_list_names_it(pulled: Path) -> None:
    from huggingface_hub.utils import filter_repo_objects

    repository = [".gitattributes", "README.md", "LICENSE", "config.json", "img/hero.png", "samples/F1_en.wav",
                  *tiny_supertonic.model_files()]  # fmt: skip
    fetched = set(filter_repo_objects(repository, allow_patterns=ONNX_VOICE_FILES))
    assert fetched == set(tiny_supertonic.model_files())
    assert pull_model(DEFAULT_MODEL) == pulled  # offline, a pull confirms the cached snapshot
    listed = CliRunner().invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == ExitCode.OK, listed.output
    (entry,) = json.loads(listed.stdout)["models"]
    assert (entry["model"], entry["pipeline"]) == (DEFAULT_MODEL, "ONNX text-to-speech")


def test_tale_voices_lists_the_model_s_voices(hub: Path) -> None:
    before = CliRunner().invoke(app, ["voices", "--backend", "supertonic", "--json"])
    assert before.exit_code == ExitCode.OK, before.output
    (catalogue,) = json.loads(before.stdout)["backends"]
    assert [voice["name"] for voice in catalogue["voices"]] == sorted(BUILT_IN_VOICES)
    tiny_supertonic.save_to_hub_cache(hub, DEFAULT_MODEL)
    after = CliRunner().invoke(app, ["voices", "--backend", "supertonic", "--json"])
    (catalogue,) = json.loads(after.stdout)["backends"]
    assert (catalogue["backend"], catalogue["model"], catalogue["local"]) == ("supertonic", DEFAULT_MODEL, True)
    assert [voice["name"] for voice in catalogue["voices"]] == list(tiny_supertonic.VOICES)
    assert {"en", "ko"} <= set(catalogue["voices"][0]["languages"])
    table = CliRunner().invoke(app, ["voices", "--backend", "supertonic"], env={"COLUMNS": "200"})
    assert table.exit_code == ExitCode.OK and "offline" in table.output and "M1" in table.output


# ---------------------------------------------------------------------------------------------- rendering


def test_a_render_speaks_each_shot_once(pulled: Path, tmp_path: Path, story_file: Path) -> None:
    recipe = _recipe(tmp_path, voice='[voice]\nbackend = "supertonic"')
    result = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert result.exit_code == ExitCode.OK, result.output
    run_dir = tmp_path / "the-small-test"
    voice = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["voice"]
    assert voice["backend"] == "supertonic"
    assert [(clip["shot"], clip["voice"], clip["model"]) for clip in voice["clips"]] == [
        (shot, "F1", DEFAULT_MODEL)
        for shot in (1, 2, 3, 3)  # shot 3's quotation is a line of its own
    ]
    for clip in voice["clips"]:
        with wave.open(str(run_dir / clip["path"])) as spoken:
            assert spoken.getframerate() == 44100 and spoken.getnframes() > 44100
    assert len(_voice_lines(run_dir)) == 4
    again = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert again.exit_code == ExitCode.OK, again.output
    assert len(_voice_lines(run_dir)) == 4  # nothing spoken twice


def test_a_private_korean_render_speaks_korean_and_opens_no_outside_connection(
    pulled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    outbound_attempts: list,
) -> None:
    monkeypatch.chdir(tmp_path)
    recipe = _recipe(tmp_path, shots=8, seconds=8.0)
    result = _render(str(EXAMPLES / "story.ko.md"), "-r", str(recipe), "-o", "out", "--private", "--voice",
                     "supertonic:M1")  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.output
    run_dir = tmp_path / "out" / "달빛-우체부"
    clips = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["voice"]["clips"]
    assert [(clip["shot"], clip["voice"]) for clip in clips] == [(shot, "M1") for shot in range(1, 9)]
    lines = _voice_lines(run_dir)
    assert [line["backend"] for line in lines] == ["supertonic"] * 8
    assert outbound_attempts == []
    assert run_dir.stat().st_mode & 0o777 == 0o700


def test_the_local_voice_is_allowed_in_private_recipes() -> None:
    for name in ("private", "preview-supertonic-voice"):
        recipe = load_recipe(name)
        assert recipe.private and recipe.voice.backend == "supertonic" and private_problems(recipe) == []
    # --voice moves a cloud recipe to the local voice with that voice's own model, not the cloud one's.
    moved = with_sound_overrides(load_recipe("preview-openai-voice"), voice="supertonic")
    assert (moved.voice.backend, moved.voice.model, moved.voice.voice) == ("supertonic", "", "")
    assert private_problems(moved) == []


def test_missing_weights_stop_a_render_before_anything_is_made(hub: Path, tmp_path: Path, story_file: Path) -> None:
    out = tmp_path / "out"
    result = _render(str(story_file), "-r", "preview-supertonic-voice", "-o", str(out))
    assert result.exit_code == ExitCode.MISSING_DEPENDENCY, result.output
    assert f"error: model {DEFAULT_MODEL} is not downloaded" in result.stderr
    assert f"tale models pull {DEFAULT_MODEL}" in result.stderr
    assert not out.exists()
