"""Google's SDK glue shared by the Veo, Gemini Omni and Gemini image backends and the Gemini planner; the
`google` (Gemini API) and `vertex` keys.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from tale_cli.errors import KeysError, RecipeError, missing_extra
from tale_cli.keys.redact import redact, register_secret
from tale_cli.registry import CheckRequest, KeyService

if TYPE_CHECKING:
    from tale_cli.config import Recipe

VIDEO_RESOLUTIONS = ("720p", "1080p")
HTTP_TIMEOUT_S = 300.0
_REFUSAL_HINTS = ("safety", "policy", "blocked", "prohibited", "responsible", "harm", "filtered")


def sdk() -> tuple[Any, Any]:
    """google-genai's `genai` and `types` modules, or the 'install the extra' error."""
    try:
        from google import genai
        from google.genai import types
    except ImportError:
        raise missing_extra("google", "google-genai") from None
    return genai, types


def http_options(types: Any) -> Any:
    """No SDK retries (Tale retries, honouring Retry-After); the base URL stays the SDK's, env vars included."""
    return types.HttpOptions(timeout=int(HTTP_TIMEOUT_S * 1000), retry_options=types.HttpRetryOptions(attempts=1))


def gemini_client(key: str) -> Any:
    """A Gemini API client; `GOOGLE_GEMINI_BASE_URL` still points it elsewhere (a local fake, a proxy)."""
    genai, types = sdk()
    return genai.Client(api_key=key, http_options=http_options(types))


def gemini_seed(seed: int) -> int:
    """The seed as the Gemini API takes it: generateContent and Interactions hold a signed 32-bit integer.

    Tale's seeds are unsigned 32-bit (Veo and Runway take them whole); the cache key keeps the full seed.
    """
    return seed % 2**31


def check_options(options: dict[str, Any], allowed: frozenset[str], backend: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise RecipeError(
            f"unknown [video.options] key '{unknown[0]}' for the {backend} backend",
            hint="valid keys are: " + ", ".join(sorted(allowed)),
        )


def video_resolution(recipe: Recipe) -> str:
    resolution = recipe.video.resolution or "720p"
    if resolution not in VIDEO_RESOLUTIONS:
        raise RecipeError(f"video resolution '{resolution}' is not offered", hint="use one of: 720p, 1080p")
    return resolution


def is_refusal(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _REFUSAL_HINTS)


# ---------------------------------------------------------------- keys

# countTokens is free; an unknown model still proves the key was accepted (auth comes first).
VERTEX_CHECK_MODEL = "gemini-3.8-flash"
VERTEX_PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
VERTEX_LOCATION_ENV = "GOOGLE_CLOUD_LOCATION"
VERTEX_DEFAULT_LOCATION = "global"


def vertex_adc() -> tuple[str, str] | None:
    """(project, location) when Vertex is to use application-default credentials instead of a key."""
    project = os.environ.get(VERTEX_PROJECT_ENV, "").strip()
    if not project:
        return None
    return project, os.environ.get(VERTEX_LOCATION_ENV, "").strip() or VERTEX_DEFAULT_LOCATION


def vertex_adc_token() -> str:
    """An access token from application-default credentials (needs google-auth, part of the google extra)."""
    try:
        import google.auth
        import google.auth.transport.requests
        from google.auth.exceptions import GoogleAuthError
    except ImportError:
        raise missing_extra("google", "google-auth") from None
    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(google.auth.transport.requests.Request())
    except GoogleAuthError as error:
        raise KeysError(
            f"application-default credentials do not work: {redact(str(error))[:200]}",
            hint="run `gcloud auth application-default login`, or set a Vertex express key",
        ) from None
    token = str(credentials.token)
    register_secret(token)
    return token


def _vertex_ambient() -> str | None:
    adc = vertex_adc()
    return None if adc is None else f"application-default credentials ({adc[0]}, {adc[1]})"


def _gemini_check(base: str, key: str | None, bearer: str | None) -> CheckRequest:
    return CheckRequest(f"{base}/v1beta/models?pageSize=1", {"x-goog-api-key": key or ""})


def _vertex_check(base: str, key: str | None, bearer: str | None) -> CheckRequest:
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["x-goog-api-key"] = key
        path = f"/v1/publishers/google/models/{VERTEX_CHECK_MODEL}:countTokens"
    else:
        project, location = vertex_adc() or ("", "")
        headers["Authorization"] = f"Bearer {bearer}"
        if not os.environ.get("GOOGLE_VERTEX_BASE_URL") and location != "global":
            base = f"https://{location}-aiplatform.googleapis.com"
        path = f"/v1/projects/{project}/locations/{location}/publishers/google/models/{VERTEX_CHECK_MODEL}:countTokens"
    return CheckRequest(base + path, headers, "POST", body)


# The model the gemini planner plans with when the recipe names none.
DEFAULT_PLAN_MODEL = "gemini-3.8-flash"

KEY_SERVICES = (
    KeyService(
        "google",
        "Gemini API key",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        "GOOGLE_GEMINI_BASE_URL",
        "https://generativelanguage.googleapis.com",
        check=_gemini_check,
    ),
    KeyService(
        "vertex",
        "Vertex AI express key, or application-default credentials",
        ("GOOGLE_API_KEY",),
        "GOOGLE_VERTEX_BASE_URL",
        "https://aiplatform.googleapis.com",
        check=_vertex_check,
        env_vars_only_if="GOOGLE_GENAI_USE_VERTEXAI",
        ambient=_vertex_ambient,
        ambient_token=vertex_adc_token,
        not_found_is_accepted=True,
    ),
)
