"""The fake providers' shared core: one HTTP server on 127.0.0.1, routes by (method, path regex), shared state.

Each provider module (vertex, google, openai, runway) serves its own routes, key check and error shapes;
this module holds what they share: the request plumbing, the counters and knobs tests turn
(`FakeProviders`), the rate limiting every paid create goes through, and the real MP4s and PNGs they answer with.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

REFUSAL_REASON = "The prompt could not be submitted: it violates the usage guidelines (safety filter)."

_clip_lock = threading.Lock()
_clip_cache: dict[tuple[int, int, int, float, bool], bytes] = {}


def clip_bytes(width: int, height: int, fps: int, seconds: float, audio: bool, workdir: Path) -> bytes:
    """A real MP4 made by ffmpeg, cached by shape so a test run encodes each shape once."""
    from tale_cli.media.ffmpeg import synthetic_clip

    shape = (width, height, fps, seconds, audio)
    with _clip_lock:
        if shape not in _clip_cache:
            path = workdir / f"clip-{width}x{height}-{fps}-{seconds:g}-{int(audio)}.mp4"
            synthetic_clip(path, width=width, height=height, fps=fps, duration_s=seconds, audio=audio)
            _clip_cache[shape] = path.read_bytes()
        return _clip_cache[shape]


def png_bytes(seed: int = 0, size: tuple[int, int] = (64, 64)) -> bytes:
    """A real PNG whose colour follows the seed, so two different prompts give two different images."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, ((seed * 53) % 256, (seed * 97) % 256, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def speech_pcm(text: str, rate: int = 24_000) -> bytes:
    """Speech-like 16-bit mono PCM as long as `text` takes to say at a natural pace: a voiced tone in syllable-rate
    bursts, so loudness meters and silence detectors read it as speech (and it stays plainly fake to a listener)."""
    import numpy as np

    from tale_cli.story.pace import natural_seconds

    seconds = max(0.4, natural_seconds(text))
    t = np.arange(round(seconds * rate)) / rate
    voiced = np.sin(2 * np.pi * 160 * t) + 0.5 * np.sin(2 * np.pi * 320 * t) + 0.25 * np.sin(2 * np.pi * 480 * t)
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t)
    return (voiced * syllables * 0.25 * 32767).astype("<i2").tobytes()


def speech_file(text: str, container: str = "wav", rate: int = 24_000) -> bytes:
    """`speech_pcm` as a file: a WAV, or encoded by ffmpeg into another container ("mp3", "ogg"), as a provider sends."""
    import subprocess
    import wave

    from tale_cli.media.ffmpeg import ffmpeg_exe

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(speech_pcm(text, rate))
    if container == "wav":
        return buffer.getvalue()
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", "-", "-f", container, "-"],
                          input=buffer.getvalue(), capture_output=True, check=True)  # fmt: skip
    return done.stdout


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
    # What one provider's job remembers beyond these (how Gemini Omni delivers its video, …).
    extra: dict[str, Any] = field(default_factory=dict)


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
    # Judge answers: cut off (unreadable) for this many requests, then wrapped in prose with a number for a string.
    malformed_verdicts: int = 0
    sloppy_verdicts: int = 0
    # Judge answers about the things on screen: these ids not seen; an answer about an id it was not asked about.
    absent_things: set[str] = field(default_factory=set)
    stray_thing: str | None = None
    # Planner answers: schema-valid nonsense, or this many shots whatever the schema asks.
    nonsense_plans: bool = False
    plan_shots: int | None = None
    # Runway: whether a finished task says what it cost (when it does not, Tale prices it from the book).
    task_cost_reported: bool = True
    keys: dict[str, str] = field(default_factory=dict)
    creates: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)
    requests: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    # Voices made through a provider's voice API, by id: who made it ("openai", "runway") and how.
    voices: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

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

    def count(self, kind: str) -> None:
        with self.lock:
            self.creates[kind] += 1

    def refuses(self, prompt: str) -> bool:
        return bool(self.refuse_word) and self.refuse_word in prompt.lower()

    def new_job(self, kind: str, prompt: str, seconds: float, audio: bool) -> Job:
        job = Job(kind, uuid.uuid4().hex[:16], prompt, seconds, audio, time.monotonic(), self.refuses(prompt))
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
        """The job's clip at `clip_size`, turned to the shape the request asked for (`shape`: "9:16", "720:1280")."""
        width, height = self.clip_size
        if "shape" in job.extra:
            across, down = (int(part) for part in job.extra["shape"].split(":"))
            short = min(width, height)
            long = round(short * max(across, down) / min(across, down) / 2) * 2
            width, height = (long, short) if across >= down else (short, long)
        return clip_bytes(width, height, self.clip_fps, job.seconds, job.audio, self.workdir)


@dataclass(frozen=True)
class FormPart:
    """One part of a multipart form: its bytes, and for a file its name and type."""

    data: bytes
    filename: str | None
    content_type: str

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Call(BaseHTTPRequestHandler):
    """One request to the fake: parsed once, logged in `FakeProviders.requests`, handed to the matching route."""

    protocol_version = "HTTP/1.1"
    server: FakeServer
    raw: bytes
    json: Any
    query: dict[str, list[str]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeProviders:
        return self.server.fake

    def bearer(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ")

    def send(
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

    def throttled(self, error: Callable[[int], Any]) -> bool:
        """Answer a paid create with 429/503 (the provider's `error(status)` body) while the knobs say so."""
        status = self.fake.take_rate_limit()
        if status is None:
            return False
        self.send(status, error(status), headers={"Retry-After": "0"})
        return True

    def form(self) -> dict[str, FormPart]:
        """A multipart/form-data body's parts by name (empty for any other body)."""
        import email.parser
        import email.policy

        kind = self.headers.get("Content-Type", "")
        if not kind.startswith("multipart/form-data"):
            return {}
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + self.raw
        )
        parts: dict[str, FormPart] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                data = part.get_payload(decode=True) or b""
                parts[str(name)] = FormPart(data, part.get_filename(), part.get_content_type())
        return parts

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(length) if length else b""
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        self.json = json.loads(self.raw) if is_json and self.raw else None
        path, _, query = self.path.partition("?")
        self.query = parse_qs(query)
        with self.fake.lock:
            self.fake.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": self.query,
                    "json": self.json,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            )
        for verb, pattern, handler in self.server.routes:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                handler(self, match)
                return
        # No provider claims the path, so no provider's error shape applies: Google's, the most common here.
        self.send(404, {"error": {"code": 404, "message": f"no route {method} {path}", "status": "NOT_FOUND"}})


Handler = Callable[[Call, re.Match[str]], None]
Route = tuple[str, str, Handler]


class ProviderFake(Protocol):
    """What a provider module exports: the key provider it imitates (tale_cli/keys/store.py), its key and its routes."""

    KEY_PROVIDER: str
    FAKE_KEY: str
    CLEARED_ENV: tuple[str, ...]
    ROUTES: list[Route]

    def environment(self, url: str) -> dict[str, str]: ...


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProviders

    def __init__(self, workdir: Path, providers: Sequence[ProviderFake]) -> None:
        super().__init__(("127.0.0.1", 0), Call)
        self.workdir = workdir
        self.providers = tuple(providers)
        self.routes = [route for provider in self.providers for route in provider.ROUTES]


def start(workdir: Path, providers: Sequence[ProviderFake]) -> FakeServer:
    """Start a fake server for these providers on a free 127.0.0.1 port in a background thread."""
    server = FakeServer(workdir, providers)
    reset(server)
    threading.Thread(target=server.serve_forever, name="fake-providers", daemon=True).start()
    return server


def reset(server: FakeServer) -> FakeProviders:
    """Fresh state and default knobs (the server and its clip cache stay)."""
    fake = FakeProviders(
        workdir=server.workdir,
        url=f"http://127.0.0.1:{server.server_address[1]}",
        keys={provider.KEY_PROVIDER: provider.FAKE_KEY for provider in server.providers},
    )
    server.fake = fake
    return fake


def environment(fake: FakeProviders, providers: Sequence[ProviderFake]) -> dict[str, str]:
    """What the SDKs read: each provider's base URL pointed at the fake, and its fake key."""
    return {name: value for provider in providers for name, value in provider.environment(fake.url).items()}
