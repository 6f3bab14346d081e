"""Google video: Veo 3.1 through the Enterprise (Vertex) client, Gemini Omni through the Interactions API."""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import RenderResult, VideoBackend, VideoCapabilities
from tale_cli.backends.cloud import (
    Cloud,
    JobFailedError,
    RetryPolicy,
    aspect_ratio,
    conform_into,
    image_payload,
    raw_path,
    run_job,
    say_cropped,
    shot_cost,
)
from tale_cli.backends.google.client import (
    check_options,
    gemini_client,
    gemini_seed,
    http_options,
    is_refusal,
    sdk,
    video_resolution,
)
from tale_cli.errors import BackendError, KeysError, RecipeError, ShotRefusedError
from tale_cli.keys.store import get_key, require_key

if TYPE_CHECKING:
    from tale_cli.backends.base import ShotRequest
    from tale_cli.config import Recipe

log = logging.getLogger("tale")


@dataclass(frozen=True)
class VeoModel:
    """What one Veo model takes beyond text, first and last frame (Vertex model pages, November 2026)."""

    references: bool  # up to three ASSET reference images, for 16:9 and 8 s clips only


# The first model is the default.
VEO_MODELS: dict[str, VeoModel] = {
    "veo-3.1-fast-generate-001": VeoModel(references=True),
    "veo-3.1-generate-001": VeoModel(references=True),
    "veo-3.1-lite-generate-001": VeoModel(references=False),
}
DEFAULT_VEO_MODEL = next(iter(VEO_MODELS))
# A model Tale does not know is sent no reference images: only the two above list them.
UNKNOWN_VEO_MODEL = VeoModel(references=False)
REFERENCE_MODELS = tuple(name for name, spec in VEO_MODELS.items() if spec.references)
DEFAULT_OMNI_MODEL = "gemini-omni-1.1-flash"
VEO_DURATIONS = (4.0, 6.0, 8.0)
VEO_REFERENCE_DURATION = 8.0
VEO_REFERENCE_ASPECT = "16:9"
VEO_MAX_REFERENCES = 3
VEO_OPTIONS = frozenset({"project", "location", "person_generation", "enhance_prompt"})
# `allow_all` is for text-to-video only: a shot sent with an image asks for `allow_adult` instead.
PERSON_GENERATION = ("allow_adult", "allow_all", "dont_allow")
PERSON_GENERATION_WITH_IMAGE = "allow_adult"
OMNI_OPTIONS = frozenset({"delivery"})


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


class VeoVideo(VideoBackend):
    """Veo 3.1 (Fast, Lite): T2V, I2V, first + last frame, up to three asset references (not Lite), 4/6/8 s, audio.

    A shot whose reference images Veo would refuse (a 9:16 film, a shot that is not 8 s long) starts from
    its first character's reference instead, and the backend says so once.
    """

    name = "veo"
    provider = "vertex-veo"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.video.model or DEFAULT_VEO_MODEL
        self.spec = VEO_MODELS.get(self.model, UNKNOWN_VEO_MODEL)
        if recipe.continuity == "references" and not self.spec.references:
            raise RecipeError(
                f"Veo model {self.model} takes no reference images, and the recipe asks for continuity = 'references'",
                hint='set continuity = "first-frame" in the recipe, or a model that takes references: '
                + ", ".join(REFERENCE_MODELS),
            )
        self.resolution = video_resolution(recipe)
        self.options = dict(recipe.video.options)
        check_options(self.options, VEO_OPTIONS, self.name)
        _check_veo_options(self.options)
        self.cloud = Cloud("vertex", policy=RetryPolicy(retries=recipe.video.retries), model=self.model)
        self._client: Any = None
        self._lock = threading.Lock()
        self._said: set[str] = set()

    def capabilities(self) -> VideoCapabilities:
        references = (
            self.spec.references and aspect_ratio(self.recipe.width, self.recipe.height) == VEO_REFERENCE_ASPECT
        )
        return VideoCapabilities(
            durations=VEO_DURATIONS,
            text_to_video=True,
            image_to_video=True,
            last_frame=True,
            max_reference_images=VEO_MAX_REFERENCES if references else 0,
            reference_durations=(VEO_REFERENCE_DURATION,) if references else None,
            audio=True,
            speaks=True,
            default_jobs=4,
        )

    def _say_once(self, message: str) -> None:
        with self._lock:
            if message in self._said:
                return
            self._said.add(message)
        log.warning(message)

    def _why_no_references(self, request: ShotRequest) -> str | None:
        """Why Veo would refuse this shot's reference images, or None when it takes them."""
        if not self.spec.references:
            return f"{self.model} takes no reference images"
        shape = aspect_ratio(request.width, request.height)
        if shape != VEO_REFERENCE_ASPECT:
            return f"Veo takes reference images only for {VEO_REFERENCE_ASPECT} films, and this one is {shape}"
        if abs(request.duration_s - VEO_REFERENCE_DURATION) > 1e-6:
            return f"Veo takes reference images only for {VEO_REFERENCE_DURATION:g} s shots"
        return None

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
        say_cropped("Veo", self.recipe)
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
        first_frame = request.first_frame
        references = [] if first_frame else request.reference_images[:VEO_MAX_REFERENCES]
        notes: dict[str, Any] = {}
        refused = self._why_no_references(request) if references else None
        if refused:
            first_frame, references = references[0], []
            notes["references_skipped"] = refused
            self._say_once(f"{refused}: those shots start from their first character's reference (first frame)")
        person = self.options.get("person_generation")
        if person == "allow_all" and (first_frame or references):
            person = PERSON_GENERATION_WITH_IMAGE
            notes["person_generation"] = person
            self._say_once(f"person_generation 'allow_all' is text-to-video only: shots from an image send '{person}'")

        def image(path: Path) -> Any:
            data, mime = image_payload(path)
            return types.Image(image_bytes=data, mime_type=mime)

        def create() -> str:
            source = types.GenerateVideosSource(
                prompt=request.prompt, image=image(first_frame) if first_frame else None
            )
            config = types.GenerateVideosConfig(
                number_of_videos=1,
                duration_seconds=round(seconds),
                aspect_ratio=aspect_ratio(request.width, request.height),
                resolution=self.resolution,
                negative_prompt=request.negative_prompt or None,
                seed=request.seed,
                generate_audio=self.recipe.video.audio,
                last_frame=image(request.last_frame) if first_frame and request.last_frame else None,
                reference_images=[
                    types.VideoGenerationReferenceImage(image=image(path), reference_type="ASSET")
                    for path in references
                ]
                or None,
                person_generation=person,
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

        conditioning = "first-frame" if first_frame else "references" if references else "text"
        attempts: list[dict[str, Any]] = []
        result = run_job(
            request, provider=self.provider, model=self.model, create=create, finish=finish, attempts=attempts
        )
        result.notes.update(conditioning=conditioning, **notes)
        return result

    def _save(self, request: ShotRequest, operation: Any, name: str) -> RenderResult:
        if operation.error:
            error = operation.error if isinstance(operation.error, dict) else {"message": str(operation.error)}
            message = self.cloud.clean(str(error.get("message") or error))[:400]
            if is_refusal(message):
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
        self.resolution = video_resolution(recipe)
        self.options = dict(recipe.video.options)
        check_options(self.options, OMNI_OPTIONS, self.name)
        self.cloud = Cloud("google", policy=RetryPolicy(retries=recipe.video.retries), model=self.model)
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VideoCapabilities:
        return VideoCapabilities(
            durations=VEO_DURATIONS,
            text_to_video=True,
            image_to_video=True,
            max_reference_images=VEO_MAX_REFERENCES,
            audio=True,
            speaks=True,
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
        say_cropped("Gemini Omni", self.recipe)
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
                    response_format={
                        "type": "video",
                        "aspect_ratio": aspect_ratio(request.width, request.height),
                        "resolution": self.resolution,
                        "duration": f"{round(seconds)}s",
                        "delivery": self.options.get("delivery", "inline"),
                    },
                    generation_config={"seed": gemini_seed(request.seed), "video_config": {"task": task}},
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
        clip = getattr(interaction, "output_video", None)
        said = " ".join(str(getattr(interaction, "output_text", None) or "").split())
        if status == "completed" and clip is None and said:
            # The model declined in words instead of rendering: a refusal, its reason in its own text.
            raise ShotRefusedError(f"Gemini Omni refused shot {request.shot.index}: {self.cloud.clean(said)[:400]}")
        if status != "completed" or clip is None:
            errors = getattr(interaction, "errors", None) or []
            message = "; ".join(str(getattr(e, "message", None) or e) for e in errors) or f"status {status}"
            message = self.cloud.clean(message)[:400]
            if is_refusal(message):
                raise ShotRefusedError(f"Gemini Omni refused shot {request.shot.index}: {message}")
            raise JobFailedError(f"Gemini Omni did not render shot {request.shot.index}: {message}")
        raw = raw_path(request)
        data = getattr(clip, "data", None)
        uri = getattr(clip, "uri", None)
        if data:
            raw.write_bytes(base64.b64decode(data) if isinstance(data, str) else bytes(data))
        elif uri:
            # Files API links need the key; send it only to the host the client itself talks to.
            headers = {"x-goog-api-key": self.cloud.secret or ""} if _same_host(str(uri)) else {}
            self.cloud.download(_media_url(str(uri)), raw, headers=headers)
        else:
            raise JobFailedError(f"Gemini Omni finished shot {request.shot.index} without a video")
        return _clip_result(self, request, raw, interaction_id)

    def close(self) -> None:
        self.cloud.stopped.set()


def _media_url(uri: str) -> str:
    """A Files API link asks for the file's bytes with alt=media; without it the answer is the file's metadata."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(uri)
    if "alt" in parse_qs(parts.query):
        return uri
    return parts._replace(query=f"{parts.query}&alt=media" if parts.query else "alt=media").geturl()


def _same_host(uri: str) -> bool:
    from urllib.parse import urlparse

    base = urlparse(os.environ.get("GOOGLE_GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com/")
    target = urlparse(uri)
    return (target.scheme, target.hostname, target.port) == (base.scheme, base.hostname, base.port)


# ---------------------------------------------------------------- registry
