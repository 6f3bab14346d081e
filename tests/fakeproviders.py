"""A fake Vertex/Gemini/OpenAI/Runway server on 127.0.0.1 that the real SDKs talk to through their base URLs.

It speaks enough of each REST API for the SDKs' own code to run: Veo predictLongRunning and
fetchPredictOperation, Gemini generateContent (structured JSON and images), Interactions, OpenAI
Responses and Images, Runway tasks. Its clips are real small MP4s and its images real PNGs. It counts
every create call and can be told to rate-limit, refuse, never finish, be slow, or answer a plan badly.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAKE_KEYS = {
    "vertex": "test-vertex-key-not-real-1234",
    "google": "test-gemini-key-not-real-1234",
    "openai": "test-openai-key-not-real-1234",
    "runway": "test-runway-key-not-real-1234",
}
REFUSAL_REASON = "The prompt could not be submitted: it violates the usage guidelines (safety filter)."

_clip_lock = threading.Lock()
_clip_cache: dict[tuple[int, int, int, float, bool], bytes] = {}


def clip_bytes(width: int, height: int, fps: int, seconds: float, audio: bool, workdir: Path) -> bytes:
    """A real MP4 made by ffmpeg, cached by shape so a test run encodes each shape once."""
    from tale_cli.media import synthetic_clip

    shape = (width, height, fps, seconds, audio)
    with _clip_lock:
        if shape not in _clip_cache:
            path = workdir / f"clip-{width}x{height}-{fps}-{seconds:g}-{int(audio)}.mp4"
            synthetic_clip(path, width=width, height=height, fps=fps, duration_s=seconds, audio=audio)
            _clip_cache[shape] = path.read_bytes()
        return _clip_cache[shape]


def png_bytes(seed: int = 0, size: tuple[int, int] = (64, 64)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, ((seed * 53) % 256, (seed * 97) % 256, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Job:
    kind: str
    id: str
    prompt: str
    seconds: float
    audio: bool
    created: float
    refused: bool = False
    polls: int = 0


@dataclass
class FakeProviders:
    """The server's state and knobs; tests change the knobs between calls."""

    workdir: Path
    clip_delay_s: float = 0.0
    clip_size: tuple[int, int] = (320, 180)
    clip_fps: int = 24
    rate_limit_creates: int = 0
    server_error_creates: int = 0
    refuse_word: str = "forbidden"
    never_finish: bool = False
    malformed_plans: int = 0
    keys: dict[str, str] = field(default_factory=lambda: dict(FAKE_KEYS))
    creates: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)
    requests: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- helpers the handler uses -------------------------------------------------------------

    def take_rate_limit(self) -> int | None:
        """429 or 503 for the next create calls, as configured; None when the call goes through."""
        with self.lock:
            if self.rate_limit_creates > 0:
                self.rate_limit_creates -= 1
                return 429
            if self.server_error_creates > 0:
                self.server_error_creates -= 1
                return 503
        return None

    def new_job(self, kind: str, prompt: str, seconds: float, audio: bool) -> Job:
        refused = bool(self.refuse_word) and self.refuse_word in prompt.lower()
        job = Job(kind, uuid.uuid4().hex[:16], prompt, seconds, audio, time.monotonic(), refused)
        with self.lock:
            self.creates[kind] += 1
            self.jobs[job.id] = job
        return job

    def state(self, job: Job) -> str:
        """'running', 'refused' or 'done'."""
        with self.lock:
            job.polls += 1
            self.polls[job.kind] += 1
        if job.refused:
            return "refused"
        if self.never_finish or time.monotonic() - job.created < self.clip_delay_s:
            return "running"
        return "done"

    def clip(self, job: Job) -> bytes:
        width, height = self.clip_size
        return clip_bytes(width, height, self.clip_fps, job.seconds, job.audio, self.workdir)


def _plan_answer(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    """A valid plan for the structured-output schema Tale sent: its shot count and allowed durations."""
    shots_schema = schema["properties"]["shots"]
    count = shots_schema.get("minItems", 8)
    duration = shots_schema["items"]["properties"]["duration_s"]
    allowed = duration.get("enum") or [duration.get("minimum", 8)]
    preferred = re.search(r"prefer (\d+(?:\.\d+)?) s", prompt)
    seconds = float(preferred.group(1)) if preferred and float(preferred.group(1)) in allowed else allowed[-1]
    names = re.findall(r"\b(Mira|Pip)\b", prompt) or ["Mira"]
    characters = [
        {"id": name.lower(), "name": name, "description": f"{name}, drawn the same in every shot"}
        for name in dict.fromkeys(names)
    ]
    return {
        "title": "The Lighthouse Keeper's Cat",
        "style": "Warm storybook animation",
        "characters": characters,
        "shots": [
            {
                "duration_s": seconds,
                "prompt": f"Shot {n}: a lighthouse on a rocky island at dusk, painterly",
                "negative_prompt": "blurry, text",
                "camera": "slow push in",
                "characters": [characters[n % len(characters)]["id"]],
                "narration": f"Line {n} of the story.",
                "continuity": n > 1,
            }
            for n in range(1, count + 1)
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        payload: Any,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Type", "").startswith("application/json") and raw:
            return raw, json.loads(raw)
        return raw, None

    def _authorised(self, provider: str) -> bool:
        fake = self.server.fake
        expected = fake.keys[provider]
        if provider in ("vertex", "google"):
            given = self.headers.get("x-goog-api-key", "")
        else:
            given = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if given == expected:
            return True
        if provider == "google":
            self._send(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
            )
        elif provider == "vertex":
            self._send(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": f"API key {given} is not valid for this project.",
                        "status": "UNAUTHENTICATED",
                    }
                },
            )
        elif provider == "openai":
            self._send(
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {given}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        else:
            self._send(401, {"error": f"Invalid API secret {given}"})
        return False

    def _throttled(self, provider: str) -> bool:
        status = self.server.fake.take_rate_limit()
        if status is None:
            return False
        if provider in ("vertex", "google"):
            payload: Any = {
                "error": {
                    "code": status,
                    "message": "Resource exhausted, try again later.",
                    "status": "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE",
                }
            }
        elif provider == "openai":
            payload = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
        else:
            payload = {"error": "Too many requests"}
        self._send(status, payload, headers={"Retry-After": "0"})
        return True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        raw, body = self._body()
        path = self.path.split("?", 1)[0]
        fake = self.server.fake
        with fake.lock:
            fake.requests.append(
                {
                    "method": method,
                    "path": path,
                    "json": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            )
        for pattern, verb, handler in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                handler(self, match, body, raw)
                return
        self._send(404, {"error": {"code": 404, "message": f"no route {method} {path}", "status": "NOT_FOUND"}})

    # -- Vertex AI Veo -----------------------------------------------------------------------

    def veo_create(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("vertex") or self._throttled("vertex"):
            return
        instance = body["instances"][0]
        parameters = body.get("parameters", {})
        job = self.server.fake.new_job(
            "veo",
            instance.get("prompt", ""),
            float(parameters.get("durationSeconds", 8)),
            bool(parameters.get("generateAudio")),
        )
        name = (
            f"projects/fake-project/locations/us-central1/publishers/google/models/{match['model']}/operations/{job.id}"
        )
        self._send(200, {"name": name})

    def veo_fetch(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("vertex"):
            return
        name = body.get("operationName", "")
        job = self.server.fake.jobs.get(name.rsplit("/", 1)[-1])
        if job is None:
            self._send(404, {"error": {"code": 404, "message": "Operation not found", "status": "NOT_FOUND"}})
            return
        state = self.server.fake.state(job)
        kind = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
        if state == "running":
            self._send(200, {"name": name, "done": False})
        elif state == "refused":
            self._send(
                200,
                {
                    "name": name,
                    "done": True,
                    "response": {
                        "@type": kind,
                        "raiMediaFilteredCount": 1,
                        "raiMediaFilteredReasons": [REFUSAL_REASON],
                    },
                },
            )
        else:
            video = base64.b64encode(self.server.fake.clip(job)).decode()
            self._send(
                200,
                {
                    "name": name,
                    "done": True,
                    "response": {
                        "@type": kind,
                        "raiMediaFilteredCount": 0,
                        "videos": [{"bytesBase64Encoded": video, "mimeType": "video/mp4"}],
                    },
                },
            )

    # -- Gemini API ---------------------------------------------------------------------------

    def gemini_generate(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("google") or self._throttled("google"):
            return
        fake = self.server.fake
        config = body.get("generationConfig", {})
        prompt = " ".join(
            part.get("text", "") for content in body.get("contents", []) for part in content.get("parts", [])
        )
        if "IMAGE" in [m.upper() for m in config.get("responseModalities", [])]:
            with fake.lock:
                fake.creates["gemini-image"] += 1
            if fake.refuse_word and fake.refuse_word in prompt.lower():
                self._send(
                    200,
                    {
                        "candidates": [{"finishReason": "IMAGE_SAFETY"}],
                        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                    },
                )
                return
            image = base64.b64encode(png_bytes(len(prompt))).decode()
            self._send(
                200,
                {
                    "candidates": [
                        {
                            "content": {
                                "role": "model",
                                "parts": [{"inlineData": {"mimeType": "image/png", "data": image}}],
                            },
                            "finishReason": "STOP",
                        }
                    ]
                },
            )
            return
        text = self._plan_text(config.get("responseJsonSchema") or config.get("responseSchema"), prompt)
        candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        usage = {"promptTokenCount": 100, "candidatesTokenCount": 200, "totalTokenCount": 300}
        self._send(200, {"candidates": [candidate], "usageMetadata": usage})

    def _plan_text(self, schema: Any, prompt: str) -> str:
        fake = self.server.fake
        with fake.lock:
            fake.creates["plan"] += 1
            malformed = fake.malformed_plans > 0
            if malformed:
                fake.malformed_plans -= 1
        if malformed:
            return '{"title": "The Lighthouse Keeper\'s Cat", "shots": [{"duration_s": 8, "prompt": '
        return json.dumps(_plan_answer(schema, prompt))

    def interactions_create(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("google") or self._throttled("google"):
            return
        steps = body.get("input", [])
        texts = [
            item.get("text", "") for step in steps for item in step.get("content", []) if item.get("type") == "text"
        ]
        response_format = body.get("response_format", {})
        seconds = float(str(response_format.get("duration", "8s")).rstrip("s"))
        job = self.server.fake.new_job("omni", " ".join(texts), seconds, True)
        self._send(200, {"id": job.id, "status": "in_progress", "model": body.get("model")})

    def interactions_get(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("google"):
            return
        job = self.server.fake.jobs.get(match["id"])
        if job is None:
            self._send(404, {"error": {"code": 404, "message": "Interaction not found", "status": "NOT_FOUND"}})
            return
        state = self.server.fake.state(job)
        if state == "running":
            self._send(200, {"id": job.id, "status": "in_progress"})
        elif state == "refused":
            self._send(
                200, {"id": job.id, "status": "failed", "errors": [{"code": "SAFETY", "message": REFUSAL_REASON}]}
            )
        else:
            video = base64.b64encode(self.server.fake.clip(job)).decode()
            content = [{"type": "video", "data": video, "mime_type": "video/mp4"}]
            self._send(
                200, {"id": job.id, "status": "completed", "steps": [{"type": "model_output", "content": content}]}
            )

    # -- OpenAI --------------------------------------------------------------------------------

    def openai_responses(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("openai") or self._throttled("openai"):
            return
        prompt = body.get("input") if isinstance(body.get("input"), str) else json.dumps(body.get("input"))
        schema = body.get("text", {}).get("format", {}).get("schema")
        text = self._plan_text(schema, prompt or "")
        content = [{"type": "output_text", "text": text, "annotations": []}]
        message = {"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant", "content": content}
        response = {
            "id": "resp_" + uuid.uuid4().hex[:12],
            "object": "response",
            "created_at": int(time.time()),
            "model": body.get("model"),
            "status": "completed",
            "output": [message],
            "parallel_tool_calls": False,
            "tool_choice": "auto",
            "tools": [],
            "usage": {"input_tokens": 100, "output_tokens": 200, "total_tokens": 300},
        }
        self._send(200, response)

    def openai_image(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("openai") or self._throttled("openai"):
            return
        fake = self.server.fake
        if body is None:  # multipart edit: the prompt is one of the form fields
            text = raw.decode("latin-1")
            found = re.search(r'name="prompt"\r\n\r\n(.*?)\r\n--', text, flags=re.DOTALL)
            prompt = found.group(1) if found else ""
            kind = "openai-edit"
        else:
            prompt = body.get("prompt", "")
            kind = "openai-image"
        with fake.lock:
            fake.creates[kind] += 1
        if fake.refuse_word and fake.refuse_word in prompt.lower():
            self._send(
                400,
                {
                    "error": {
                        "message": "Your request was rejected by the safety system.",
                        "type": "image_generation_user_error",
                        "code": "moderation_blocked",
                    }
                },
            )
            return
        self._send(
            200,
            {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(png_bytes(len(prompt))).decode()}]},
        )

    # -- Runway ---------------------------------------------------------------------------------

    def runway_create(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("runway"):
            return
        if not self.headers.get("X-Runway-Version"):
            self._send(400, {"error": "Missing X-Runway-Version header"})
            return
        if self._throttled("runway"):
            return
        endpoint = match["endpoint"]
        if endpoint == "text_to_video" and body.get("model") == "gen4_turbo":
            self._send(
                400,
                {
                    "error": "Validation of body failed",
                    "issues": [{"path": ["model"], "message": "gen4_turbo is image-to-video only"}],
                },
            )
            return
        if endpoint == "image_to_video" and not body.get("promptImage"):
            self._send(400, {"error": "promptImage is required"})
            return
        job = self.server.fake.new_job(
            "runway", body.get("promptText", ""), float(body.get("duration", 5)), bool(body.get("audio"))
        )
        self._send(200, {"id": job.id, "estimatedCost": {"credits": int(job.seconds * 5)}})

    def runway_task(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        if not self._authorised("runway"):
            return
        job = self.server.fake.jobs.get(match["id"])
        if job is None:
            self._send(404, {"error": "Task not found"})
            return
        state = self.server.fake.state(job)
        base = {"id": job.id, "createdAt": "2026-11-01T00:00:00.000Z"}
        if state == "running":
            self._send(
                200, {**base, "status": "RUNNING", "progress": 0.5, "estimatedCost": {"credits": int(job.seconds * 5)}}
            )
        elif state == "refused":
            self._send(
                200,
                {
                    **base,
                    "status": "FAILED",
                    "failure": REFUSAL_REASON,
                    "failureCode": "SAFETY.INPUT.TEXT",
                    "cost": {"credits": 0},
                },
            )
        else:
            url = f"{self.server.fake.url}/files/{job.id}.mp4"
            self._send(200, {**base, "status": "SUCCEEDED", "output": [url], "cost": {"credits": int(job.seconds * 5)}})

    def runway_file(self, match: re.Match[str], body: Any, raw: bytes) -> None:
        job = self.server.fake.jobs.get(match["id"])
        if job is None:
            self._send(404, {"error": "expired"})
            return
        self._send(200, self.server.fake.clip(job), content_type="video/mp4")


_VERTEX_MODEL = r"/v1beta1/(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/(?P<model>[^/:]+)"
_ROUTES: list[tuple[str, str, Any]] = [
    (_VERTEX_MODEL + ":predictLongRunning", "POST", _Handler.veo_create),
    (_VERTEX_MODEL + ":fetchPredictOperation", "POST", _Handler.veo_fetch),
    (r"/v1(?:beta)?/models/(?P<model>[^/:]+):generateContent", "POST", _Handler.gemini_generate),
    (r"/v1(?:beta)?/interactions", "POST", _Handler.interactions_create),
    (r"/v1(?:beta)?/interactions/(?P<id>[\w-]+)", "GET", _Handler.interactions_get),
    (r"/v1/responses", "POST", _Handler.openai_responses),
    (r"/v1/images/(?:generations|edits)", "POST", _Handler.openai_image),
    (r"/v1/(?P<endpoint>image_to_video|text_to_video)", "POST", _Handler.runway_create),
    (r"/v1/tasks/(?P<id>[\w-]+)", "GET", _Handler.runway_task),
    (r"/files/(?P<id>[\w-]+)\.mp4", "GET", _Handler.runway_file),
]  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProviders
    workdir: Path


def start(workdir: Path) -> _Server:
    """Start a fake server on a free 127.0.0.1 port in a background thread."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.workdir = workdir
    reset(server)
    threading.Thread(target=server.serve_forever, name="fake-providers", daemon=True).start()
    return server


def reset(server: _Server) -> FakeProviders:
    """Fresh state and default knobs (the server and its clip cache stay)."""
    fake = FakeProviders(workdir=server.workdir, url=f"http://127.0.0.1:{server.server_address[1]}")
    server.fake = fake
    return fake


# Environment the SDKs read: base URLs pointed at the fake, fake keys, nothing inherited that could leak out.
CLEARED_ENV = (
    "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_APPLICATION_CREDENTIALS", "OPENAI_API_KEY", "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID", "RUNWAYML_API_SECRET", "TALE_GOOGLE_API_KEY", "TALE_VERTEX_API_KEY", "TALE_OPENAI_API_KEY",
    "TALE_RUNWAY_API_KEY", "GOOGLE_GENAI_API_VERSION",
)  # fmt: skip


def environment(fake: FakeProviders) -> dict[str, str]:
    return {
        "GOOGLE_VERTEX_BASE_URL": fake.url + "/",
        "GOOGLE_GEMINI_BASE_URL": fake.url + "/",
        "OPENAI_BASE_URL": fake.url + "/v1",
        "RUNWAYML_BASE_URL": fake.url,
        "TALE_VERTEX_API_KEY": FAKE_KEYS["vertex"],
        "TALE_GOOGLE_API_KEY": FAKE_KEYS["google"],
        "TALE_OPENAI_API_KEY": FAKE_KEYS["openai"],
        "TALE_RUNWAY_API_KEY": FAKE_KEYS["runway"],
    }
