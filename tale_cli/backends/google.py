"""Google: Veo 3.1 through the Enterprise (Vertex) client, Gemini Omni video through Interactions, Gemini images."""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.audit import ATTEMPTS_NOTE
from tale_cli.backends._cloud import (
    Cloud,
    JobFailedError,
    RetryPolicy,
    aspect_ratio,
    conform_into,
    image_cost,
    image_payload,
    raw_path,
    run_job,
    shot_cost,
    write_png,
)
from tale_cli.backends.base import ImageBackend, ImageCapabilities, RenderResult, VideoBackend, VideoCapabilities
from tale_cli.errors import BackendError, KeysError, RecipeError, ShotRefusedError, missing_extra
from tale_cli.keys import get_key, require_key
from tale_cli.redact import redact, register_secret
from tale_cli.registry import CheckRequest, KeyService, Locality, Pricing, Provider, Role

if TYPE_CHECKING:
    from tale_cli.backends.base import ReferenceRequest, ShotRequest
    from tale_cli.config import Recipe

DEFAULT_VEO_MODEL = "veo-3.1-fast-generate-001"
DEFAULT_OMNI_MODEL = "gemini-omni-1.1-flash"
DEFAULT_IMAGE_MODEL = "gemini-3.1-flash-image"
VIDEO_RESOLUTIONS = ("720p", "1080p")
VEO_DURATIONS = (4.0, 6.0, 8.0)
VEO_REFERENCE_DURATION = 8.0
VEO_MAX_REFERENCES = 3
VEO_OPTIONS = frozenset({"project", "location", "person_generation", "enhance_prompt"})
PERSON_GENERATION = ("allow_adult", "allow_all", "dont_allow")
OMNI_OPTIONS = frozenset({"delivery"})
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


def _check_options(options: dict[str, Any], allowed: frozenset[str], backend: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise RecipeError(
            f"unknown [video.options] key '{unknown[0]}' for the {backend} backend",
            hint="valid keys are: " + ", ".join(sorted(allowed)),
        )


def _check_veo_options(options: dict[str, Any]) -> None:
    for key in ("project", "location"):
        if key in options and not (isinstance(options[key], str) and options[key]):
            raise RecipeError(f"[video.options] {key} must be a non-empty string")
    if "enhance_prompt" in options and not isinstance(options["enhance_prompt"], bool):
        raise RecipeError("[video.options] enhance_prompt must be true or false")
    if "person_generation" in options and options["person_generation"] not in PERSON_GENERATION:
        raise RecipeError(
            f"[video.options] person_generation '{options['person_generation']}' is not offered",
            hint="use one of: " + ", ".join(PERSON_GENERATION),
        )


def _resolution(recipe: Recipe) -> str:
    resolution = recipe.video.resolution or "720p"
    if resolution not in VIDEO_RESOLUTIONS:
        raise RecipeError(f"video resolution '{resolution}' is not offered", hint="use one of: 720p, 1080p")
    return resolution


def _is_refusal(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _REFUSAL_HINTS)


class VeoVideo(VideoBackend):
    """Veo 3.1 (Fast, Lite): T2V, I2V, first + last frame, up to three asset references, 4/6/8 s, audio."""

    name = "veo"
    provider = "vertex-veo"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.video.model or DEFAULT_VEO_MODEL
        self.resolution = _resolution(recipe)
        self.options = dict(recipe.video.options)
        _check_options(self.options, VEO_OPTIONS, self.name)
        _check_veo_options(self.options)
        self.cloud = Cloud("vertex", policy=RetryPolicy(retries=recipe.video.retries))
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VideoCapabilities:
        return VideoCapabilities(
            durations=VEO_DURATIONS,
            text_to_video=True,
            image_to_video=True,
            last_frame=True,
            max_reference_images=VEO_MAX_REFERENCES,
            reference_durations=(VEO_REFERENCE_DURATION,),
            audio=True,
            default_jobs=4,
        )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model,
            "resolution": self.resolution,
            "audio": self.recipe.video.audio,
            "options": {k: v for k, v in sorted(self.options.items()) if k not in ("project", "location")},
        }

    def preflight(self) -> None:
        """Resolve credentials and build the client now, so a missing key stops the run before any spend."""
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        genai, types = sdk()
        key = get_key("vertex")
        project = self.options.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if key:
            self.cloud.use_key(key)
            return genai.Client(enterprise=True, api_key=key, http_options=http_options(types))
        if project:
            location = self.options.get("location") or os.environ.get("GOOGLE_CLOUD_LOCATION") or "us-central1"
            try:
                return genai.Client(
                    enterprise=True, project=project, location=location, http_options=http_options(types)
                )
            except Exception as error:
                raise KeysError(
                    f"no Google Cloud credentials for project {project}: {self.cloud.clean(str(error))[:200]}",
                    hint="run `gcloud auth application-default login`, or use an express key: `tale keys set vertex`",
                ) from None
        raise KeysError(
            "no Vertex AI key or Google Cloud project for Veo",
            hint="run `tale keys set vertex` (or set TALE_VERTEX_API_KEY), "
            "or set GOOGLE_CLOUD_PROJECT with application-default credentials",
        )

    def render_shot(self, request: ShotRequest) -> RenderResult:
        client = self._get_client()
        _, types = sdk()
        seconds = request.duration_s
        if not any(abs(seconds - allowed) < 1e-6 for allowed in VEO_DURATIONS):
            raise BackendError(f"Veo renders 4, 6 or 8 s shots; shot {request.shot.index} asks for {seconds:g} s")
        references = [] if request.first_frame else request.reference_images[:VEO_MAX_REFERENCES]
        if references and abs(seconds - VEO_REFERENCE_DURATION) > 1e-6:
            raise BackendError(
                f"Veo uses reference images only for 8 s shots; shot {request.shot.index} is {seconds:g} s",
                hint="use 8 s shots, or continuity = 'first-frame' in the recipe",
            )

        def image(path: Path) -> Any:
            data, mime = image_payload(path)
            return types.Image(image_bytes=data, mime_type=mime)

        def create() -> str:
            source = types.GenerateVideosSource(
                prompt=request.prompt, image=image(request.first_frame) if request.first_frame else None
            )
            config = types.GenerateVideosConfig(
                number_of_videos=1,
                duration_seconds=round(seconds),
                aspect_ratio=aspect_ratio(request.width, request.height),
                resolution=self.resolution,
                negative_prompt=request.negative_prompt or None,
                seed=request.seed,
                generate_audio=self.recipe.video.audio,
                last_frame=image(request.last_frame) if request.first_frame and request.last_frame else None,
                reference_images=[
                    types.VideoGenerationReferenceImage(image=image(path), reference_type="ASSET")
                    for path in references
                ]
                or None,
                person_generation=self.options.get("person_generation"),
                enhance_prompt=self.options.get("enhance_prompt"),
            )
            operation = self.cloud.call(
                "create",
                lambda: client.models.generate_videos(model=self.model, source=source, config=config),
                creates=True,
                attempts=attempts,
            )
            if not operation.name:
                raise BackendError("Vertex AI accepted the Veo request but returned no operation name")
            return str(operation.name)

        def finish(name: str) -> RenderResult:
            operation = self.cloud.poll(
                lambda: client.operations.get(types.GenerateVideosOperation(name=name)),
                lambda op: bool(op.done),
                job=name.rsplit("/", 1)[-1],
                interval_s=self.recipe.video.poll_interval_s,
                timeout_s=self.recipe.video.poll_timeout_s,
            )
            return self._save(request, operation, name)

        conditioning = "first-frame" if request.first_frame else "references" if references else "text"
        attempts: list[dict[str, Any]] = []
        result = run_job(
            request, provider=self.provider, model=self.model, create=create, finish=finish, attempts=attempts
        )
        result.notes["conditioning"] = conditioning
        return result

    def _save(self, request: ShotRequest, operation: Any, name: str) -> RenderResult:
        if operation.error:
            error = operation.error if isinstance(operation.error, dict) else {"message": str(operation.error)}
            message = self.cloud.clean(str(error.get("message") or error))[:400]
            if _is_refusal(message):
                raise ShotRefusedError(f"Veo refused shot {request.shot.index}: {message}")
            raise JobFailedError(f"Veo failed shot {request.shot.index} (code {error.get('code', '?')}): {message}")
        response = operation.response or operation.result
        videos = list(response.generated_videos or []) if response else []
        if not videos or videos[0].video is None:
            reasons: list[str] = [str(r) for r in getattr(response, "rai_media_filtered_reasons", None) or []]
            filtered = getattr(response, "rai_media_filtered_count", None)
            if reasons or filtered:
                raise ShotRefusedError(
                    f"Veo refused shot {request.shot.index}: " + self.cloud.clean("; ".join(reasons) or "safety filter")
                )
            raise JobFailedError(f"Veo finished shot {request.shot.index} without a video")
        video = videos[0].video
        raw = raw_path(request)
        if video.video_bytes:
            raw.write_bytes(video.video_bytes)
        elif video.uri and str(video.uri).startswith(("https://", "http://")):
            self.cloud.download(str(video.uri), raw)
        else:
            raise BackendError(
                f"Veo stored shot {request.shot.index} at {video.uri} instead of returning it",
                hint="do not set an output storage URI for Tale's Veo renders",
            )
        return _clip_result(self, request, raw, name)

    def close(self) -> None:
        self.cloud.stopped.set()


def _clip_result(backend: VeoVideo | GeminiOmniVideo, request: ShotRequest, raw: Path, job_id: str) -> RenderResult:
    """Conform a downloaded clip to the request and report what it cost."""
    has_audio = conform_into(request, raw)
    billed, usd = shot_cost(
        backend.recipe,
        backend.name,
        backend.model,
        request.duration_s,
        resolution=backend.resolution,
        audio=backend.recipe.video.audio,
    )
    return RenderResult(
        model=backend.model,
        provider_job_id=job_id,
        billed_seconds=billed,
        cost_usd=usd,
        has_audio=has_audio,
        notes={"resolution": backend.resolution},
    )


class GeminiOmniVideo(VideoBackend):
    """Video from a plain Gemini API key through the Interactions API (background job, then polled)."""

    name = "gemini-omni"
    provider = "gemini-interactions"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.video.model or DEFAULT_OMNI_MODEL
        self.resolution = _resolution(recipe)
        self.options = dict(recipe.video.options)
        _check_options(self.options, OMNI_OPTIONS, self.name)
        self.cloud = Cloud("google", policy=RetryPolicy(retries=recipe.video.retries))
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VideoCapabilities:
        return VideoCapabilities(
            durations=VEO_DURATIONS,
            text_to_video=True,
            image_to_video=True,
            max_reference_images=VEO_MAX_REFERENCES,
            audio=True,
            default_jobs=4,
        )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model,
            "resolution": self.resolution,
            "audio": self.recipe.video.audio,
        }

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                key = require_key("google", role="gemini-omni video backend")
                self.cloud.use_key(key)
                self._client = gemini_client(key)
            return self._client

    def render_shot(self, request: ShotRequest) -> RenderResult:
        client = self._get_client()
        seconds = request.duration_s
        if not any(abs(seconds - allowed) < 1e-6 for allowed in VEO_DURATIONS):
            raise BackendError(
                f"Gemini Omni renders 4, 6 or 8 s shots; shot {request.shot.index} asks for {seconds:g} s"
            )
        images = [request.first_frame] if request.first_frame else request.reference_images[:VEO_MAX_REFERENCES]
        task = "image_to_video" if request.first_frame else "reference_to_video" if images else "text_to_video"
        attempts: list[dict[str, Any]] = []
        text = request.prompt
        if request.negative_prompt:
            text += f"\nAvoid: {request.negative_prompt}"
        if not request.first_frame and images:
            text += "\nKeep the characters exactly as they look in the reference images."

        def create() -> str:
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            for path in images:
                data, mime = image_payload(path)
                content.append({"type": "image", "data": base64.b64encode(data).decode("ascii"), "mime_type": mime})
            interaction = self.cloud.call(
                "create",
                lambda: client.interactions.create(
                    model=self.model,
                    input=content,
                    response_modalities=["video"],
                    response_format={
                        "type": "video",
                        "aspect_ratio": aspect_ratio(request.width, request.height),
                        "resolution": self.resolution,
                        "duration": f"{round(seconds)}s",
                        "delivery": self.options.get("delivery", "inline"),
                    },
                    generation_config={"seed": request.seed, "video_config": {"task": task}},
                    background=True,
                ),
                creates=True,
                attempts=attempts,
            )
            if not getattr(interaction, "id", None):
                raise BackendError("the Gemini API accepted the video request but returned no interaction id")
            return str(interaction.id)

        def finish(interaction_id: str) -> RenderResult:
            interaction = self.cloud.poll(
                lambda: client.interactions.get(id=interaction_id),
                lambda it: str(getattr(it, "status", "")) not in ("in_progress", "queued"),
                job=interaction_id,
                interval_s=self.recipe.video.poll_interval_s,
                timeout_s=self.recipe.video.poll_timeout_s,
            )
            return self._save(request, interaction, interaction_id)

        result = run_job(
            request, provider=self.provider, model=self.model, create=create, finish=finish, attempts=attempts
        )
        result.notes["conditioning"] = task
        return result

    def _save(self, request: ShotRequest, interaction: Any, interaction_id: str) -> RenderResult:
        status = str(getattr(interaction, "status", ""))
        video = getattr(interaction, "output_video", None)
        if status != "completed" or video is None:
            errors = getattr(interaction, "errors", None) or []
            message = "; ".join(str(getattr(e, "message", None) or e) for e in errors) or f"status {status}"
            message = self.cloud.clean(message)[:400]
            if _is_refusal(message):
                raise ShotRefusedError(f"Gemini Omni refused shot {request.shot.index}: {message}")
            raise JobFailedError(f"Gemini Omni did not render shot {request.shot.index}: {message}")
        raw = raw_path(request)
        data = getattr(video, "data", None)
        uri = getattr(video, "uri", None)
        if data:
            raw.write_bytes(base64.b64decode(data) if isinstance(data, str) else bytes(data))
        elif uri:
            # Files API links need the key; send it only to the host the client itself talks to.
            headers = {"x-goog-api-key": self.cloud.secret or ""} if _same_host(str(uri)) else {}
            self.cloud.download(str(uri), raw, headers=headers)
        else:
            raise JobFailedError(f"Gemini Omni finished shot {request.shot.index} without a video")
        return _clip_result(self, request, raw, interaction_id)

    def close(self) -> None:
        self.cloud.stopped.set()


def _same_host(uri: str) -> bool:
    from urllib.parse import urlparse

    base = urlparse(os.environ.get("GOOGLE_GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com/")
    target = urlparse(uri)
    return (target.scheme, target.hostname, target.port) == (base.scheme, base.hostname, base.port)


class GeminiImage(ImageBackend):
    """Character reference images from a Gemini image model (a styled variant when given a source picture)."""

    name = "gemini"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.image.model or DEFAULT_IMAGE_MODEL
        self.cloud = Cloud("google")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> ImageCapabilities:
        return ImageCapabilities()

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "size": self.recipe.image.size}

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                key = require_key("google", role="gemini image backend")
                self.cloud.use_key(key)
                self._client = gemini_client(key)
            return self._client

    def render_reference(self, request: ReferenceRequest) -> RenderResult:
        client = self._get_client()
        _, types = sdk()
        contents: list[Any] = [request.prompt]
        if request.source_image is not None:
            data, mime = image_payload(request.source_image)
            contents.append(types.Part.from_bytes(data=data, mime_type=mime))
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=_image_aspect(self.recipe.image.size)),
            seed=request.seed,
        )
        attempts: list[dict[str, Any]] = []
        response = self.cloud.call(
            "image",
            lambda: client.models.generate_content(model=self.model, contents=contents, config=config),
            attempts=attempts,
        )
        for candidate in response.candidates or []:
            for part in getattr(candidate.content, "parts", None) or []:
                blob = part.inline_data
                if blob is not None and blob.data and str(blob.mime_type or "").startswith("image/"):
                    write_png(blob.data, request.output)
                    notes: dict[str, Any] = {"edited": request.source_image is not None}
                    return RenderResult(
                        model=self.model,
                        cost_usd=image_cost(self.recipe, self.name, self.model),
                        notes={**notes, ATTEMPTS_NOTE: attempts} if attempts else notes,
                    )
        feedback = getattr(response, "prompt_feedback", None)
        reasons = [str(getattr(feedback, "block_reason", "") or "")]
        reasons += [str(getattr(c, "finish_reason", "") or "") for c in response.candidates or []]
        reason = (
            ", ".join(r for r in reasons if r and r not in ("STOP", "FinishReason.STOP")) or "no image in the answer"
        )
        if _is_refusal(reason) or "PROHIBITED" in reason:
            raise ShotRefusedError(f"Gemini refused the reference image of {request.character.name}: {reason}")
        raise BackendError(f"Gemini returned no image for {request.character.name}: {reason}")

    def close(self) -> None:
        self.cloud.stopped.set()


def _image_aspect(size: str) -> str:
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        return "1:1"
    if width == height:
        return "1:1"
    return "16:9" if width > height * 1.5 else "3:2" if width > height else "9:16" if height > width * 1.5 else "2:3"


# ---------------------------------------------------------------- registry

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

PROVIDERS = (
    Provider(
        "veo",
        "Google Veo 3.1 through Vertex AI (express key or a Google Cloud project)",
        {Role.VIDEO: VeoVideo},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="vertex",
        extra="google",
        models=(DEFAULT_VEO_MODEL, "veo-3.1-generate-001", "veo-3.1-lite-generate-001"),
    ),
    Provider(
        "gemini-omni",
        "Gemini Omni video through the Interactions API with a plain Gemini API key",
        {Role.VIDEO: GeminiOmniVideo},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="google",
        extra="google",
        models=(DEFAULT_OMNI_MODEL, "gemini-omni-1.2-flash"),
    ),
    Provider(
        "gemini",
        "Gemini: character images, and plans with structured output",
        {Role.IMAGE: GeminiImage},
        Locality.CLOUD,
        Pricing.PRICE_BOOK,
        key="google",
        extra="google",
        models=(DEFAULT_IMAGE_MODEL,),
    ),
)
