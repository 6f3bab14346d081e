"""Fake OpenAI API (api.openai.com/v1): Responses for plans, Images generate and edit, Speech, the Realtime WebSocket,
custom voices (a consent recording, then a voice from a sample or a description), the models list.

Keys come as `Authorization: Bearer`; errors are {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import time
import uuid
import wave
from typing import Any

from fakes.plans import plan_text
from fakes.server import Call, Route, png_bytes, speech_pcm

KEY_PROVIDER = "openai"
FAKE_KEY = "test-openai-key-not-real-1234"
CLEARED_ENV: tuple[str, ...] = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "TALE_OPENAI_API_KEY")
# The models the free listing names, with the shutdown dates OpenAI announces; Responses and Images answer for any
# model name.
LISTED_MODELS: dict[str, str | None] = {
    "gpt-5-mini": None,
    "gpt-5.4-mini": None,
    "gpt-image-1": "2026-10-23",
    "gpt-image-2": None,
    "gpt-realtime-2.1-mini": None,
    "gpt-4o-mini-tts": "2027-01-06",
}


def environment(url: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": url + "/v1", "TALE_OPENAI_API_KEY": FAKE_KEY}


def error(message: str, error_type: str, *, param: str | None = None, code: str | None = None) -> Any:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def busy_error(status: int) -> Any:
    if status == 429:
        return error("Rate limit reached", "requests", code="rate_limit_exceeded")
    return error("The server is overloaded or not ready yet.", "server_error")


def _missing(call: Call, param: str) -> bool:
    """True, after a 400 naming the parameter, when the JSON body lacks it."""
    if (call.json or {}).get(param):
        return False
    message = f"Missing required parameter: '{param}'."
    call.send(400, error(message, "invalid_request_error", param=param, code="missing_required_parameter"))
    return True


def _key_refused(call: Call) -> bool:
    """False for the right key; otherwise 401, with the wrong key echoed so tests prove Tale scrubs it."""
    given = call.bearer()
    if given == call.fake.keys[KEY_PROVIDER]:
        return False
    if not given:
        message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
        call.send(401, error(message, "invalid_request_error"))
    else:
        message = f"Incorrect API key provided: {given}."
        call.send(401, error(message, "invalid_request_error", code="invalid_api_key"))
    return True


def create_response(call: Call, match: re.Match[str]) -> None:
    """A Responses call with a JSON schema: the planner's."""
    if _key_refused(call) or call.throttled(busy_error) or _missing(call, "model"):
        return
    body = call.json
    prompt = body.get("input") if isinstance(body.get("input"), str) else json.dumps(body.get("input"))
    schema = body.get("text", {}).get("format", {}).get("schema")
    text = plan_text(call.fake, schema, prompt or "")
    content = [{"type": "output_text", "text": text, "annotations": []}]
    message = {"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant", "content": content}
    response = {
        "id": "resp_" + uuid.uuid4().hex[:12],
        "object": "response",
        "created_at": int(time.time()),
        "model": body["model"],
        "status": "completed",
        "output": [message],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 100, "output_tokens": 200, "total_tokens": 300},
    }
    call.send(200, response)


def create_image(call: Call, match: re.Match[str]) -> None:
    """Images generate (JSON) and edit (multipart form, whose prompt is one of the fields)."""
    if _key_refused(call) or call.throttled(busy_error):
        return
    if call.json is None:
        found = re.search(r'name="prompt"\r\n\r\n(.*?)\r\n--', call.raw.decode("latin-1"), flags=re.DOTALL)
        prompt = found.group(1) if found else ""
        kind = "openai-edit"
    elif _missing(call, "prompt"):
        return
    else:
        prompt = call.json["prompt"]
        kind = "openai-image"
    call.fake.count(kind)
    if call.fake.refuses(prompt):
        message = "Your request was rejected by the safety system."
        call.send(400, error(message, "image_generation_user_error", code="moderation_blocked"))
        return
    image = base64.b64encode(png_bytes(len(prompt))).decode()
    call.send(200, {"created": int(time.time()), "data": [{"b64_json": image}]})


SPEECH_MODELS = ("gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "tts-1", "tts-1-hd")
SPEECH_VOICES = ("alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
                 "shimmer", "verse")  # fmt: skip
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SPEECH_MAX_CHARS = 4096
_ENCODED = {"mp3": ("mp3", "audio/mpeg"), "opus": ("ogg", "audio/ogg"), "aac": ("adts", "audio/aac"),
            "flac": ("flac", "audio/flac")}  # fmt: skip


def _invalid(call: Call, message: str, param: str) -> bool:
    call.send(400, error(message, "invalid_request_error", param=param, code="invalid_value"))
    return True


def _bad_speech(call: Call, body: dict[str, Any]) -> bool:
    """True, after the API's 400, for a speech request it refuses: as strict as the real one on every field."""
    if body.get("model") not in SPEECH_MODELS:
        return _invalid(call, f"Invalid model '{body.get('model')}'. Expected one of {list(SPEECH_MODELS)}.", "model")
    text = body.get("input")
    if not isinstance(text, str) or not text:
        return _missing(call, "input")
    if len(text) > SPEECH_MAX_CHARS:
        message = f"Invalid 'input': string too long. Expected a string with maximum length {SPEECH_MAX_CHARS}, but got a string with length {len(text)} instead."
        call.send(400, error(message, "invalid_request_error", param="input", code="string_above_max_length"))
        return True
    if body.get("voice") not in SPEECH_VOICES:
        return _invalid(call, f"Invalid value for 'voice': '{body.get('voice')}'.", "voice")
    if body.get("response_format", "mp3") not in SPEECH_FORMATS:
        return _invalid(
            call, f"Invalid value for 'response_format': '{body.get('response_format')}'.", "response_format"
        )
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
        return _invalid(call, "Invalid 'speed': expected a number from 0.25 to 4.0.", "speed")
    if body.get("instructions") and str(body["model"]).startswith("tts-1"):
        return _invalid(call, f"Instructions are not supported with {body['model']}.", "instructions")
    return False


def create_speech(call: Call, match: re.Match[str]) -> None:
    """Speech in the asked format: raw 24 kHz PCM, a WAV of it, or an encoded file (ffmpeg, as the API's own)."""
    if _key_refused(call) or call.throttled(busy_error):
        return
    body = call.json or {}
    if _bad_speech(call, body):
        return
    call.fake.count("openai-speech")
    pcm = speech_pcm(body["input"], 24_000)
    wanted = body.get("response_format", "mp3")
    if wanted == "pcm":
        call.send(200, pcm, content_type="audio/pcm")
        return
    wav = io.BytesIO()
    with wave.open(wav, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(24_000)
        clip.writeframes(pcm)
    if wanted == "wav":
        call.send(200, wav.getvalue(), content_type="audio/wav")
        return
    container, mime = _ENCODED[wanted]
    call.send(200, _encode(wav.getvalue(), container), content_type=mime)


def _encode(wav: bytes, container: str) -> bytes:
    from tale_cli.media.ffmpeg import ffmpeg_exe

    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", "-", "-f", container, "-"],
                          input=wav, capture_output=True, check=True)  # fmt: skip
    return done.stdout


def list_models(call: Call, match: re.Match[str]) -> None:
    """The free read `tale keys test` makes."""
    if _key_refused(call):
        return
    models = [
        {"id": name, "object": "model", "created": 0, "owned_by": "openai", "shutdown_date": shutdown}
        for name, shutdown in LISTED_MODELS.items()
    ]
    call.send(200, {"object": "list", "data": models})


REALTIME_MODELS = ("gpt-realtime-2.1-mini", "gpt-realtime-2.1", "gpt-realtime-mini", "gpt-realtime")
REALTIME_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
# Assistant audio is billed at one token per 50 ms (OpenAI's realtime-costs guide).
AUDIO_TOKENS_PER_SECOND = 20


def _event_error(
    message: str, code: str, *, param: str | None = None, error_type: str = "invalid_request_error"
) -> Any:
    return {
        "type": "error",
        "event_id": "event_" + uuid.uuid4().hex[:12],
        "error": {"type": error_type, "code": code, "message": message, "param": param, "event_id": None},
    }


def _bad_session(session: Any, voices: dict[str, dict[str, Any]]) -> Any:
    """The error the Realtime API gives a session.update it refuses, or None."""
    if not isinstance(session, dict) or session.get("type") != "realtime":
        return _event_error("session.type must be 'realtime'.", "invalid_value", param="session.type")
    modalities = session.get("output_modalities", ["audio"])
    if not isinstance(modalities, list) or not set(modalities) <= {"audio", "text"} or not modalities:
        return _event_error("Invalid output_modalities.", "invalid_value", param="session.output_modalities")
    output = (session.get("audio") or {}).get("output") or {}
    voice = output.get("voice")
    if isinstance(voice, dict):
        made = voices.get(str(voice.get("id", "")))
        if made is None or made.get("provider") != "openai":
            return _event_error(f"Voice '{voice.get('id')}' not found.", "invalid_value",
                                param="session.audio.output.voice")  # fmt: skip
        if made["type"] == "prompt":
            # openai 3.63: "Voices created from text prompts are supported only in Live, not in Realtime".
            return _event_error(f"Voice '{voice['id']}' was created from a prompt and is supported only in Live.",
                                "invalid_value", param="session.audio.output.voice")  # fmt: skip
    elif voice is not None and voice not in REALTIME_VOICES:
        return _event_error(
            f"Invalid value: '{voice}'. Supported values are: {', '.join(REALTIME_VOICES)}.",
            "invalid_value",
            param="session.audio.output.voice",
        )
    speed = output.get("speed")
    if speed is not None and not 0.25 <= float(speed) <= 1.5:
        return _event_error("speed must be between 0.25 and 1.5.", "invalid_value", param="session.audio.output.speed")
    audio_format = output.get("format")
    if audio_format is not None and (
        audio_format.get("type") != "audio/pcm" or audio_format.get("rate", 24000) != 24000
    ):
        return _event_error("Unsupported output format.", "invalid_value", param="session.audio.output.format")
    return None


def realtime(call: Call, match: re.Match[str]) -> None:
    """The Realtime API over a WebSocket: a wrong key is refused at the handshake (401), and so is a throttled one
    (429); an unknown model gets an error event for everything it is sent; a session.update with a voice, speed or
    format the API lacks is refused; so is a response asked of a session without audio output."""
    from fakes import websocket

    if _key_refused(call) or call.throttled(busy_error):
        return
    model = (call.query.get("model") or [""])[0]
    if not websocket.accept(call):
        return
    if model not in REALTIME_MODELS:
        # The session never starts: every event the client sends is answered with the same error until it leaves.
        message = f"The model '{model}' does not exist or you do not have access to it."
        websocket.send(call, _event_error(message, "model_not_found"))
        try:
            while True:
                websocket.receive(call)
                websocket.send(call, _event_error(message, "model_not_found"))
        except websocket.Closed:
            return
    session: dict[str, Any] = {"type": "realtime", "model": model, "output_modalities": ["audio"]}
    websocket.send(call, {"type": "session.created", "event_id": "event_1", "session": {**session, "id": "sess_fake"}})
    texts: list[str] = []
    try:
        while True:
            event = websocket.receive(call)
            with call.fake.lock:
                call.fake.requests.append({"method": "WS", "path": "/v1/realtime", "query": call.query, "json": event})
            kind = event.get("type")
            if kind == "session.update":
                refused = _bad_session(event.get("session"), call.fake.voices)
                if refused is not None:
                    websocket.send(call, refused)
                    continue
                session = {**session, **event["session"]}
                websocket.send(call, {"type": "session.updated", "event_id": "event_2", "session": session})
            elif kind == "conversation.item.create":
                item = event.get("item") or {}
                texts += [part.get("text", "") for part in item.get("content", []) if part.get("type") == "input_text"]
                done = {"type": "conversation.item.created", "event_id": "event_3", "item": {**item, "id": "item_1"}}
                websocket.send(call, done)
            elif kind == "response.create":
                if "audio" not in session.get("output_modalities", []):
                    refused = _event_error(
                        "This session has no audio output.", "invalid_value", param="session.output_modalities"
                    )
                    websocket.send(call, refused)
                    continue
                if not texts:
                    websocket.send(call, _event_error("There is nothing to respond to.", "invalid_value"))
                    continue
                _respond(call, " ".join(texts))
            else:
                websocket.send(call, _event_error(f"Invalid event type '{kind}'.", "invalid_value", param="type"))
    except websocket.Closed:
        return


def _respond(call: Call, text: str) -> None:
    """One response: the words as speech, in base64 PCM deltas, then response.done with the audio tokens."""
    from fakes import websocket

    call.fake.count("openai-realtime")
    pcm = speech_pcm(text, 24_000)
    response_id = "resp_" + uuid.uuid4().hex[:12]
    websocket.send(call, {"type": "response.created", "event_id": "event_4",
                          "response": {"id": response_id, "object": "realtime.response", "status": "in_progress"}})  # fmt: skip
    chunk = 24_000  # half a second of 16-bit samples a delta
    for start in range(0, len(pcm), chunk):
        delta = {"type": "response.output_audio.delta", "event_id": f"event_d{start}", "response_id": response_id,
                 "item_id": "item_2", "output_index": 0, "content_index": 0,
                 "delta": base64.b64encode(pcm[start : start + chunk]).decode()}  # fmt: skip
        websocket.send(call, delta)
    websocket.send(call, {"type": "response.output_audio.done", "event_id": "event_5", "response_id": response_id,
                          "item_id": "item_2", "output_index": 0, "content_index": 0})  # fmt: skip
    audio_tokens = round(len(pcm) / 2 / 24_000 * AUDIO_TOKENS_PER_SECOND)
    text_tokens = max(1, len(text.split()))
    usage = {
        "total_tokens": audio_tokens + 2 * text_tokens + 40,
        "input_tokens": text_tokens + 40,
        "output_tokens": audio_tokens + text_tokens,
        "input_token_details": {"text_tokens": text_tokens + 40, "audio_tokens": 0, "cached_tokens": 0},
        "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
    }
    response = {"id": response_id, "object": "realtime.response", "status": "completed", "output": [], "usage": usage}
    websocket.send(call, {"type": "response.done", "event_id": "event_6", "response": response})


# What a consent recording and a voice sample may be (openai 3.63): at most 10 MiB, one of these types.
VOICE_FILE_TYPES = ("audio/mpeg", "audio/wav", "audio/x-wav", "audio/ogg", "audio/aac", "audio/flac", "audio/webm",
                    "audio/mp4")  # fmt: skip
MAX_VOICE_FILE_BYTES = 10 * 2**20


def _bad_recording(call: Call, part: Any, param: str) -> bool:
    """True, after the API's 400, for a recording that is missing, empty, too big or not a supported audio type."""
    if part is None or not part.filename:
        return _invalid(call, f"Missing required parameter: '{param}'.", param)
    if part.content_type not in VOICE_FILE_TYPES:
        return _invalid(call, f"Invalid file format for '{param}': {part.content_type}.", param)
    if not part.data or len(part.data) > MAX_VOICE_FILE_BYTES:
        return _invalid(call, f"Invalid '{param}': the file must hold 1 byte to 10 MiB.", param)
    return False


def create_voice_consent(call: Call, match: re.Match[str]) -> None:
    """A consent recording (multipart: language, name, recording): the id a voice from a sample needs."""
    if _key_refused(call) or call.throttled(busy_error):
        return
    form = call.form()
    for param in ("language", "name"):
        if param not in form or not form[param].text:
            call.send(400, error(f"Missing required parameter: '{param}'.", "invalid_request_error", param=param,
                                 code="missing_required_parameter"))  # fmt: skip
            return
    if _bad_recording(call, form.get("recording"), "recording"):
        return
    call.fake.count("openai-voice-consent")
    consent = {"id": "cons_" + uuid.uuid4().hex[:16], "object": "audio.voice_consent", "created_at": int(time.time()),
               "language": form["language"].text, "name": form["name"].text}  # fmt: skip
    with call.fake.lock:
        call.fake.voices[consent["id"]] = {"provider": "openai", "type": "consent"}
    call.send(200, consent)


def create_voice(call: Call, match: re.Match[str]) -> None:
    """A custom voice: from a sample with a consent recording's id, or (type "prompt") from a description."""
    if _key_refused(call) or call.throttled(busy_error):
        return
    form = call.form()
    fields = {name: part.text for name, part in form.items() if not part.filename}
    if call.json is not None:
        fields = {k: str(v) for k, v in call.json.items()}
    kind = fields.get("type", "audio_sample")
    required = ("name", "prompt") if kind == "prompt" else ("name", "consent")
    for param in required:
        if not fields.get(param):
            call.send(400, error(f"Missing required parameter: '{param}'.", "invalid_request_error", param=param,
                                 code="missing_required_parameter"))  # fmt: skip
            return
    if kind not in ("prompt", "audio_sample"):
        _invalid(call, f"Invalid value for 'type': '{kind}'.", "type")
        return
    if kind == "audio_sample":
        if _bad_recording(call, form.get("audio_sample"), "audio_sample"):
            return
        consent = call.fake.voices.get(fields["consent"])
        if consent is None or consent.get("type") != "consent":
            _invalid(call, f"No consent recording with id '{fields['consent']}'.", "consent")
            return
    call.fake.count("openai-voice")
    voice = {"id": "voice_" + uuid.uuid4().hex[:16], "object": "audio.voice", "created_at": int(time.time()),
             "name": fields["name"], "type": kind}  # fmt: skip
    with call.fake.lock:
        call.fake.voices[voice["id"]] = {"provider": "openai", "type": kind}
    call.send(200, voice)


ROUTES: list[Route] = [
    ("POST", r"/v1/audio/voice_consents", create_voice_consent),
    ("POST", r"/v1/audio/voices", create_voice),
    ("GET", r"/v1/realtime", realtime),
    ("POST", r"/v1/responses", create_response),
    ("POST", r"/v1/images/(?:generations|edits)", create_image),
    ("POST", r"/v1/audio/speech", create_speech),
    ("GET", r"/v1/models", list_models),
]
