"""Fake Vertex AI (aiplatform.googleapis.com) with an express-mode key: Veo long-running jobs and countTokens.

Keys come in `x-goog-api-key`; errors are google.rpc.Status bodies, as on the Gemini API.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from fakes.google import busy_error, rpc_error
from fakes.server import REFUSAL_REASON, Call, Route

KEY_PROVIDER = "vertex"
FAKE_KEY = "test-vertex-key-not-real-1234"
CLEARED_ENV: tuple[str, ...] = (
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "TALE_VERTEX_API_KEY",
)
_SERVICE = "aiplatform.googleapis.com"
_VIDEO_RESPONSE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
# What the Veo 3.1 model pages list: reference images only on these two (16:9 and 8 s only), durations 4/6/8.
REFERENCE_MODELS = ("veo-3.1-generate-001", "veo-3.1-fast-generate-001")
DURATIONS = (4, 6, 8)
RESOLUTIONS = ("720p", "1080p", "4k")
ASPECT_RATIOS = ("16:9", "9:16")
PERSON_GENERATION = ("dont_allow", "allow_adult", "allow_all")
MAX_REFERENCES = 3


def environment(url: str) -> dict[str, str]:
    return {"GOOGLE_VERTEX_BASE_URL": url + "/", "TALE_VERTEX_API_KEY": FAKE_KEY}


def _key_refused(call: Call) -> bool:
    """False for the right key; otherwise 401, with the wrong key echoed so tests prove Tale scrubs it."""
    given = call.headers.get("x-goog-api-key", "")
    if given == call.fake.keys[KEY_PROVIDER]:
        return False
    if not given:
        message = (
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie"
            " or other valid authentication credential."
        )
        call.send(401, rpc_error(401, message, reason="CREDENTIALS_MISSING", service=_SERVICE))
    else:
        call.send(401, rpc_error(401, f"API key {given} is not valid for this project."))
    return True


def invalid_veo_request(model: str, instance: dict[str, Any], parameters: dict[str, Any]) -> str | None:
    """Why Vertex refuses this Veo request with 400 INVALID_ARGUMENT, or None when it takes it."""
    duration = parameters.get("durationSeconds", 8)
    if duration not in DURATIONS:
        return f"Unsupported duration {duration}s for {model}; supported durations are 4, 6 and 8 seconds."
    if parameters.get("aspectRatio", "16:9") not in ASPECT_RATIOS:
        return f"Unsupported aspect ratio {parameters['aspectRatio']!r} for {model}; supported are 16:9 and 9:16."
    if parameters.get("resolution", "720p") not in RESOLUTIONS:
        return f"Unsupported resolution {parameters['resolution']!r} for {model}."
    seed = parameters.get("seed", 0)
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        return f"Invalid value at 'parameters.seed' (TYPE_UINT32), {seed}"
    person = parameters.get("personGeneration")
    if person is not None and person not in PERSON_GENERATION:
        return f"Unsupported personGeneration {person!r}; supported values are dont_allow, allow_adult, allow_all."
    has_image = bool(instance.get("image") or instance.get("video"))
    references = instance.get("referenceImages") or []
    if instance.get("lastFrame") and not instance.get("image"):
        return "lastFrame requires image."
    if person == "allow_all" and (has_image or references):
        return "personGeneration allow_all is only supported for text-to-video; use allow_adult or dont_allow."
    if references:
        if model not in REFERENCE_MODELS:
            return f"Reference images are not supported for {model}."
        if has_image or instance.get("lastFrame"):
            return "referenceImages cannot be combined with image, lastFrame or video."
        if len(references) > MAX_REFERENCES:
            return f"At most {MAX_REFERENCES} reference images are supported."
        if parameters.get("aspectRatio", "16:9") != "16:9":
            return "Reference images are only supported with aspect ratio 16:9."
        if duration != 8:
            return "Reference images are only supported with a duration of 8 seconds."
    return None


def predict_long_running(call: Call, match: re.Match[str]) -> None:
    """Start a Veo job; the operation name carries the job id, as Vertex's does."""
    if _key_refused(call) or call.throttled(busy_error):
        return
    body = call.json or {}
    if not body.get("instances"):
        call.send(400, rpc_error(400, "Request contains an invalid argument."))
        return
    parameters = body.get("parameters", {})
    problem = invalid_veo_request(match["model"], body["instances"][0], parameters)
    if problem:
        call.send(400, rpc_error(400, problem))
        return
    job = call.fake.new_job(
        "veo",
        body["instances"][0].get("prompt", ""),
        float(parameters.get("durationSeconds", 8)),
        bool(parameters.get("generateAudio")),
    )
    job.extra["shape"] = parameters.get("aspectRatio", "16:9")
    call.fake.count(f"veo:{match['model']}")  # creates per model too ("veo" counts them all)
    name = f"projects/fake-project/locations/us-central1/publishers/google/models/{match['model']}/operations/{job.id}"
    call.send(200, {"name": name})


def fetch_predict_operation(call: Call, match: re.Match[str]) -> None:
    if _key_refused(call):
        return
    name = (call.json or {}).get("operationName", "")
    job = call.fake.jobs.get(name.rsplit("/", 1)[-1])
    if job is None:
        call.send(404, rpc_error(404, "Operation not found"))
        return
    state = call.fake.state(job)
    if state == "running":
        call.send(200, {"name": name, "done": False})
        return
    if state == "refused":
        response = {"@type": _VIDEO_RESPONSE, "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [REFUSAL_REASON]}
    else:
        video = base64.b64encode(call.fake.clip(job)).decode()
        videos = [{"bytesBase64Encoded": video, "mimeType": "video/mp4"}]
        response = {"@type": _VIDEO_RESPONSE, "raiMediaFilteredCount": 0, "videos": videos}
    call.send(200, {"name": name, "done": True, "response": response})


def count_tokens(call: Call, match: re.Match[str]) -> None:
    """The free call `tale keys test` makes: one token per word of text."""
    if _key_refused(call):
        return
    contents = (call.json or {}).get("contents", [])
    words = sum(len(part.get("text", "").split()) for content in contents for part in content.get("parts", []))
    call.send(200, {"totalTokens": words, "totalBillableCharacters": words * 4})


_MODEL = r"/v1(?:beta1)?/(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/(?P<model>[^/:]+)"
ROUTES: list[Route] = [
    ("POST", _MODEL + ":predictLongRunning", predict_long_running),
    ("POST", _MODEL + ":fetchPredictOperation", fetch_predict_operation),
    ("POST", _MODEL + ":countTokens", count_tokens),
]
