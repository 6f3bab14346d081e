"""Fake Gemini API (generativelanguage.googleapis.com): generateContent for plans, images and speech, Interactions,
models.

Keys come in `x-goog-api-key`; errors are google.rpc.Status bodies, the shape Vertex AI shares.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

from fakes.plans import plan_text
from fakes.server import REFUSAL_REASON, Call, Route, png_bytes, speech_pcm

KEY_PROVIDER = "google"
FAKE_KEY = "test-gemini-key-not-real-1234"
CLEARED_ENV: tuple[str, ...] = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_API_VERSION", "TALE_GOOGLE_API_KEY")
# What generateContent serves (from google-genai 3.6's model list); any other name is a 404, as on the real API.
SERVED_MODELS = frozenset(
    {
        "gemini-2.5-flash",
        "gemini-2.5-flash-image",
        "gemini-3.5-flash",
        "gemini-3.6-flash",
        "gemini-3.7-flash",
        "gemini-3.8-flash",
        "gemini-flash-latest",
        "gemini-3-pro-image",
        "gemini-3.1-flash-lite-image",
        "gemini-nano-banana-2.1",
    }
)
# Speech models: they answer only in audio, and only they do.
TTS_MODELS = frozenset({"gemini-3.8-flash-tts", "gemini-3.8-flash-lite-tts"})
TTS_VOICES = frozenset(
    {"Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe", "Charon", "Despina",
     "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore", "Laomedeia", "Leda", "Orus", "Puck", "Pulcherrima",
     "Rasalgethi", "Sadachbia", "Sadaltager", "Schedar", "Sulafat", "Umbriel", "Vindemiatrix", "Zephyr",
     "Zubenelgenubi"}
)  # fmt: skip
TTS_RATE = 24_000
# Gemini counts audio at 25 tokens a second.
AUDIO_TOKENS_PER_S = 25
# Music models of the Interactions API; the previews answer in the legacy `outputs` shape, as the SDK expects.
LYRIA_MODELS = {"lyria-3-clip-preview": 30.0, "lyria-3-pro-preview": 60.0, "lyria-3.5": 60.0}
LEGACY_LYRIA = frozenset({"lyria-3-clip-preview", "lyria-3-pro-preview"})
MUSIC_RATE = 16_000
# Still in the SDK's list, but shut down on the Gemini API on 2026-10-29 (gemini-nano-banana-2.1 replaces it).
RETIRED_MODELS = frozenset({"gemini-3.1-flash-image"})
OMNI_MODELS = frozenset({"gemini-omni-1.1-flash", "gemini-omni-1.2-flash", "gemini-omni-flash-preview"})

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_BUSY = {429: "Resource exhausted, try again later.", 503: "The service is currently unavailable."}


def environment(url: str) -> dict[str, str]:
    return {"GOOGLE_GEMINI_BASE_URL": url + "/", "TALE_GOOGLE_API_KEY": FAKE_KEY}


def rpc_error(code: int, message: str, *, reason: str = "", service: str = "generativelanguage.googleapis.com") -> Any:
    """A google.rpc.Status error body; `reason` adds the ErrorInfo detail Google sends with key errors."""
    error: dict[str, Any] = {"code": code, "message": message, "status": _STATUS[code]}
    if reason:
        info = {"reason": reason, "domain": "googleapis.com", "metadata": {"service": service}}
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", **info}]
    return {"error": error}


def busy_error(status: int) -> Any:
    return rpc_error(status, _BUSY[status])


def _key_refused(call: Call) -> bool:
    """False for the right key; otherwise answers as the Gemini API does (403 without a key, 400 for a wrong one)."""
    given = call.headers.get("x-goog-api-key", "")
    if given == call.fake.keys[KEY_PROVIDER]:
        return False
    if not given:
        message = (
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API."
        )
        call.send(403, rpc_error(403, message))
    else:
        call.send(400, rpc_error(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"))
    return True


def invalid_value(field: str, proto_type: str, value: Any) -> Any:
    """The 400 Google's JSON transcoding answers for a value its protobuf field cannot hold."""
    message = f"Invalid value at '{field}' ({proto_type}), {value}"
    violation = {"field": field, "description": message}
    error = rpc_error(400, message)
    error["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}]
    return error


def numeric_enum(schema: Any, path: str) -> tuple[str, Any] | None:
    """The first enum value in a response schema that is not a string (Schema.enum is a list of strings)."""
    if isinstance(schema, dict):
        for position, value in enumerate(schema.get("enum") or []):
            if not isinstance(value, str):
                return f"{path}.enum[{position}]", value
        for key, child in schema.items():
            if key == "properties" and isinstance(child, dict):
                for name, node in child.items():
                    found = numeric_enum(node, f"{path}.properties[{name}]")
                    if found:
                        return found
            elif key in ("items", "anyOf") and child:
                found = numeric_enum(child, f"{path}.{key}")
                if found:
                    return found
    elif isinstance(schema, list):
        for position, node in enumerate(schema):
            found = numeric_enum(node, f"{path}[{position}]")
            if found:
                return found
    return None


def bad_seed(call: Call, field: str, config: dict[str, Any]) -> bool:
    """True, after a 400, when a generation config's seed does not fit its signed 32-bit field."""
    seed = config.get("seed")
    if seed is None or (isinstance(seed, int) and -(2**31) <= seed < 2**31):
        return False
    call.send(400, invalid_value(field, "TYPE_INT32", seed))
    return True


def _not_served(call: Call, model: str, served: frozenset[str], method: str) -> bool:
    """True, after the Gemini API's 404 NOT_FOUND, for a model it does not serve (unknown or shut down)."""
    if model in served and model not in RETIRED_MODELS:
        return False
    version = call.path.split("/", 2)[1]
    message = (
        f"models/{model} is not found for API version {version}, or is not supported for {method}."
        " Call ListModels to see the list of available models and their supported methods."
    )
    call.send(404, rpc_error(404, message))
    return True


def camel(value: Any) -> Any:
    """A JSON body with every key in lowerCamelCase: Google's JSON parsing takes a proto field by either name, and
    google-genai sends speech_config's fields in snake_case."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key): camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


def _voice_name(config: Any) -> str | None:
    return ((config or {}).get("prebuiltVoiceConfig") or {}).get("voiceName")


def _bad_speech(call: Call, speech: dict[str, Any], prompt: str) -> bool:
    """True, after the API's 400, for a speech config it refuses: a voice it does not have, a dialogue without
    exactly two speakers (each named in the text), or both kinds of voice config at once."""
    single, multi = speech.get("voiceConfig"), speech.get("multiSpeakerVoiceConfig")
    if single and multi:
        call.send(400, rpc_error(400, "voice_config and multi_speaker_voice_config are mutually exclusive."))
        return True
    configs = (multi or {}).get("speakerVoiceConfigs") or []
    if multi and len(configs) != 2:
        call.send(400, rpc_error(400, f"Multi-speaker voice config must have exactly 2 speakers, got {len(configs)}."))
        return True
    voices = [_voice_name(c.get("voiceConfig")) for c in configs] if multi else [_voice_name(single)]
    for voice in voices:
        if voice is not None and voice not in TTS_VOICES:
            call.send(400, rpc_error(400, f"Voice name {voice} is not supported."))
            return True
    for config in configs:
        if f"{config.get('speaker')}:" not in prompt:
            call.send(400, rpc_error(400, f"Speaker {config.get('speaker')} is not in the prompt."))
            return True
    return False


def _speak(call: Call, model: str, config: dict[str, Any], prompt: str) -> None:
    """A speech model's answer: 24 kHz 16-bit PCM inline, as long as the text takes to say."""
    modalities = [m.upper() for m in config.get("responseModalities", [])]
    if modalities != ["AUDIO"]:
        message = "The requested combination of response modalities is not supported by the model."
        call.send(400, rpc_error(400, message))
        return
    if _bad_speech(call, camel(config.get("speechConfig") or {}), prompt):
        return
    call.fake.count("gemini-speech")
    if call.fake.refuses(prompt):
        call.send(200, {"candidates": [{"finishReason": "PROHIBITED_CONTENT"}]})
        return
    said = prompt.split(":\n", 1)[-1]  # the words, after any spoken direction
    pcm = speech_pcm(said, TTS_RATE)
    inline = {"mimeType": f"audio/L16;codec=pcm;rate={TTS_RATE}", "data": base64.b64encode(pcm).decode()}
    content = {"role": "model", "parts": [{"inlineData": inline}]}
    tokens = round(len(pcm) / 2 / TTS_RATE * AUDIO_TOKENS_PER_S)
    usage = {"promptTokenCount": len(prompt) // 4 + 1, "candidatesTokenCount": tokens}
    call.send(200, {"candidates": [{"content": content, "finishReason": "STOP"}], "usageMetadata": usage})


def generate_content(call: Call, match: re.Match[str]) -> None:
    served = SERVED_MODELS | TTS_MODELS
    if _key_refused(call) or _not_served(call, match["model"], served, "generateContent"):
        return
    if call.throttled(busy_error):
        return
    body = call.json or {}
    if not body.get("contents"):
        call.send(400, rpc_error(400, "* GenerateContentRequest.contents: contents is not specified"))
        return
    fake = call.fake
    config = body.get("generationConfig", {})
    if bad_seed(call, "generation_config.seed", config):
        return
    for name in ("responseJsonSchema", "responseSchema"):
        found = numeric_enum(config.get(name), "generation_config.response_schema")
        if found:
            call.send(400, invalid_value(found[0], "TYPE_STRING", found[1]))
            return
    if _sampling_refused(call, match["model"], config):
        return
    prompt = " ".join(part.get("text", "") for content in body["contents"] for part in content.get("parts", []))
    if "alignment" in (
        (config.get("responseJsonSchema") or config.get("responseSchema") or {}).get("properties") or {}
    ):
        _verdict(call, body, prompt)
        return
    if match["model"] in TTS_MODELS:
        _speak(call, match["model"], config, prompt)
        return
    if "AUDIO" in [m.upper() for m in config.get("responseModalities", [])]:
        call.send(
            400, rpc_error(400, f"Model {match['model']} does not support the requested response modalities: audio")
        )
        return
    if "IMAGE" in [m.upper() for m in config.get("responseModalities", [])]:
        fake.count("gemini-image")
        if fake.refuses(prompt):
            refused = {
                "candidates": [{"finishReason": "IMAGE_SAFETY"}],
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            }
            call.send(200, refused)
            return
        image = base64.b64encode(png_bytes(len(prompt))).decode()
        content = {"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": image}}]}
        call.send(200, {"candidates": [{"content": content, "finishReason": "STOP"}]})
        return
    text = plan_text(fake, config.get("responseJsonSchema") or config.get("responseSchema"), prompt)
    candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
    usage = {"promptTokenCount": 100, "candidatesTokenCount": 200, "totalTokenCount": 300}
    call.send(200, {"candidates": [candidate], "usageMetadata": usage})


def _sampling_refused(call: Call, model: str, config: dict[str, Any]) -> bool:
    """True, after a 400, for sampling settings sent to a gemini-3 model (deprecated there on 2026-07-21)."""
    sent = [name for name in ("temperature", "topP", "topK") if config.get(name) is not None]
    if not sent or not model.startswith("gemini-3"):
        return False
    call.send(400, rpc_error(400, f"{sent[0]} is not supported for {model}: sampling settings are deprecated."))
    return True


def config_schema(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("generationConfig", {})
    schema: dict[str, Any] = config.get("responseJsonSchema") or config.get("responseSchema") or {}
    return schema


def _verdict(call: Call, body: dict[str, Any], prompt: str) -> None:
    """The judge's answer: every listed character present and alike, alignment "3"; each listed thing on screen the
    same, unless the test says it is absent (and an answer about a stray one on request); cut off or sloppy on
    request."""
    pictures = [part for content in body["contents"] for part in content.get("parts", []) if part.get("inlineData")]
    if not pictures:
        call.send(400, rpc_error(400, "The judge was sent no picture."))
        return
    fake = call.fake
    with fake.lock:
        fake.creates["gemini-judge"] += 1
        cut_off, sloppy = fake.malformed_verdicts > 0, fake.malformed_verdicts <= 0 and fake.sloppy_verdicts > 0
        fake.malformed_verdicts -= int(cut_off)
        fake.sloppy_verdicts -= int(sloppy)
    cast, _, shown = prompt.split("Characters:", 1)[-1].partition("Things on screen:")
    listed = re.findall(r"^- ([a-z0-9][a-z0-9-]*): ", cast, re.MULTILINE)
    characters = [
        {"id": cid, "present": True, "same": True, "reason": f"{cid} looks as in the reference"} for cid in listed
    ]
    answer: dict[str, Any] = {"alignment": "3", "characters": characters}
    schema = config_schema(body)
    if "entities" in (schema.get("properties") or {}):
        things = re.findall(r"^- ([a-z0-9][a-z0-9-]*) \((?:prop|wardrobe|place)\): ", shown, re.MULTILINE)
        things += [fake.stray_thing] if fake.stray_thing else []
        answer["entities"] = [
            {"id": eid, "present": eid not in fake.absent_things, "same": eid not in fake.absent_things,
             "reason": f"{eid} {'is nowhere' if eid in fake.absent_things else 'looks as in the reference'}"}
            for eid in things
        ]  # fmt: skip
    verdict = json.dumps(answer)
    if cut_off:
        text = verdict[: len(verdict) // 2]
    elif sloppy:
        text = "Here is my verdict:\n```json\n" + verdict.replace('"alignment": "3"', '"alignment": 3') + "\n```"
    else:
        text = verdict
    usage = {"promptTokenCount": 258 * len(pictures) + len(prompt) // 4, "candidatesTokenCount": len(text) // 4 + 1}
    candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
    call.send(200, {"candidates": [candidate], "usageMetadata": usage})


def music_wav(seconds: float) -> bytes:
    """A WAV of slow chords (16-bit mono at MUSIC_RATE): music enough for a loudness meter and a mix."""
    import io
    import wave

    import numpy as np

    t = np.arange(round(seconds * MUSIC_RATE)) / MUSIC_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / 4)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(MUSIC_RATE)
        clip.writeframes((chord * swell * 0.3 * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _compose(call: Call, body: dict[str, Any]) -> None:
    """Lyria: the score at once, inline WAV; a refused prompt completes with the model's words and no audio."""
    model = body["model"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "audio":
        call.send(400, rpc_error(400, f"{model} answers in audio only: response_format.type must be 'audio'."))
        return
    if response_format.get("mime_type", "audio/wav") != "audio/wav":
        call.send(400, rpc_error(400, "This fake server composes audio/wav only."))
        return
    prompt = body["input"] if isinstance(body["input"], str) else json.dumps(body["input"])
    call.fake.count("lyria")
    if call.fake.refuses(prompt):
        content = [{"type": "text", "text": f"I can't compose that. {REFUSAL_REASON}"}]
    else:
        data = base64.b64encode(music_wav(LYRIA_MODELS[model])).decode()
        content = [{"type": "audio", "data": data, "mime_type": "audio/wav"}]
    answer: dict[str, Any] = {"id": uuid.uuid4().hex[:16], "status": "completed", "model": model}
    if model in LEGACY_LYRIA:
        answer["outputs"] = content
    else:
        answer["steps"] = [{"type": "model_output", "content": content}]
    call.send(200, answer)


def create_interaction(call: Call, match: re.Match[str]) -> None:
    """Gemini Omni: a video interaction, answered in progress; its clip comes from polling. Lyria: music at once."""
    if _key_refused(call) or call.throttled(busy_error):
        return
    body = call.json or {}
    if not body.get("model") or not body.get("input"):
        call.send(400, rpc_error(400, "Request contains an invalid argument: model and input are required."))
        return
    if body["model"] in LYRIA_MODELS:
        _compose(call, body)
        return
    if _not_served(call, body["model"], OMNI_MODELS, "interactions"):
        return
    if bad_seed(call, "generation_config.seed", body.get("generation_config") or {}):
        return
    texts = [
        item.get("text", "") for step in body["input"] for item in step.get("content", []) if item.get("type") == "text"
    ]
    response_format = body.get("response_format") or {}
    duration = response_format.get("duration", "8s")
    if not isinstance(duration, str):
        call.send(400, invalid_value("response_format.duration", "TYPE_STRING", duration))
        return
    shape = response_format.get("aspect_ratio", "16:9")
    if shape not in ("16:9", "9:16"):
        call.send(400, rpc_error(400, f"Unsupported aspect_ratio {shape!r}; supported are 16:9 and 9:16."))
        return
    job = call.fake.new_job("omni", " ".join(texts), float(duration.rstrip("s")), True)
    job.extra["delivery"] = response_format.get("delivery", "inline")
    job.extra["shape"] = shape
    call.send(200, {"id": job.id, "status": "in_progress", "model": body["model"]})


def get_interaction(call: Call, match: re.Match[str]) -> None:
    """A finished video comes inline (base64) or, with delivery "uri", as a Files API link on this server.

    A refused prompt completes like a chat turn: the model's words and no video.
    """
    if _key_refused(call):
        return
    job = call.fake.jobs.get(match["id"])
    if job is None:
        call.send(404, rpc_error(404, "Interaction not found"))
        return
    state = call.fake.state(job)
    if state == "running":
        call.send(200, {"id": job.id, "status": "in_progress"})
        return
    if state == "refused":
        content: list[dict[str, Any]] = [{"type": "text", "text": f"I can't make that video. {REFUSAL_REASON}"}]
    elif job.extra.get("delivery") == "uri":
        content = [{"type": "video", "uri": f"{call.fake.url}/v1beta/files/{job.id}", "mime_type": "video/mp4"}]
    else:
        content = [{"type": "video", "data": base64.b64encode(call.fake.clip(job)).decode(), "mime_type": "video/mp4"}]
    call.send(200, {"id": job.id, "status": "completed", "steps": [{"type": "model_output", "content": content}]})


def get_file(call: Call, match: re.Match[str]) -> None:
    """The Files API: a file's metadata, or with alt=media its bytes (the key is needed either way)."""
    if _key_refused(call):
        return
    job = call.fake.jobs.get(match["id"])
    if job is None:
        call.send(404, rpc_error(404, f"File files/{match['id']} not found."))
        return
    if call.query.get("alt") == ["media"]:
        call.send(200, call.fake.clip(job), content_type="video/mp4")
        return
    uri = f"{call.fake.url}/v1beta/files/{job.id}"
    call.send(200, {"name": f"files/{job.id}", "mimeType": "video/mp4", "state": "ACTIVE", "uri": uri})


def list_models(call: Call, match: re.Match[str]) -> None:
    """The free read `tale keys test` makes."""
    if _key_refused(call):
        return
    methods = ["generateContent", "countTokens"]
    models = [{"name": f"models/{name}", "supportedGenerationMethods": methods} for name in sorted(listed_models())]
    call.send(200, {"models": models})


def listed_models() -> set[str]:
    """What the Gemini API's model list names: what it serves, its speech, music (not lyria-3-pro-preview, which
    the music page no longer lists) and Omni models; never one shut down."""
    music = set(LYRIA_MODELS) - {"lyria-3-pro-preview"}
    return (set(SERVED_MODELS) | TTS_MODELS | music | OMNI_MODELS) - RETIRED_MODELS


ROUTES: list[Route] = [
    ("POST", r"/v1(?:beta)?/models/(?P<model>[^/:]+):generateContent", generate_content),
    ("POST", r"/v1(?:beta)?/interactions", create_interaction),
    ("GET", r"/v1(?:beta)?/interactions/(?P<id>[\w-]+)", get_interaction),
    ("GET", r"/v1beta/files/(?P<id>[\w-]+)(?::download)?", get_file),
    # v1beta only: GET /v1/models is OpenAI's listing on this same server.
    ("GET", r"/v1beta/models", list_models),
]
