"""Runway's task API: its own gen4_turbo and gen4.5, and every model it serves under the same key (Veo, Seedance,
Kling, …), each within the limits `models.py` declares."""

from __future__ import annotations

import base64
import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import RenderResult, VideoBackend, VideoCapabilities
from tale_cli.backends.cloud import (
    Cloud,
    JobFailedError,
    RetryPolicy,
    conform_into,
    image_payload,
    raw_path,
    run_job,
    shot_cost,
)
from tale_cli.backends.runway.models import MODELS, closest_ratio, pick_resolution
from tale_cli.errors import BackendError, RecipeError, ShotRefusedError, missing_extra
from tale_cli.keys.store import require_key
from tale_cli.registry import CheckRequest, KeyService

if TYPE_CHECKING:
    from tale_cli.backends.base import ShotRequest
    from tale_cli.config import Recipe

log = logging.getLogger("tale")

# A data: URI may carry at most 5 MB; base64 grows bytes by 4/3.
MAX_IMAGE_BYTES = 3_700_000
HTTP_TIMEOUT_S = 300.0


def runway_client(cloud: Cloud, role: str, timeout_s: float) -> Any:
    """The runwayml client on the user's key (the key given to `cloud` for redaction). No SDK retries: Tale retries
    itself, honouring Retry-After; RUNWAYML_BASE_URL still applies."""
    try:
        import runwayml
    except ImportError:
        raise missing_extra("runway", "runwayml") from None
    key = require_key("runway", role=role)
    cloud.use_key(key)
    return runwayml.RunwayML(api_key=key, max_retries=0, timeout=timeout_s)


def _data_uri(path: Path) -> str:
    data, mime = image_payload(path, max_bytes=MAX_IMAGE_BYTES)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class RunwayVideo(VideoBackend):
    """Runway's task API: create, record the task id, poll, download at once (output URLs expire)."""

    name = "runway"
    provider = "runway"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.video.model or "gen4_turbo"
        if self.model not in MODELS:
            raise RecipeError(
                f"Runway model '{self.model}' is not one Tale knows", hint="valid models are: " + ", ".join(MODELS)
            )
        if recipe.video.options:
            raise RecipeError(f"the runway backend takes no [video.options] (got '{sorted(recipe.video.options)[0]}')")
        self.spec = MODELS[self.model]
        self.cloud = Cloud("runway", policy=RetryPolicy(retries=recipe.video.retries), model=self.model)
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> VideoCapabilities:
        return VideoCapabilities(
            durations=tuple(float(d) for d in self.spec.durations),
            renders_longer=self.spec.ranged,
            text_to_video=self.spec.text_to_video,
            image_to_video=True,
            last_frame=self.spec.last_frame,
            audio=self.spec.audio,
            speaks=self.spec.audio,
            reference_audio_s=self.spec.reference_audio_s if self.spec.audio else 0.0,
            max_reference_images=self.spec.reference_images,
            max_prompt_chars=self.spec.max_prompt_chars,
            default_jobs=4,
        )

    def fingerprint(self) -> dict[str, Any]:
        fingerprint = {"backend": self.name, "model": self.model, "audio": self.recipe.video.audio and self.spec.audio}
        if self.spec.resolutions:
            fingerprint["resolution"] = self._resolution()
        return fingerprint

    def preflight(self) -> None:
        self._say_cropped()
        self._get_client()

    def _resolution(self) -> str:
        return pick_resolution(self.spec.resolutions, self.recipe.video.resolution, self.recipe.height)

    def _say_cropped(self) -> None:
        """Said before anything is spent: the film shapes this model has no ratio for, and what it renders instead."""
        from tale_cli.story.shape import film_aspect

        width, height = self.recipe.width, self.recipe.height
        for kind, ratios in (("text-to-video", self.spec.text_ratios), ("image-to-video", self.spec.image_ratios)):
            if not ratios:
                continue
            ratio = closest_ratio(width, height, ratios, resolution=self.recipe.video.resolution)
            parts = ratio.split(":")
            if len(parts) != 2 or not all(part.isdigit() for part in parts):
                continue  # a named ratio ("auto_720p", "adaptive") follows the first frame or the prompt
            w, h = int(parts[0]), int(parts[1])
            if abs(math.log(w / h) - math.log(width / height)) > 0.01:
                log.warning(
                    f"Runway {self.model} has no {film_aspect(self.recipe)} ratio for {kind}: those shots are "
                    f"rendered {ratio} and cropped to fill {width}x{height}"
                )

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = runway_client(self.cloud, "runway video backend", HTTP_TIMEOUT_S)
            return self._client

    def arguments(self, request: ShotRequest) -> tuple[str, dict[str, Any]]:
        """The endpoint ("image_to_video" or "text_to_video") and the SDK arguments for one shot, within the model's
        limits; a shot outside them is refused here, before any request."""
        spec = self.spec
        rendered = spec.render_seconds(request.duration_s)
        if rendered is None:
            raise BackendError(
                f"Runway {self.model} renders {spec.lengths()} s shots; shot {request.shot.index} is "
                f"{request.duration_s:g} s"
            )
        # Seedance takes the shot's references as its pictures where the shot starts from no frame of its own.
        as_pictures = spec.references_as == "prompt_image" and spec.reference_images and request.first_frame is None
        pictures = request.reference_images[: spec.reference_images] if as_pictures else []
        first = request.first_frame or (
            request.reference_images[0]
            if request.reference_images and not spec.text_to_video and not pictures
            else None
        )
        if first is None and not spec.text_to_video:
            raise BackendError(
                f"Runway {self.model} needs a starting image and shot {request.shot.index} has none",
                hint="use continuity = 'first-frame' or 'chain', give the shot a character with a reference image, "
                "or use a model that renders text-to-video",
            )
        prompt = request.prompt[: spec.max_prompt_chars] if spec.max_prompt_chars else request.prompt
        arguments: dict[str, Any] = {"model": self.model, "duration": rendered}
        if prompt:
            arguments["prompt_text"] = prompt
        if spec.seed:
            arguments["seed"] = request.seed
        if spec.audio:
            arguments["audio"] = self.recipe.video.audio
        if spec.negative_prompt and request.negative_prompt:
            arguments["negative_prompt"] = request.negative_prompt
        kind = "image" if first is not None or pictures else "text"
        ratios = spec.image_ratios if kind == "image" else spec.text_ratios or ()
        if ratios:
            arguments["ratio"] = closest_ratio(
                request.width, request.height, ratios, resolution=self.recipe.video.resolution
            )
        if spec.resolutions and kind in spec.resolution_for:
            arguments["resolution"] = self._resolution()
        if request.speech_audio is not None and spec.reference_audio_s and spec.audio:
            from tale_cli.media.wav import wav_seconds

            if wav_seconds(request.speech_audio) > spec.reference_audio_s:
                raise BackendError(
                    f"shot {request.shot.index}'s lines last {wav_seconds(request.speech_audio):.1f} s; Runway "
                    f"{self.model} takes at most {spec.reference_audio_s:g} s of a voice to say them with",
                    hint="shorten the shot's lines in plan.json",
                )
            from tale_cli.keys.seal import read_bytes  # a media-sealed run's voice clip, opened in memory

            data = base64.b64encode(read_bytes(request.speech_audio)).decode("ascii")
            arguments["reference_audio"] = [{"type": "audio", "uri": f"data:audio/wav;base64,{data}"}]
        if pictures:
            arguments["prompt_image"] = [{"uri": _data_uri(picture)} for picture in pictures]
        elif first is not None:
            others = [r for r in request.reference_images if r != first]
            if spec.references_as == "references" and spec.reference_images and others:
                arguments["references"] = [{"uri": _data_uri(r)} for r in others[: spec.reference_images]]
            if spec.last_frame and request.last_frame is not None:
                arguments["prompt_image"] = [
                    {"uri": _data_uri(first), "position": "first"},
                    {"uri": _data_uri(request.last_frame), "position": "last"},
                ]
            else:
                arguments["prompt_image"] = _data_uri(first)
        return f"{kind}_to_video", arguments

    def render_shot(self, request: ShotRequest) -> RenderResult:
        client = self._get_client()
        kind, arguments = self.arguments(request)
        endpoint = getattr(client, kind)

        attempts: list[dict[str, Any]] = []

        def create() -> str:
            task = self.cloud.call("create", lambda: endpoint.create(**arguments), creates=True, attempts=attempts)
            if not getattr(task, "id", None):
                raise BackendError("Runway accepted the request but returned no task id")
            return str(task.id)

        def finish(task_id: str) -> RenderResult:
            task = self.cloud.poll(
                lambda: client.tasks.retrieve(task_id),
                lambda t: str(t.status) in ("SUCCEEDED", "FAILED", "CANCELLED"),
                job=task_id,
                interval_s=self.recipe.video.poll_interval_s,
                timeout_s=self.recipe.video.poll_timeout_s,
            )
            return self._save(request, task, task_id, float(arguments["duration"]))

        result = run_job(
            request, provider=self.provider, model=self.model, create=create, finish=finish, attempts=attempts
        )
        result.notes["conditioning"] = kind.split("_")[0]
        for name in ("ratio", "resolution"):
            if name in arguments:
                result.notes[name] = arguments[name]
        if arguments["duration"] != request.duration_s:
            result.notes["rendered_s"] = arguments["duration"]
        chars = self.spec.max_prompt_chars
        if chars and len(request.prompt) > chars:
            result.notes["prompt_truncated_to"] = chars
        return result

    def _save(self, request: ShotRequest, task: Any, task_id: str, rendered_s: float) -> RenderResult:
        status = str(task.status)
        if status != "SUCCEEDED":
            code = str(getattr(task, "failure_code", None) or "")
            reason = self.cloud.clean(str(getattr(task, "failure", None) or status.lower()))[:400]
            if code.upper().startswith("SAFETY"):
                raise ShotRefusedError(f"Runway refused shot {request.shot.index}: {reason} ({code})")
            raise JobFailedError(
                f"Runway did not render shot {request.shot.index}: {reason}" + (f" ({code})" if code else "")
            )
        outputs = list(getattr(task, "output", None) or [])
        if not outputs:
            raise JobFailedError(f"Runway finished shot {request.shot.index} without an output")
        raw = raw_path(request)
        self.cloud.download(str(outputs[0]), raw)
        has_audio = conform_into(request, raw)
        cost = getattr(task, "cost", None)
        credits = float(cost.credits) if cost is not None and getattr(cost, "credits", None) is not None else None
        billed, usd = shot_cost(
            self.recipe,
            self.name,
            self.model,
            rendered_s,
            resolution=self._resolution() if self.spec.resolutions else self.recipe.video.resolution,
            audio=self.recipe.video.audio and self.spec.audio,
            credits=credits,
        )
        return RenderResult(
            model=self.model,
            provider_job_id=task_id,
            billed_seconds=billed,
            billed_credits=credits,
            cost_usd=usd,
            has_audio=has_audio,
        )

    def close(self) -> None:
        self.cloud.stopped.set()


# ---------------------------------------------------------------- registry

# The API version every request names in its X-Runway-Version header (a request without one is a 400).
API_VERSION = "2024-11-06"


def _check(base: str, key: str | None, bearer: str | None) -> CheckRequest:
    return CheckRequest(f"{base}/v1/organization", {"Authorization": f"Bearer {key}", "X-Runway-Version": API_VERSION})


KEY_SERVICES = (
    KeyService(
        "runway",
        "Runway API secret",
        ("RUNWAYML_API_SECRET",),
        "RUNWAYML_BASE_URL",
        "https://api.dev.runwayml.com",
        _check,
    ),
)
