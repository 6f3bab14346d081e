"""What the cloud backends share: retries with backoff, polling with a timeout, error translation, downloads."""

from __future__ import annotations

import email.utils
import io
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tale_cli.errors import (
    BackendError,
    KeysError,
    PollTimeoutError,
    QuotaError,
    RecipeError,
    ShotRefusedError,
    TaleError,
)

if TYPE_CHECKING:
    from tale_cli.backends.base import RenderResult, ShotRequest
    from tale_cli.config import Recipe

T = TypeVar("T")
log = logging.getLogger("tale")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Exception class names (anywhere in the MRO or the cause chain) that mean the request never got an answer.
_CONNECTION_ERRORS = frozenset(
    {"ConnectError", "ConnectTimeout", "APIConnectionError", "APITimeoutError", "ReadTimeout", "ReadError",
     "RemoteProtocolError", "TimeoutException", "NetworkError", "PoolTimeout", "WriteError", "WriteTimeout",
     "URLError", "ConnectionError", "TimeoutError"}
)  # fmt: skip
# Of those, the ones where the request surely never reached the provider: safe to repeat even for a paid create.
_NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout", "ConnectionRefusedError"})
_REFUSAL_WORDS = ("safety", "policy", "moderation", "prohibited", "blocked", "responsible ai", "harmful", "violat")
_QUOTA_WORDS = ("quota", "credits", "billing", "insufficient")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is repeated after 429/5xx or a dropped connection."""

    retries: int = 5
    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_s)
        # Full jitter: spreads the retries of many concurrent shots apart.
        return random.uniform(0.5, 1.0) * min(self.max_s, self.base_s * 2**attempt)


def _class_names(exc: BaseException) -> set[str]:
    names: set[str] = set()
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 5:
        names.update(cls.__name__ for cls in type(seen).__mro__)
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return names


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error, whichever SDK raised it (`status_code` or google-genai's `code`)."""
    for attribute in ("status_code", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (Retry-After: seconds or an HTTP date), if it said.

    Most SDK errors carry the answer's headers on `.response`; the Interactions client's own errors carry
    them on `.headers`.
    """
    headers = getattr(exc, "headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("retry-after")
    except Exception:
        return None
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def provider_message(exc: BaseException) -> str:
    """The provider's own words for an error, on one line and not too long."""
    message = getattr(exc, "message", None)
    if not isinstance(message, str) or not message.strip():
        message = str(exc) or type(exc).__name__
    return " ".join(message.split())[:400]


def is_connection_error(exc: BaseException, *, unsent_only: bool = False) -> bool:
    names = _class_names(exc)
    if unsent_only:
        return bool(names & _NOT_SENT)
    return bool(names & (_CONNECTION_ERRORS | _NOT_SENT))


class Cloud:
    """One provider's calls: retried, translated into Tale errors with keys scrubbed, cancellable.

    `model` and `section` name the model the calls use and the recipe section that chose it, so that a
    404 on a call is the recipe error "model X is not served" instead of a failed shot.
    """

    def __init__(
        self,
        provider: str,
        *,
        policy: RetryPolicy | None = None,
        model: str | None = None,
        section: str = "video",
        key_hint: str | None = None,
    ) -> None:
        self.provider = provider
        # What to tell the user when the key is refused; by default, the key service named `provider`.
        self.key_hint = key_hint or f"check it with `tale keys set {provider}`"
        self.policy = policy or RetryPolicy()
        self.model = model
        self.section = section
        self.secret: str | None = None  # the key in use, for Files API downloads; scrubbed from messages
        self.stopped = threading.Event()
        # A rejected key or a model the provider does not serve: every later call would fail the same way.
        self._fatal: KeysError | RecipeError | None = None

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and self.stopped.wait(seconds):
            raise BackendError(f"{self.provider}: stopped while waiting")

    def use_key(self, key: str) -> None:
        from tale_cli.keys.redact import register_secret

        register_secret(key)
        self.secret = key

    def clean(self, text: str) -> str:
        from tale_cli.keys.redact import redact

        return redact(text)

    def call(
        self,
        what: str,
        function: Callable[[], T],
        *,
        creates: bool = False,
        attempts: list[dict[str, Any]] | None = None,
    ) -> T:
        """Run one SDK call; repeat it on 429/5xx (a paid create only when it surely was not accepted).

        Each failed try that is retried is appended to `attempts` (for the audit log).
        """
        if self._fatal is not None:
            raise self._fatal
        attempt = 0
        while True:
            if self.stopped.is_set():
                raise BackendError(f"{self.provider}: stopped before {what}")
            try:
                return function()
            except TaleError:
                raise
            except Exception as exc:
                status = http_status(exc)
                if status is not None:
                    retryable = status in RETRYABLE_STATUS
                else:
                    retryable = is_connection_error(exc, unsent_only=creates)
                if not retryable or attempt >= self.policy.retries:
                    raise self.translate(exc, what, tries=attempt + 1) from None
                if attempts is not None:
                    reason = f"{status or type(exc).__name__}: {provider_message(exc)}"
                    attempts.append({"outcome": "retry", "error": self.clean(reason)[:300]})
                self.sleep(self.policy.delay(attempt, retry_after_s(exc)))
                attempt += 1

    def translate(self, exc: BaseException, what: str, *, tries: int = 1) -> TaleError:
        status = http_status(exc)
        message = self.clean(provider_message(exc))
        lowered = message.lower()
        after = f" after {tries} tries" if tries > 1 else ""
        if status in (401, 403) or (status == 400 and "api key" in lowered):
            self._fatal = KeysError(
                f"{self.provider} rejected the API key ({status}): {message}",
                hint=self.key_hint,
            )
            return self._fatal
        if status == 404 and self.model is not None and what not in ("poll", "download"):
            self._fatal = RecipeError(
                f"model {self.model} is not served (retired?) — set [{self.section}] model in the recipe",
                hint=f"{self.provider} answered: {message}; `tale providers` lists the models Tale knows",
            )
            return self._fatal
        if (
            status == 429
            or (status == 402)
            or (status is not None and 400 <= status < 500 and any(w in lowered for w in _QUOTA_WORDS))
        ):
            return QuotaError(
                f"{self.provider} quota or rate limit reached during {what}{after}: {message}",
                hint="wait and run again (finished shots are kept), lower --jobs, or set a fallback recipe",
            )
        if status == 404 and what == "poll":
            return JobGoneError(f"{self.provider} no longer knows this job ({status}): {message}")
        if status is not None and 400 <= status < 500 and any(w in lowered for w in _REFUSAL_WORDS):
            return ShotRefusedError(f"{self.provider} refused the request: {message}")
        if status is not None and 400 <= status < 500:
            return BackendError(f"{self.provider} rejected the {what} request ({status}): {message}")
        if status is not None:
            return BackendError(f"{self.provider} failed during {what} ({status}){after}: {message}")
        if is_connection_error(exc):
            return BackendError(
                f"cannot reach {self.provider} during {what}{after}: {message}",
                hint="check the network connection and any base URL setting",
            )
        return BackendError(f"{self.provider} {what} failed: {type(exc).__name__}: {message}")

    def poll(
        self,
        fetch: Callable[[], T],
        finished: Callable[[T], bool],
        *,
        job: str,
        interval_s: float,
        timeout_s: float,
    ) -> T:
        """Fetch a job's state until `finished`; a job that outlives `timeout_s` stays recorded for a resume."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.call("poll", fetch)
            if finished(state):
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PollTimeoutError(
                    f"{self.provider} job {job} did not finish within {timeout_s:g} s",
                    hint="run the same command again: it resumes polling this job instead of paying for a new one",
                )
            self.sleep(min(interval_s, remaining))

    def download(self, url: str, destination: Path, *, headers: dict[str, str] | None = None) -> None:
        """Fetch a result at once (providers' URLs expire) into `destination`."""
        if not url.startswith(("https://", "http://")):
            raise BackendError(f"{self.provider} returned a result Tale cannot download: {self.clean(url)[:120]}")

        def fetch() -> None:
            request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - scheme checked above
            try:
                with urllib.request.urlopen(request, timeout=120) as response, destination.open("wb") as handle:  # noqa: S310
                    while chunk := response.read(1 << 20):
                        handle.write(chunk)
            except urllib.error.HTTPError as error:
                raise _DownloadError(error.code, error.reason, error.headers) from None

        self.call("download", fetch)


class JobGoneError(BackendError):
    """A recorded job the provider no longer knows (expired, deleted): a resume starts a new one."""


class JobFailedError(BackendError):
    """A job the provider ended without a clip, for a reason other than a refusal."""


def run_job(
    request: ShotRequest,
    *,
    provider: str,
    model: str,
    create: Callable[[], str],
    finish: Callable[[str], RenderResult],
    attempts: list[dict[str, Any]] | None = None,
) -> RenderResult:
    """Resume the job recorded for this shot, or create one and record its id before any polling.

    Retried create attempts (collected in `attempts` by the create call) go to the result's notes.

    A recorded job that is still running is polled again, never paid for twice; one that the provider
    forgot or ended without a clip (the reason a user runs a failed shot again) is replaced by a new one.
    """
    job = request.journal.existing_job()
    if job and job.get("provider") == provider and job.get("id"):
        try:
            return finish(str(job["id"]))
        except (JobGoneError, JobFailedError, ShotRefusedError):
            pass
    job_id = create()
    request.journal.record_job({"provider": provider, "id": job_id, "model": model})
    result = finish(job_id)
    if attempts:
        from tale_cli.keys.audit import ATTEMPTS_NOTE

        result.notes[ATTEMPTS_NOTE] = list(attempts)
    return result


class _DownloadError(Exception):
    def __init__(self, status: int, reason: str, headers: Any) -> None:
        super().__init__(f"download failed: {status} {reason}")
        self.status_code = status
        self.headers = headers


def conform_into(request: ShotRequest, raw: Path) -> bool:
    """Move (or re-encode) a downloaded clip into `request.output` at exactly the requested format.

    Returns whether the clip has an audio track.
    """
    from tale_cli.media import ffmpeg as media

    try:
        info, frames = media.inspect_clip(raw)
    except TaleError:
        raise BackendError(f"the provider returned a file that is not a video ({raw.stat().st_size} bytes)") from None
    same_format = (info.width, info.height) == (request.width, request.height) and abs(info.fps - request.fps) < 0.01
    if same_format and abs(frames - request.duration_s * request.fps) <= 1:
        raw.replace(request.output)
        return info.has_audio
    media.conform_clip(
        raw, request.output, width=request.width, height=request.height, fps=request.fps, duration_s=request.duration_s
    )
    raw.unlink(missing_ok=True)
    return info.has_audio


def raw_path(request: ShotRequest) -> Path:
    """Where a backend writes the provider's file before conforming it into `request.output`."""
    return request.output.with_name(request.output.name + ".download")


def image_payload(path: Path, *, max_bytes: int | None = None) -> tuple[bytes, str]:
    """An input image's bytes and MIME type; re-encoded as JPEG (and shrunk) when over `max_bytes`."""
    from tale_cli.keys.seal import read_bytes

    try:
        data = read_bytes(path)  # a media-sealed run's picture, opened in memory
    except OSError as error:
        raise BackendError(f"cannot read input image {path.name}: {error.strerror}") from None
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg" if data[:3] == b"\xff\xd8\xff" else ""
    if mime and (max_bytes is None or len(data) <= max_bytes):
        return data, mime
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        picture = image.convert("RGB")
    limit = max_bytes or 20_000_000
    quality = 92
    while True:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= limit or (quality <= 60 and max(picture.size) <= 512):
            return buffer.getvalue(), "image/jpeg"
        if quality > 60:
            quality -= 16
        else:
            picture = picture.resize((max(1, picture.width * 3 // 4), max(1, picture.height * 3 // 4)))


def aspect_ratio(width: int, height: int) -> str:
    """'16:9' for landscape, '9:16' for portrait: the two every video provider here accepts.

    A square film is rendered 16:9 (equally near both; Veo takes reference images only for 16:9) and a 4:5 one
    9:16, then cropped to fill the film's frame (conform_into).
    """
    return "16:9" if width >= height else "9:16"


def say_cropped(provider: str, recipe: Recipe) -> None:
    """Said before anything is spent: a film shape the provider does not render, and what Tale does instead."""
    from tale_cli.story.shape import film_aspect

    aspect = film_aspect(recipe)
    if aspect not in ("16:9", "9:16"):
        rendered = aspect_ratio(recipe.width, recipe.height)
        log.warning(
            f"{provider} renders 16:9 and 9:16 only: this {aspect} film's shots are rendered {rendered} "
            f"and cropped to fill {recipe.width}x{recipe.height}"
        )


def shot_cost(
    recipe: Recipe,
    backend: str,
    model: str,
    seconds: float,
    *,
    resolution: str | None,
    audio: bool,
    credits: float | None = None,
) -> tuple[float, float | None]:
    """(billed seconds, USD) for one clip from the run's price book; USD is None for a model it does not price.

    `credits`, when the provider reported what it charged, are converted at the book's credit price.
    """
    from tale_cli.pricing.book import resolve_book
    from tale_cli.pricing.rates import price_shot

    price = price_shot(backend, model, seconds, resolution=resolution, audio=audio, book=resolve_book(recipe.prices))
    if price is None:
        return seconds, None
    if credits is not None and price.usd_per_credit:
        return price.billed_seconds, round(credits * price.usd_per_credit, 4)
    return price.billed_seconds, round(price.usd, 4)


def image_cost(recipe: Recipe, backend: str, model: str) -> float | None:
    """USD for one reference image from the run's price book; None for a model it does not price."""
    from tale_cli.pricing.book import resolve_book
    from tale_cli.pricing.rates import price_image

    priced = price_image(backend, model, recipe.image.quality, book=resolve_book(recipe.prices))
    return None if priced is None else round(priced[0], 4)


def write_png(data: bytes, output: Path) -> None:
    """Write image bytes as PNG (providers may answer in JPEG or WebP)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        output.write_bytes(data)
        return
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.save(output, format="PNG")
    except (UnidentifiedImageError, OSError):
        raise BackendError("the provider returned an image Tale cannot read") from None


def voice_cost(
    recipe: Recipe, backend: str, model: str, seconds: float, *, audio_tokens: int | None = None
) -> float | None:
    """USD for `seconds` of speech (or the audio tokens billed for them) from the run's price book; None for a model
    it does not price."""
    from tale_cli.pricing.book import resolve_book
    from tale_cli.pricing.rates import price_voice

    usd = price_voice(backend, model, seconds, book=resolve_book(recipe.prices), audio_tokens=audio_tokens)
    return None if usd is None else round(usd, 5)


def music_cost(recipe: Recipe, backend: str, model: str) -> float | None:
    """USD for one composed track from the run's price book; None for a model it does not price."""
    from tale_cli.pricing.book import resolve_book
    from tale_cli.pricing.rates import price_music

    usd = price_music(backend, model, book=resolve_book(recipe.prices))
    return None if usd is None else round(usd, 4)


def made_voice_cost(recipe: Recipe, backend: str, model: str) -> float | None:
    """USD for one voice made at a provider (designed or cloned) from the run's price book; None when it has no price."""
    from tale_cli.pricing.book import resolve_book
    from tale_cli.pricing.rates import price_made_voice

    usd = price_made_voice(backend, model, book=resolve_book(recipe.prices))
    return None if usd is None else round(usd, 4)
