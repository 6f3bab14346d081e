"""Fake Runway API (api.dev.runwayml.com): image_to_video, text_to_video and text_to_speech tasks, polling, the
Voices API (a voice designed from a description or cloned from a sample, ready after a while, with a preview),
organization.

Keys come as `Authorization: Bearer` with a required `X-Runway-Version`; errors are {"error": "..."},
validation errors add "issues". Finished tasks point at an output URL on this same server, like Runway's CDN.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, NotRequired, Required, get_args, get_origin, get_type_hints

from fakes.server import REFUSAL_REASON, Call, Job, Route, speech_file

KEY_PROVIDER = "runway"
FAKE_KEY = "test-runway-key-not-real-1234"
CLEARED_ENV: tuple[str, ...] = ("RUNWAYML_API_SECRET", "TALE_RUNWAY_API_KEY")
_BUSY = {429: "Too many requests", 503: "Service unavailable"}
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class ModelRules:
    """What one model takes on one endpoint, as runwayml's request types (TypedDicts) say: its wire keys (camelCase),
    the required ones, and the values its Literal fields allow."""

    keys: frozenset[str]
    required: frozenset[str]
    # Field (wire name) -> the values a Literal allows; a field typed int or "auto" has none here.
    allowed: dict[str, tuple[Any, ...]]
    takes_auto: bool


def _literals(hint: Any) -> list[Any]:
    found: list[Any] = []
    for arg in get_args(hint):
        if isinstance(arg, (str, int)) and not isinstance(arg, bool):
            found.append(arg)
        else:
            found.extend(_literals(arg))
    return found


def _unrequired(hint: Any) -> tuple[Any, bool]:
    """The hint inside Required[...] / NotRequired[...], and whether it was Required."""
    origin = get_origin(hint)
    if origin in (Required, NotRequired):
        return get_args(hint)[0], origin is Required
    return hint, False


def _wire_name(name: str, hint: Any) -> str:
    for meta in getattr(_unrequired(hint)[0], "__metadata__", ()):
        alias = getattr(meta, "alias", None)
        if alias:
            return str(alias)
    return name


def learn_rules(params: Any) -> dict[str, ModelRules]:
    """Model -> rules, read from an SDK request type (a Union of one TypedDict per model)."""
    rules: dict[str, ModelRules] = {}
    for variant in get_args(params):
        hints = get_type_hints(variant, include_extras=True)
        model = _literals(hints["model"])[0]
        keys, required, allowed = set(), set(), {}
        for name, hint in hints.items():
            wire = _wire_name(name, hint)
            keys.add(wire)
            # Under `from __future__ import annotations` a TypedDict's __required_keys__ misses Required[...]:
            # read it from the hint itself.
            if name in variant.__required_keys__ or _unrequired(hint)[1]:
                required.add(wire)
            values = [v for v in _literals(hint) if v != "auto"]
            if name != "model" and values:
                allowed[wire] = tuple(values)
        duration = hints.get("duration")
        takes_auto = duration is not None and "auto" in _literals(duration)
        rules[model] = ModelRules(frozenset(keys), frozenset(required), allowed, takes_auto)
    return rules


def _sdk_rules() -> dict[str, dict[str, ModelRules]]:
    from runwayml.types import image_to_video_create_params as image
    from runwayml.types import text_to_speech_create_params as speech
    from runwayml.types import text_to_video_create_params as text

    return {
        "image_to_video": learn_rules(image.ImageToVideoCreateParams),
        "text_to_video": learn_rules(text.TextToVideoCreateParams),
        "text_to_speech": learn_rules(speech.TextToSpeechCreateParams),
    }


def _presets() -> tuple[str, ...]:
    from runwayml.types.text_to_speech_create_params import ElevenV3Voice

    return tuple(_literals(get_type_hints(ElevenV3Voice, include_extras=True)["preset_id"]))


def _design_models() -> tuple[str, ...]:
    from runwayml.types.voice_create_params import FromText

    return tuple(_literals(get_type_hints(FromText, include_extras=True)["model"]))


PRESETS = _presets()
DESIGN_MODELS = _design_models()


RULES = _sdk_rules()
# The lengths the SDK types only as `int` (or int | "auto"): from its docstrings where they say (gen4.5 2-10,
# gemini_omni_flash 3-10, Kling 3.x multi-prompt 3-15) and from the providers' and resellers' pages.
SECONDS = {"gen4.5": (2, 10), "gen4_turbo": (2, 10), "gemini_omni_flash": (3, 10), "gemini_omni_flash_1.1": (3, 10),
           "seedance2": (4, 15), "seedance2_fast": (4, 15), "seedance2_mini": (4, 15), "seedance2_5": (4, 30),
           "kling3.0_standard": (3, 15), "kling3.0_pro": (3, 15), "kling3.0_4k": (3, 15), "klingO3_standard": (3, 15),
           "klingO3_pro": (3, 15), "klingO3_4k": (3, 15), "kling_4": (3, 30), "hailuo3": (5, 15), "h3_max": (5, 15),
           "happyhorse_1_0": (3, 15), "wan3": (2, 30), "wan3_prime": (2, 30), "grok_imagine_1_5": (1, 15),
           "grok_imagine_1_5_lite": (1, 15)}  # fmt: skip
# The longest promptText each model takes (the SDK's docstrings; others name no limit).
PROMPT_CHARS = {"eleven_multilingual_v2": 1000, "gen4.5": 1000, "gen4_turbo": 1000, "veo3.1": 1000, "veo3.1_fast": 1000, "seedance2": 3500,
                "seedance2_fast": 3500, "seedance2_mini": 3500, "seedance2_5": 15000, "happyhorse_1_0": 2500}  # fmt: skip
# Pictures a create may carry besides its frames, from the SDK's docstrings (Kling O3: "up to 7"; Kling 4: "up to 10
# images in total, frames included") and ByteDance's for Seedance's pictures without a position (up to 9).
PICTURES = {"klingO3_standard": 7, "klingO3_pro": 7, "klingO3_4k": 7, "kling_4": 10, "seedance2": 9,
            "seedance2_fast": 9, "seedance2_mini": 9, "seedance2_5": 9}  # fmt: skip


def environment(url: str) -> dict[str, str]:
    return {"RUNWAYML_BASE_URL": url, "TALE_RUNWAY_API_KEY": FAKE_KEY}


def error(message: str, **extra: Any) -> Any:
    return {"error": message, **extra}


def busy_error(status: int) -> Any:
    return error(_BUSY[status])


def _refused(call: Call) -> bool:
    """False for the right key and a version header; otherwise 401 (the wrong key echoed) or 400."""
    given = call.bearer()
    if given != call.fake.keys[KEY_PROVIDER]:
        call.send(401, error(f"Invalid API secret {given}" if given else "Missing API secret"))
        return True
    if not call.headers.get("X-Runway-Version"):
        call.send(400, error("Missing X-Runway-Version header"))
        return True
    return False


# Credits per second of output by model, (without audio, with audio): the runwayml 5.24 API reference.
CREDITS_PER_SECOND = {"gen4_turbo": (5, 5), "gen4.5": (12, 12), "veo3.1": (20, 40), "veo3.1_fast": (10, 15),
                      "seedance2": (36, 36), "kling_4": (20, 20), "kling2.5_turbo_pro": (12, 12)}  # fmt: skip


def _credits(job: Job) -> int:
    if job.kind == "runway-speech":
        return _speech_credits(job.prompt)
    rates = CREDITS_PER_SECOND.get(job.extra.get("model", ""), (5, 5))
    return int(job.seconds * rates[job.audio])


def invalid(endpoint: str, body: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) for the first thing the API's validation would reject in a create body; None when valid."""
    rules = RULES[endpoint].get(body.get("model", ""))
    if rules is None:
        offered = " | ".join(sorted(RULES[endpoint]))
        return "model", f"Invalid discriminator value. Expected {offered}"
    for key in sorted(rules.required - set(body)):
        return key, "Required"
    for key in sorted(set(body) - rules.keys):
        return key, f"Unrecognized key(s) in object: '{key}'"
    for key, values in rules.allowed.items():
        if key in body and body[key] not in values:
            return key, f"Invalid enum value. Expected {' | '.join(str(v) for v in values)}, received '{body[key]}'"
    duration = body.get("duration")
    if duration is not None and "duration" not in rules.allowed and not (duration == "auto" and rules.takes_auto):
        low, high = SECONDS[body["model"]]
        if not isinstance(duration, int) or not low <= duration <= high:
            return "duration", f"Number must be an integer from {low} to {high}"
    limit = PROMPT_CHARS.get(body["model"])
    if limit and len(str(body.get("promptText", ""))) > limit:
        return "promptText", f"String must contain at most {limit} character(s)"
    problem = _pictures_problem(body)
    if problem:
        return problem
    seed = body.get("seed", 0)
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        return "seed", f"Number must be less than or equal to {MAX_SEED}"
    return None


def _pictures_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    """Frames and reference pictures as the API counts them: Seedance's pictures are all frames (with a position) or
    all references (without), never both; no model takes more pictures than its limit."""
    images = body.get("promptImage")
    listed = images if isinstance(images, list) else []
    positioned = [item for item in listed if isinstance(item, dict) and "position" in item]
    if positioned and len(positioned) != len(listed):
        return "promptImage", "Keyframe images and reference images cannot be mixed"
    model = body.get("model", "")
    limit = PICTURES.get(model)
    references = body.get("references") or []
    if model.startswith("seedance") and not positioned:
        references = listed
    counted = len(references) + ((len(listed) or 1) if model == "kling_4" else 0)
    if references and limit is not None and counted > limit:
        return "references", f"Array must contain at most {limit} element(s)"
    return None


def create_task(call: Call, match: re.Match[str]) -> None:
    if _refused(call) or call.throttled(busy_error):
        return
    body = call.json or {}
    endpoint = match["endpoint"]
    problem = invalid(endpoint, body)
    if problem:
        path, message = problem
        call.send(400, error("Validation of body failed", issues=[{"path": [path], "message": message}]))
        return
    if endpoint == "text_to_speech":
        _create_speech(call, body)
        return
    job = call.fake.new_job(
        "runway", body.get("promptText", ""), float(body.get("duration", 5)), bool(body.get("audio"))
    )
    job.extra["model"] = body.get("model", "")
    ratio = str(body.get("ratio", "1280:720"))
    if re.fullmatch(r"\d+:\d+", ratio):
        job.extra["shape"] = ratio
    call.send(200, {"id": job.id, "estimatedCost": {"credits": _credits(job)}})


def get_task(call: Call, match: re.Match[str]) -> None:
    if _refused(call):
        return
    job = call.fake.jobs.get(match["id"])
    if job is None:
        call.send(404, error("Task not found"))
        return
    state = call.fake.state(job)
    task: dict[str, Any] = {"id": job.id, "createdAt": "2026-11-01T00:00:00.000Z"}
    if state == "running":
        task |= {"status": "RUNNING", "progress": 0.5, "estimatedCost": {"credits": _credits(job)}}
    elif state == "refused":
        task |= {
            "status": "FAILED",
            "failure": REFUSAL_REASON,
            "failureCode": "SAFETY.INPUT.TEXT",
            "cost": {"credits": 0},
        }
    else:
        audio = job.extra.get("audio_format")
        output = [f"{call.fake.url}/files/{job.id}.{audio or 'mp4'}"]
        task |= {"status": "SUCCEEDED", "output": output}
        if call.fake.task_cost_reported:
            task["cost"] = {"credits": _credits(job)}
    call.send(200, task)


def get_output(call: Call, match: re.Match[str]) -> None:
    """A finished task's video: an unauthenticated download, as from Runway's signed output URLs."""
    job = call.fake.jobs.get(match["id"])
    if job is None:
        call.send(404, error("expired"))
        return
    call.send(200, call.fake.clip(job), content_type="video/mp4")


def _own_url(call: Call, uri: str) -> bool:
    """This server's own URLs stand in for Runway's signed HTTPS ones (a preview, a task's output)."""
    return uri.startswith(call.fake.url + "/")


def _bad_audio_uri(call: Call, uri: Any) -> str | None:
    if not isinstance(uri, str) or not (
        uri.startswith(("https://", "runway://", "data:audio/")) or _own_url(call, uri)
    ):
        return "Invalid input: expected a HTTPS URL, a runway:// upload URI or a data:audio/ URI"
    if uri.startswith("data:") and len(uri) > 5 * 1024 * 1024:
        return "String must contain at most 5242880 character(s)"
    return None


def _bad_speech_voice(call: Call, body: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) for a text_to_speech voice the API refuses: a preset it lacks, or a reference it cannot read."""
    voice = body.get("voice")
    if body["model"] == "seed_audio":
        if voice is None:
            return None
        if not isinstance(voice, dict) or voice.get("type") != "reference-audio" or set(voice) != {"type", "audioUri"}:
            return "voice", "Expected {type: 'reference-audio', audioUri}"
        problem = _bad_audio_uri(call, voice["audioUri"])
        return ("voice.audioUri", problem) if problem else None
    if not isinstance(voice, dict) or voice.get("type") != "runway-preset" or set(voice) != {"type", "presetId"}:
        return "voice", "Expected {type: 'runway-preset', presetId}"
    if voice["presetId"] not in PRESETS:
        return "voice.presetId", f"Invalid enum value. Expected {' | '.join(PRESETS)}, received '{voice['presetId']}'"
    speed = body.get("speed", 1.0)
    if body["model"] == "eleven_v3" and not 0.7 <= speed <= 1.2:
        return "speed", "Number must be between 0.7 and 1.2"
    code = body.get("languageCode")
    if code is not None and body["model"] == "eleven_v3" and not re.fullmatch(r"[a-z]{2}", str(code)):
        return "languageCode", "Expected an ISO 639-1 language code"
    return None


def _create_speech(call: Call, body: dict[str, Any]) -> None:
    problem = _bad_speech_voice(call, body)
    if problem:
        path, message = problem
        call.send(400, error("Validation of body failed", issues=[{"path": path.split("."), "message": message}]))
        return
    from tale_cli.story.pace import natural_seconds

    text = str(body["promptText"])
    job = call.fake.new_job("runway-speech", text, max(0.4, natural_seconds(text)), True)
    job.extra["model"] = body["model"]
    job.extra["audio_format"] = body.get("outputFormat", "mp3") if body["model"] == "seed_audio" else "mp3"
    reference = (body.get("voice") or {}).get("audioUri", "")
    made = re.fullmatch(re.escape(call.fake.url) + r"/voices/(?P<id>[\w-]+)/preview\.mp3", reference)
    if made:
        job.extra["voice"] = made["id"]
    call.send(200, {"id": job.id, "estimatedCost": {"credits": _speech_credits(text)}})


def _speech_credits(text: str) -> int:
    # A stand-in: Runway publishes no text_to_speech rate the fake could copy.
    return max(1, -(-len(text) // 100))


def get_audio(call: Call, match: re.Match[str]) -> None:
    """A finished speech task's audio: an unauthenticated download, as from Runway's signed output URLs."""
    job = call.fake.jobs.get(match["id"])
    if job is None:
        call.send(404, error("expired"))
        return
    kind = match["format"]
    call.send(200, speech_file(job.prompt, kind), content_type="audio/wav" if kind == "wav" else "audio/mpeg")


def create_voice(call: Call, match: re.Match[str]) -> None:
    """The Voices API: a voice from a description (a design model, at least 20 characters) or from a sample."""
    if _refused(call) or call.throttled(busy_error):
        return
    body = call.json or {}
    made_from = body.get("from")
    problem: tuple[str, str] | None = None
    if not isinstance(body.get("name"), str) or not 1 <= len(body["name"]) <= 100:
        problem = "name", "String must contain at least 1 and at most 100 character(s)"
    elif set(body) - {"from", "name", "description"}:
        problem = "", f"Unrecognized key(s) in object: '{sorted(set(body) - {'from', 'name', 'description'})[0]}'"
    elif not isinstance(made_from, dict) or made_from.get("type") not in ("text", "audio"):
        problem = "from", "Invalid discriminator value. Expected 'text' | 'audio'"
    elif made_from["type"] == "text":
        if set(made_from) != {"type", "model", "prompt"}:
            problem = "from", "Expected {type: 'text', model, prompt}"
        elif made_from["model"] not in DESIGN_MODELS:
            problem = "from.model", f"Invalid enum value. Expected {' | '.join(DESIGN_MODELS)}"
        elif len(str(made_from["prompt"]).strip()) < 20:
            problem = "from.prompt", "String must contain at least 20 character(s)"
    elif set(made_from) != {"type", "audio"}:
        problem = "from", "Expected {type: 'audio', audio}"
    else:
        message = _bad_audio_uri(call, made_from["audio"])
        problem = ("from.audio", message) if message else None
    if problem:
        path, message = problem
        call.send(400, error("Validation of body failed", issues=[{"path": path.split("."), "message": message}]))
        return
    call.fake.count("runway-voice")
    voice_id = str(uuid.uuid4())
    with call.fake.lock:
        call.fake.voices[voice_id] = {"provider": "runway", "name": body["name"], "from": made_from["type"],
                                      "prompt": made_from.get("prompt"), "created": time.monotonic()}  # fmt: skip
    call.send(200, {"id": voice_id})


def get_voice(call: Call, match: re.Match[str]) -> None:
    """A made voice: PROCESSING for a while (as long as a task takes), then READY with a signed preview URL."""
    if _refused(call):
        return
    voice = call.fake.voices.get(match["id"])
    if voice is None or voice["provider"] != "runway":
        call.send(404, error("Voice not found"))
        return
    answer = {"id": match["id"], "createdAt": "2026-12-01T00:00:00.000Z", "name": voice["name"], "description": None}
    if call.fake.never_finish or time.monotonic() - voice["created"] < call.fake.clip_delay_s:
        answer["status"] = "PROCESSING"
    elif call.fake.refuses(voice.get("prompt") or ""):
        answer |= {"status": "FAILED", "failureReason": REFUSAL_REASON}
    else:
        answer |= {"status": "READY", "previewUrl": f"{call.fake.url}/voices/{match['id']}/preview.mp3"}
    call.send(200, answer)


def get_preview(call: Call, match: re.Match[str]) -> None:
    voice = call.fake.voices.get(match["id"])
    if voice is None:
        call.send(404, error("expired"))
        return
    call.send(200, speech_file(f"This is the voice of {voice['name']}.", "mp3"), content_type="audio/mpeg")


def get_organization(call: Call, match: re.Match[str]) -> None:
    """The free read `tale keys test` makes."""
    if _refused(call):
        return
    call.send(200, {"creditBalance": 1000, "tier": {"maxMonthlyCreditSpend": 10000}, "usage": {"models": {}}})


ROUTES: list[Route] = [
    ("POST", r"/v1/(?P<endpoint>image_to_video|text_to_video|text_to_speech)", create_task),
    ("GET", r"/v1/tasks/(?P<id>[\w-]+)", get_task),
    ("POST", r"/v1/voices", create_voice),
    ("GET", r"/v1/voices/(?P<id>[\w-]+)", get_voice),
    ("GET", r"/v1/organization", get_organization),
    ("GET", r"/files/(?P<id>[\w-]+)\.mp4", get_output),
    ("GET", r"/files/(?P<id>[\w-]+)\.(?P<format>wav|mp3)", get_audio),
    ("GET", r"/voices/(?P<id>[\w-]+)/preview\.mp3", get_preview),
]
