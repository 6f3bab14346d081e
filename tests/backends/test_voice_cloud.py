"""OpenAI and Gemini voices against the fake servers: the real SDKs, strict requests, prices, audit, keys, retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.google import camel
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.film.mix import measure_loudness
from tests.sound import sounding_s

VOICED = """
description = "small animatic, narrated by a cloud voice"
width = 320
height = 180
fps = 12
shots = 3
seconds = 5.0

[video]
backend = "preview"

[voice]
backend = "{backend}"
{extra}
"""

DIALOGUE_PLAN = {
    "title": "Two at the lamp",
    "slug": "two-at-the-lamp",
    "characters": [
        {"id": "mira", "name": "Mira", "voice": "Kore"},
        {"id": "pip", "name": "Pip", "voice": "Puck"},
    ],
    "shots": [
        {"index": 1, "duration_s": 6.0, "prompt": "the lamp", "narration": "The storm rolled in."},
        {
            "index": 2,
            "duration_s": 6.0,
            "prompt": "the gears",
            "lines": [{"speaker": "mira", "text": "The gears are jammed!"}, {"speaker": "pip", "text": "Let me in."}],
        },
    ],
}


def _recipe(tmp_path: Path, backend: str, extra: str = "") -> Path:
    path = tmp_path / f"{backend}.toml"
    path.write_text(VOICED.format(backend=backend, extra=extra), encoding="utf-8")
    return path


def _render(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["render", *args, "--yes"])
    return result.exit_code, result.output


def _speech_requests(fake, path: str) -> list[dict]:
    return [request for request in fake.requests if request["path"] == path]


def _audit(run_dir: Path) -> list[dict]:
    lines = (run_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [entry for entry in map(json.loads, lines) if entry["role"] == "voice"]


def _realtime_texts(fake) -> list[str]:
    """The words each Realtime session was given to read, in order."""
    return [
        part["text"]
        for request in fake.requests
        if request["method"] == "WS" and request["json"].get("type") == "conversation.item.create"
        for part in request["json"]["item"]["content"]
    ]


def test_openai_narrates_through_the_realtime_api_priced_and_audited(
    fake_providers, tmp_path: Path, story_file: Path
) -> None:
    recipe = _recipe(tmp_path, "openai", 'voice = "coral"\ninstructions = "Calm and warm."')
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert code == ExitCode.OK, output
    assert _speech_requests(fake_providers, "/v1/audio/speech") == []
    assert fake_providers.creates["openai-realtime"] == 4  # three narrations and the letter's quoted line
    texts = _realtime_texts(fake_providers)
    # In the story's order: the letter's words, then what Ada does (they used to come last).
    assert texts[0].startswith("Ada walked") and texts[2:] == [
        "Meet me at the lighthouse.",
        "Ada smiled and began to run.",
    ]
    sessions = [
        r["json"]["session"] for r in fake_providers.requests if r["json"] and r["json"].get("type") == "session.update"
    ]
    assert sessions[0]["audio"]["output"]["voice"] == "coral" and sessions[0]["output_modalities"] == ["audio"]
    assert sessions[0]["instructions"].endswith("Style: Calm and warm.")
    connects = [r for r in fake_providers.requests if r["method"] == "GET" and r["path"] == "/v1/realtime"]
    assert {r["query"]["model"][0] for r in connects} == {"gpt-realtime-2.1-mini"}
    run_dir = tmp_path / "the-small-test"
    film = run_dir / "film.mp4"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    clips = manifest["voice"]["clips"]
    for clip in clips:
        assert clip["model"] == "gpt-realtime-2.1-mini" and 0 < clip["cost_usd"] < 0.01
        assert sounding_s(film, clip["start_s"], clip["start_s"] + clip["seconds"]) > 0.6 * clip["seconds"]
    loudness = measure_loudness(film)
    assert abs(loudness.integrated_lufs - -14.0) <= 1.0 and loudness.true_peak_db <= -1.5
    lines = _audit(run_dir)
    assert [line["shot"] for line in lines] == [1, 2, 3, 3]
    assert all(line["unit"] == "seconds" and line["cost_usd"] > 0 for line in lines)
    assert sum(clip["cost_usd"] for clip in clips) == pytest.approx(sum(line["cost_usd"] for line in lines), abs=1e-4)

    spent = CliRunner().invoke(app, ["cost", "spent", str(run_dir), "--json"])
    assert spent.exit_code == 0, spent.output
    assert json.loads(spent.stdout)["total_usd"] == pytest.approx(sum(c["cost_usd"] for c in clips), abs=0.01)

    again, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert again == ExitCode.OK, output
    assert fake_providers.creates["openai-realtime"] == 4  # a re-run speaks nothing


def test_the_speech_api_still_speaks_until_its_shutdown(fake_providers, tmp_path: Path, story_file: Path) -> None:
    from tale_cli.backends.openai.voice import SPEECH_API_SHUTDOWN, speech_api_retired

    recipe = _recipe(tmp_path, "openai", 'model = "gpt-4o-mini-tts"\nvoice = "nova"')
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert code == ExitCode.OK, output
    requests = _speech_requests(fake_providers, "/v1/audio/speech")
    assert len(requests) == 4 and requests[0]["json"]["model"] == "gpt-4o-mini-tts"
    assert fake_providers.creates["openai-realtime"] == 0
    assert not speech_api_retired("gpt-4o-mini-tts", SPEECH_API_SHUTDOWN.replace(day=5))
    assert speech_api_retired("tts-1", SPEECH_API_SHUTDOWN) and not speech_api_retired("gpt-realtime-2.1-mini")


def test_the_fake_realtime_api_is_as_strict_as_the_real_one(fake_providers) -> None:
    import base64

    import openai

    client = openai.OpenAI(api_key=fake_providers.keys["openai"], max_retries=0)

    def first_error(model: str, session: dict) -> str | None:
        with client.realtime.connect(model=model) as connection:
            connection.session.update(session=session)
            connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there."}]}
            )
            connection.response.create()
            audio = b""
            for event in connection:
                if event.type == "error":
                    return str(event.error.code)
                if event.type == "response.output_audio.delta":
                    audio += base64.b64decode(event.delta)
                if event.type == "response.done":
                    assert len(audio) > 24_000 and event.response.usage.output_token_details.audio_tokens > 0
                    return None
        return "closed"

    good = {"type": "realtime", "output_modalities": ["audio"], "audio": {"output": {"voice": "marin"}}}
    assert first_error("gpt-realtime-2.1-mini", good) is None
    # A custom voice speaks once made from a sample with its owner's consent; one made from a prompt only in Live.
    recording = ("consent.wav", b"RIFF fake wav bytes", "audio/wav")
    consent = client.audio.voice_consents.create(language="en", name="Ada", recording=recording)
    cloned = client.audio.voices.create(audio_sample=recording, consent=consent.id, name="Ada")
    designed = client.audio.voices.create(type="prompt", name="Ada", prompt="a calm, warm voice")
    assert cloned.type == "audio_sample" and designed.type == "prompt" and cloned.id.startswith("voice_")

    def custom(voice_id: str) -> dict:
        return {**good, "audio": {"output": {"voice": {"id": voice_id}}}}

    assert first_error("gpt-realtime-2.1-mini", custom(cloned.id)) is None
    assert first_error("gpt-realtime-2.1-mini", custom(designed.id)) == "invalid_value"
    assert first_error("gpt-realtime-2.1-mini", custom("voice_123")) == "invalid_value"
    with pytest.raises(openai.BadRequestError, match="consent"):
        client.audio.voices.create(audio_sample=recording, consent="cons_unknown", name="Ada")
    with pytest.raises(openai.BadRequestError, match="recording"):
        client.audio.voice_consents.create(language="en", name="Ada", recording=("a.txt", b"hi", "text/plain"))
    assert first_error("gpt-4o-mini-tts", good) == "model_not_found"
    assert first_error("gpt-realtime-2.1-mini", {**good, "output_modalities": ["text"]}) == "invalid_value"
    assert first_error("gpt-realtime-2.1-mini", {**good, "audio": {"output": {"voice": "fable"}}}) == "invalid_value"
    wrong = openai.OpenAI(api_key="wrong-openai-key-not-real-5555", max_retries=0)
    with pytest.raises(Exception, match="401"), wrong.realtime.connect(model="gpt-realtime-2.1-mini"):
        pass


def test_the_estimate_prices_the_voice(tmp_path: Path, story_file: Path) -> None:
    recipe = _recipe(tmp_path, "openai")
    result = CliRunner().invoke(app, ["cost", "estimate", str(story_file), "-r", str(recipe), "--json"])
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout)
    assert estimate["paid"] is True and estimate["voice_seconds"] > 5
    # gpt-realtime-2.1-mini: 20 audio tokens a second at $20 per million (priced as gpt-realtime-mini).
    assert estimate["voice_usd"] == pytest.approx(estimate["voice_seconds"] / 60 * 0.024, abs=0.01)
    assert estimate["total_usd"] == pytest.approx(estimate["voice_usd"], abs=0.01)


def test_a_429_is_retried_and_a_rejected_key_stops_before_any_shot(
    fake_providers, tmp_path: Path, story_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = _recipe(tmp_path, "openai")
    fake_providers.rate_limit_creates = 1
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path / "ok"))
    assert code == ExitCode.OK, output
    lines = _audit(tmp_path / "ok" / "the-small-test")
    assert [line["outcome"] for line in lines if line["shot"] == 1] == ["retry", "ok"]

    monkeypatch.setenv("TALE_OPENAI_API_KEY", "wrong-openai-key-not-real-9876")
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path / "bad"))
    assert code == ExitCode.KEYS, output
    assert "rejected the API key" in output and "wrong-openai-key" not in output
    assert not list((tmp_path / "bad" / "the-small-test" / "shots").glob("shot-*.mp4"))


def test_cloud_voices_are_refused_in_private_mode_before_any_request(
    fake_providers, tmp_path: Path, story_file: Path
) -> None:
    code, output = _render(str(story_file), "-o", str(tmp_path), "--voice", "openai", "--private")
    assert code == ExitCode.PRIVACY and "voice backend 'openai' is a cloud service" in output
    assert fake_providers.requests == []


def test_what_the_voice_cannot_take_is_refused_before_any_request(
    fake_providers, tmp_path: Path, story_file: Path
) -> None:
    recipe = _recipe(tmp_path, "openai")
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path), "--voice", "openai:robot")
    assert code == ExitCode.RECIPE and "no voice 'robot'" in output and "tale voices" in output
    plan = {"title": "Long", "slug": "long", "shots": [{"index": 1, "duration_s": 8, "prompt": "p"}]}
    plan["shots"][0]["narration"] = "word " * 30
    (tmp_path / "long.json").write_text(json.dumps(plan), encoding="utf-8")
    code, output = _render(str(tmp_path / "long.json"), "-r", str(recipe), "-o", str(tmp_path))
    assert code == ExitCode.PLAN and "shot 1's speech needs 10.7 s" in output
    assert fake_providers.requests == []


def test_gemini_promises_no_speed(fake_providers, tmp_path: Path, story_file: Path) -> None:
    recipe = _recipe(tmp_path, "gemini", "speed = 1.2")
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert code == ExitCode.RECIPE and "Gemini TTS takes no speed" in output
    assert fake_providers.requests == []


def test_a_dialogue_longer_than_one_request_takes_is_refused(fake_providers, tmp_path: Path) -> None:
    plan = json.loads(json.dumps(DIALOGUE_PLAN))
    plan["shots"][1].update(
        duration_s=60, lines=[{"speaker": s, "text": "word " * 380} for s in ("mira", "pip", "mira")]
    )
    (tmp_path / "long.json").write_text(json.dumps(plan), encoding="utf-8")
    code, output = _render(str(tmp_path / "long.json"), "-r", str(_recipe(tmp_path, "gemini")), "-o", str(tmp_path))
    assert code == ExitCode.PLAN and "the gemini voice takes at most 5000" in output
    assert fake_providers.requests == []


def test_the_fake_speech_api_is_as_strict_as_the_real_one(fake_providers) -> None:
    import openai

    client = openai.OpenAI(api_key=fake_providers.keys["openai"], max_retries=0)
    pcm = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="marin", input="Hello there.", response_format="pcm"
    )
    assert len(pcm.content) > 24_000  # over half a second of 24 kHz 16-bit speech
    wav = client.audio.speech.create(model="gpt-4o-mini-tts", voice="marin", input="Hello.", response_format="wav")
    assert wav.content[:4] == b"RIFF"
    for wrong, fragment in (
        ({"input": "x" * 4097}, "string too long"),
        ({"voice": "robot"}, "'voice'"),
        ({"response_format": "ogg"}, "response_format"),
        ({"model": "tts-1", "instructions": "Whisper."}, "Instructions are not supported"),
    ):
        params = {"model": "gpt-4o-mini-tts", "voice": "marin", "input": "Hi.", **wrong}
        with pytest.raises(openai.BadRequestError, match=fragment):
            client.audio.speech.create(**params)


def test_gemini_speaks_a_dialogue_in_one_request_with_two_voices(fake_providers, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "gemini", 'voice = "Charon"\ninstructions = "Tell it gently"')
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(DIALOGUE_PLAN), encoding="utf-8")
    code, output = _render(str(plan_file), "-r", str(recipe), "-o", str(tmp_path))
    assert code == ExitCode.OK, output
    requests = [r for r in fake_providers.requests if r["path"].endswith("gemini-3.8-flash-tts:generateContent")]
    assert len(requests) == 2
    narration, dialogue = (camel(request["json"]["generationConfig"]) for request in requests)
    assert narration["responseModalities"] == ["AUDIO"]
    assert narration["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Charon"
    speakers = dialogue["speechConfig"]["multiSpeakerVoiceConfig"]["speakerVoiceConfigs"]
    assert [(s["speaker"], s["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"]) for s in speakers] == [
        ("Mira", "Kore"),
        ("Pip", "Puck"),
    ]
    text = requests[1]["json"]["contents"][0]["parts"][0]["text"]
    assert "Mira: The gears are jammed!\nPip: Let me in." in text and text.startswith("Tell it gently")
    run_dir = tmp_path / "two-at-the-lamp"
    clips = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["voice"]["clips"]
    assert [clip["shot"] for clip in clips] == [1, 2] and all(clip["cost_usd"] > 0 for clip in clips)
    film = run_dir / "film.mp4"
    for clip in clips:
        assert sounding_s(film, clip["start_s"], clip["start_s"] + clip["seconds"]) > 0.6 * clip["seconds"]
    loudness = measure_loudness(film)
    assert abs(loudness.integrated_lufs - -14.0) <= 1.0 and loudness.true_peak_db <= -1.5


def test_gemini_refuses_voices_it_does_not_have(fake_providers, tmp_path: Path) -> None:
    from google import genai
    from google.genai import errors, types

    client = genai.Client(api_key=fake_providers.keys["google"])
    voice = types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Robot"))
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"], speech_config=types.SpeechConfig(voice_config=voice)
    )
    with pytest.raises(errors.ClientError, match="Voice name Robot is not supported"):
        client.models.generate_content(model="gemini-3.8-flash-tts", contents="Hello", config=config)
    with pytest.raises(errors.ClientError, match="response modalities"):
        client.models.generate_content(
            model="gemini-3.8-flash",
            contents="Hello",
            config=types.GenerateContentConfig(response_modalities=["AUDIO"]),
        )


# ---------------------------------------------------------------------------------------------- Lyria


def test_lyria_composes_a_bed_once_priced_and_ducked(fake_providers, tmp_path: Path, story_file: Path) -> None:
    recipe = _recipe(tmp_path, "espeak", '[music]\nsource = "lyria"\nmodel = "lyria-3-clip-preview"')
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert code == ExitCode.OK, output
    asked = [r for r in fake_providers.requests if r["path"].endswith("/interactions")]
    assert len(asked) == 1
    body = asked[0]["json"]
    assert body["model"] == "lyria-3-clip-preview" and body["response_format"]["type"] == "audio"
    assert "instrumental" in body["input"] and "The Small Test" in body["input"]
    run_dir = tmp_path / "the-small-test"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["music"]["cost_usd"] == 0.04 and manifest["music"]["seconds"] == 30.0
    assert manifest["mix"]["music"] == str(run_dir / manifest["music"]["path"])
    film = run_dir / "film.mp4"
    assert sounding_s(film, 0.0, 15.0) > 14.5  # the bed under and between the lines
    loudness = measure_loudness(film)
    assert abs(loudness.integrated_lufs - -14.0) <= 1.0 and loudness.true_peak_db <= -1.5
    music_lines = [line for line in map(json.loads, (run_dir / "audit.jsonl").read_text().splitlines())
                   if line["role"] == "music"]  # fmt: skip
    assert [(line["backend"], line["cost_usd"]) for line in music_lines] == [("lyria", 0.04)]

    again, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path))
    assert again == ExitCode.OK, output
    assert len([r for r in fake_providers.requests if r["path"].endswith("/interactions")]) == 1

    estimate = CliRunner().invoke(app, ["cost", "estimate", str(story_file), "-r", str(recipe), "--json"])
    assert estimate.exit_code == 0, estimate.output
    assert json.loads(estimate.stdout)["music_usd"] == 0.04


def test_music_lyria_on_the_command_line_and_in_private_mode(fake_providers, tmp_path: Path, story_file: Path) -> None:
    recipe = _recipe(tmp_path, "espeak")
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path), "--music", "lyria", "--private")
    assert code == ExitCode.PRIVACY and "music backend 'lyria' is a cloud service" in output
    assert fake_providers.requests == []
    fake_providers.refuse_word = "small test"
    code, output = _render(str(story_file), "-r", str(recipe), "-o", str(tmp_path), "--music", "lyria")
    assert code == ExitCode.BACKEND and "Lyria composed no music" in output
    assert not list((tmp_path / "the-small-test" / "shots").glob("shot-*.mp4"))  # stopped before the pictures
