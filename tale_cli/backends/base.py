"""The small protocol every image and video backend implements, with capabilities and requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Character, Entity, Plan, Shot


@dataclass(frozen=True)
class VideoCapabilities:
    """What a video backend can do; the recipe and plan are checked against it before spending."""

    durations: tuple[float, ...] | None = None
    # With `durations`: a shot between two of them (or shorter than all) is rendered at the next one up and trimmed
    # to the plan's seconds; without it a shot must last exactly one of them.
    renders_longer: bool = False
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
    # The model makes the sound from the prompt, speech included: a line in the prompt is said on screen.
    speaks: bool = False
    # Seconds of reference audio (a voice to say the lines with) the model takes; 0 for none.
    reference_audio_s: float = 0.0
    # The longest prompt the provider takes, when it has a limit of its own (planners trim to it).
    max_prompt_chars: int | None = None
    default_jobs: int = 2
    # The clip a model renders in one go, for a model that has a native length (what `tale bench` times).
    native_seconds: float | None = None
    # Holds a model in (GPU) memory once `load()` has run: Ray gives each of its workers a GPU.
    loads_model: bool = False

    def supports_duration(self, seconds: float) -> bool:
        if self.durations is not None:
            if self.renders_longer:
                return 0 < seconds <= max(self.durations) + 1e-6
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
    # The shot's lines spoken in their characters' voices, for a model that takes a voice to say them with.
    speech_audio: Path | None = None
    # Where the voice track says each of the shot's speech items, in seconds from the shot's start, once it has
    # (None before, or without a voice): the animatic shows each while it is said.
    speech_times: tuple[tuple[float, float], ...] | None = None


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
    # Whose reference this is: a character, or an entity (a prop, piece of wardrobe or place) the plan keeps.
    character: Character | Entity
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


@dataclass(frozen=True)
class VoiceInfo:
    """One voice a voice backend offers, as `tale voices` lists it."""

    name: str
    languages: tuple[str, ...] = ()
    description: str = ""
    # What the casting matches against a character's description: "female" or "male", "young" or "old".
    traits: tuple[str, ...] = ()


@dataclass(frozen=True)
class VoiceCapabilities:
    """What a voice backend can speak; each request is checked against it before anything is spent."""

    max_input_chars: int = 4096
    # Speakers one request can hold: 1, or more for a backend that voices a whole dialogue at once.
    max_speakers: int = 1
    # Languages it speaks ("*" for any it is given).
    languages: tuple[str, ...] = ("*",)
    # The model its provider makes a voice with from a description (`tale voices design`), or from a recorded sample
    # with its owner's recorded consent (`tale voices clone`), as the price book names it; None: it makes none.
    design_model: str | None = None
    clone_model: str | None = None
    # Why it designs none though its provider makes voices from descriptions (said when one is asked of it).
    no_design_because: str = ""


@dataclass(frozen=True)
class Speaker:
    """One voice of a multi-speaker request: the name the text gives it, and the voice it speaks with."""

    name: str
    voice: str


@dataclass
class VoiceMaking:
    """A voice to make at the provider: from `prompt` (a description), or from `sample` with `consent` (a recording
    of its owner agreeing), under `name`; it will speak `language`.

    `accepted` hears the voice's id the moment the provider accepts it (before waiting for it to be ready), so a
    stopped command resumes with `resume` — that id — instead of paying again."""

    name: str
    language: str
    prompt: str | None = None
    sample: Path | None = None
    consent: Path | None = None
    accepted: Callable[[str], None] | None = None
    resume: str | None = None


@dataclass
class MadeVoice:
    """A voice the provider made: the id speech requests name it by, and what making it cost."""

    voice: str
    result: RenderResult


@dataclass
class SpeechRequest:
    """One clip of speech: `text` spoken in `voice`, written to `output` (a `*.part` path) as 16-bit PCM WAV.

    With `speakers` the text is a dialogue whose lines start with `name:`, each spoken in its speaker's voice.
    """

    text: str
    voice: str
    language: str
    instructions: str
    speed: float
    output: Path
    shot: int
    speakers: list[Speaker] = field(default_factory=list)


class VoiceBackend(Protocol):
    """Speaks one clip at a time (subclassed like VideoBackend: methods with a body are defaults)."""

    name: str
    model: str

    def capabilities(self) -> VoiceCapabilities: ...

    def fingerprint(self) -> dict[str, Any]:
        """Settings beyond the request that change the sound (model…): part of each clip's cache key."""
        ...

    def voices(self) -> list[VoiceInfo]:
        """Every voice this backend offers."""
        ...

    def default_voice(self, language: str) -> str:
        """The voice used for `language` when neither the recipe nor the character names one."""
        ...

    def character_voices(self, language: str) -> list[VoiceInfo]:
        """The voices a character speaking `language` may be given, with their traits, the narrator's own left out."""
        narrator = self.default_voice(language)
        return [
            info
            for info in self.voices()
            if info.name != narrator and ("*" in info.languages or language in info.languages)
        ]

    def check_voice(self, voice: str) -> None:
        """Refuses, before anything is spent, a voice this backend does not offer."""
        if voice not in {info.name for info in self.voices()}:
            from tale_cli.errors import RecipeError

            raise RecipeError(
                f"the {self.name} voice backend has no voice '{voice}'",
                hint=f"`tale voices --backend {self.name}` lists the voices it offers",
            )

    def preflight(self) -> None:
        """Checks that cost nothing (key present, library loads), run before anything is spent."""
        return

    def speak(self, request: SpeechRequest) -> RenderResult:
        """Write the clip; the result's `billed_seconds` are the seconds of speech a paid provider bills."""
        ...

    def make_voice(self, request: VoiceMaking) -> MadeVoice:
        """Make a voice at the provider (only a backend whose capabilities say it `designs` or `clones` is asked)."""
        raise NotImplementedError(f"the {self.name} voice backend makes no voices")

    def close(self) -> None:
        return


@dataclass(frozen=True)
class MusicCapabilities:
    """What a music backend composes: the longest track one request returns (the mix loops a shorter one)."""

    max_seconds: float = 30.0


@dataclass
class MusicRequest:
    """A score for the film: `prompt` says what to compose, `seconds` how long the film is; written to `output`
    (a `*.part` path) as a WAV file."""

    prompt: str
    seconds: float
    output: Path


class MusicBackend(Protocol):
    """Composes the film's music bed (subclassed like VideoBackend: methods with a body are defaults)."""

    name: str
    model: str

    def capabilities(self) -> MusicCapabilities: ...

    def fingerprint(self) -> dict[str, Any]:
        """Settings beyond the request that change the music (model…): part of the score's cache key."""
        ...

    def preflight(self) -> None:
        """Checks that cost nothing (key present), run before anything is spent."""
        return

    def compose(self, request: MusicRequest) -> RenderResult: ...

    def close(self) -> None:
        return


@dataclass(frozen=True)
class JudgeCapabilities:
    """What a judge measures: whether it returns embeddings (so the same character is compared across shots)."""

    embeddings: bool = False
    # Frames it can look at in one request.
    max_frames: int = 16


@dataclass
class JudgeCharacter:
    """A character the shot should show: what the plan says it looks like, and its reference picture."""

    id: str
    name: str
    description: str
    reference: Path | None = None


@dataclass
class JudgeEntity:
    """A prop, piece of wardrobe or place the shot should show: what the plan says of it, and its reference picture."""

    id: str
    kind: str  # "prop", "wardrobe" or "place"
    name: str
    description: str
    reference: Path | None = None


@dataclass
class JudgeRequest:
    """One take of one shot to judge: frames sampled from its clip (PNG files), its prompt, its characters and the
    entities on screen."""

    shot: int
    take: int
    prompt: str
    frames: list[Path]
    characters: list[JudgeCharacter] = field(default_factory=list)
    entities: list[JudgeEntity] = field(default_factory=list)


@dataclass
class CharacterVerdict:
    """One character (or entity) in a take: found or not, how alike it is to its reference (0–1), and its crops'
    embedding."""

    found: bool | None
    cross: float | None = None
    embedding: list[float] | None = None
    reason: str | None = None


@dataclass
class TakeVerdict:
    """A judge's answer for one take; scores are 0–1 (`alignment` is a vision-language judge's own 0–4)."""

    model: str
    prompt: float | None = None
    alignment: float | None = None
    characters: dict[str, CharacterVerdict] = field(default_factory=dict)
    # Each entity on screen, with the same measures as a character (found, cross, embedding).
    entities: dict[str, CharacterVerdict] = field(default_factory=dict)
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    notes: list[str] = field(default_factory=list)  # what the judge repaired, or could not read
    attempts: list[dict[str, Any]] = field(default_factory=list)  # retried requests, for the audit log


class JudgeBackend(Protocol):
    """Scores one take at a time (subclassed like VideoBackend: methods with a body are defaults)."""

    name: str
    model: str

    def capabilities(self) -> JudgeCapabilities: ...

    def fingerprint(self) -> dict[str, Any]:
        """Settings that change the scores (models, thresholds): part of each judgement's cache key."""
        ...

    def entity_fingerprint(self) -> dict[str, Any]:
        """Settings that change the entities' scores only: part of the cache key of a shot with entities on screen
        (a shot without any keeps the key it had)."""
        return {}

    def preflight(self) -> None:
        """Checks that cost nothing (key present, weights on disk), run before anything is spent."""
        return

    def load(self) -> None:
        """Loads the models ahead of the first take; nothing to load by default."""
        return

    def judge(self, request: JudgeRequest) -> TakeVerdict: ...

    def close(self) -> None:
        return
