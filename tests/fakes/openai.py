"""Fake OpenAI API (api.openai.com/v1): Responses for plans, Images generate and edit, Speech, the models list.

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
# The models the free listing names; Responses and Images answer for any model name.
LISTED_MODELS = ("gpt-5-mini", "gpt-image-1")


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
    models = [{"id": name, "object": "model", "created": 0, "owned_by": "openai"} for name in LISTED_MODELS]
    call.send(200, {"object": "list", "data": models})


ROUTES: list[Route] = [
    ("POST", r"/v1/responses", create_response),
    ("POST", r"/v1/images/(?:generations|edits)", create_image),
    ("POST", r"/v1/audio/speech", create_speech),
    ("GET", r"/v1/models", list_models),
]
