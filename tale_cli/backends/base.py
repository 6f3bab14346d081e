"""The small protocol every image and video backend implements, with capabilities and requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.plan import Character, Plan, Shot


@dataclass(frozen=True)
class VideoCapabilities:
    """What a video backend can do; the recipe and plan are checked against it before spending."""

    durations: tuple[float, ...] | None = None
    min_duration_s: float = 0.5
    max_duration_s: float = 60.0
    sizes: tuple[tuple[int, int], ...] | None = None
    text_to_video: bool = True
    image_to_video: bool = True
    last_frame: bool = False
    max_reference_images: int = 0
    # Durations allowed for a shot conditioned on reference images, when narrower than `durations`.
    reference_durations: tuple[float, ...] | None = None
    audio: bool = False
    # The longest prompt the provider takes, when it has a limit of its own (planners trim to it).
    max_prompt_chars: int | None = None
    default_jobs: int = 2
    # The clip a model renders in one go, for a model that has a native length (what `tale bench` times).
    native_seconds: float | None = None
    # Holds a model in (GPU) memory once `load()` has run: Ray gives each of its workers a GPU.
    loads_model: bool = False

    def supports_duration(self, seconds: float) -> bool:
        if self.durations is not None:
            return any(abs(seconds - allowed) < 1e-6 for allowed in self.durations)
        return self.min_duration_s <= seconds <= self.max_duration_s


@dataclass(frozen=True)
class ImageCapabilities:
    """What an image backend can do; nothing varies yet (whether it runs locally is the registry's to say)."""


class JobJournal(Protocol):
    """Where a paid backend records its provider job id before polling, so a crash resumes it."""

    def existing_job(self) -> dict[str, Any] | None: ...

    def record_job(self, job: dict[str, Any]) -> None: ...


@dataclass
class ShotRequest:
    """Everything a backend needs to render one shot into `output` (a `*.part` path)."""

    plan: Plan
    shot: Shot
    prompt: str
    negative_prompt: str
    width: int
    height: int
    fps: int
    duration_s: float
    seed: int
    output: Path
    journal: JobJournal
    first_frame: Path | None = None
    last_frame: Path | None = None
    reference_images: list[Path] = field(default_factory=list)


@dataclass
class RenderResult:
    """What a backend reports after writing its file; billing fields stay None when free."""

    model: str = ""
    provider_job_id: str | None = None
    billed_seconds: float | None = None
    billed_credits: float | None = None
    cost_usd: float | None = None
    has_audio: bool = False
    notes: dict[str, Any] = field(default_factory=dict)
    checked: bool = False  # the executor already ran media.check_clip on the output


@dataclass
class ReferenceRequest:
    plan: Plan
    character: Character
    prompt: str
    seed: int
    output: Path
    journal: JobJournal
    # A picture of the character to make a styled variant of (image backends that can edit use it).
    source_image: Path | None = None


class VideoBackend(Protocol):
    """Renders one shot to an MP4 file. Instances are created once per run (or per worker).

    Backends subclass this protocol, so the methods with a body below are their defaults: the
    pipeline and the executors call every one of them directly, never probing for them.
    """

    name: str

    def capabilities(self) -> VideoCapabilities: ...

    def fingerprint(self) -> dict[str, Any]:
        """Settings beyond the request that change the pixels (model, steps…): part of the cache key."""
        ...

    def request_fingerprint(self, request: ShotRequest) -> dict[str, Any]:
        """What of this one request, beyond the prompt and size, changes the pixels (none by default)."""
        return {}

    def preflight(self) -> None:
        """Checks that cost nothing (key present, options valid), run before anything is spent."""
        return

    def load(self) -> None:
        """Loads the model ahead of the first shot (a GPU worker's warm-up); nothing to load by default."""
        return

    def render_shot(self, request: ShotRequest) -> RenderResult: ...

    def close(self) -> None:
        """Ends waits in flight and frees what the backend holds; called once, from the owning thread."""
        return


class ImageBackend(Protocol):
    """Renders one character reference image to a PNG file (subclassed like VideoBackend)."""

    name: str

    def capabilities(self) -> ImageCapabilities: ...

    def fingerprint(self) -> dict[str, Any]: ...

    def preflight(self) -> None:
        """Checks that cost nothing, run before anything is spent."""
        return

    def render_reference(self, request: ReferenceRequest) -> RenderResult: ...

    def close(self) -> None:
        return None


class BackendFactory(Protocol):
    def __call__(self, recipe: Recipe) -> Any: ...
