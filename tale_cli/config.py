"""Recipes (how to render) and defaults, validated with pydantic; unknown keys name their file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, Strict, ValidationError, model_validator

from tale_cli.errors import RecipeError, describe_validation_error, did_you_mean
from tale_cli.literals import Aspect, Resolution, Tier

PACKAGE_DIR = Path(__file__).resolve().parent

# Numbers as TOML writes them: `shots = true` or `fps = "24"` is an error naming the key, not one shot or 24 fps.
Count = Annotated[int, Strict()]
Number = Annotated[float, Strict()]  # an integer is a number too: `seconds = 8`


def data_dir(name: str) -> Path:
    """`recipes/` or `configs/`: beside the package in a checkout, inside it in a wheel."""
    for candidate in (PACKAGE_DIR.parent / name, PACKAGE_DIR / "_data" / name):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent / name


class PlannerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "offline"
    model: str = ""
    base_url: str | None = None
    temperature: Number = Field(default=0.4, ge=0, le=2)
    max_chunk_chars: Count = Field(default=12_000, ge=500)
    max_tokens: Count = Field(default=4096, ge=1, le=32_768)


class ImageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "preview"
    model: str = ""
    size: str = "1024x1024"
    quality: str = "medium"
    steps: Count | None = Field(default=None, ge=1, le=200)
    guidance: Number | None = Field(default=None, ge=0, le=50)


class LoraConfig(BaseModel):
    """One `[[video.lora]]`: a LoRA fused into the denoiser before the first step (a hub repo's file, or a file)."""

    model_config = ConfigDict(extra="forbid")

    repo: str | None = None
    file: str | None = None
    # The file inside `repo` (only that file is pulled); with `file`, the path itself.
    weight_name: str | None = None
    scale: Number = Field(default=1.0, ge=-4, le=4)
    # Wan 2.2 A14B has two experts: the high-noise one (`transformer`) and the low-noise one (`transformer_2`).
    expert: Literal["high-noise", "low-noise"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> LoraConfig:
        if (self.repo is None) == (self.file is None):
            raise ValueError("a [[video.lora]] needs exactly one of `repo` (with `weight_name`) or `file`")
        if self.repo is not None and not self.weight_name:
            raise ValueError(f"[[video.lora]] repo '{self.repo}' needs `weight_name`: the one file to load from it")
        return self

    @property
    def source(self) -> str:
        return f"{self.repo}/{self.weight_name}" if self.repo else str(self.file)


class VideoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "preview"
    model: str = ""
    steps: Count | None = Field(default=None, ge=1, le=200)
    guidance: Number | None = Field(default=None, ge=0, le=50)
    resolution: str | None = None
    audio: bool = False
    jobs: Count | None = Field(default=None, ge=1, le=64)
    poll_interval_s: Number = Field(default=10.0, gt=0)
    poll_timeout_s: Number = Field(default=900.0, gt=0)
    retries: Count = Field(default=5, ge=0, le=20)
    memory: Literal["auto", "speed", "low-vram"] = "auto"
    cache: Literal["none", "first-block", "pab", "faster-cache", "magcache", "taylorseer"] = "none"
    # Weight-only quantisation of the denoiser (and the text encoder where it helps); auto memory may pick it.
    quantize: Literal["none", "int8", "fp8"] | None = None
    lora: list[LoraConfig] = Field(default_factory=list)
    compile: bool = False
    attention: str | None = None
    devices: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class VoiceConfig(BaseModel):
    """[voice]: who speaks the narration and dialogue; backend "none" makes a film without a voice track."""

    model_config = ConfigDict(extra="forbid")

    backend: str = "none"
    model: str = ""
    # The narrator's voice ("" for the backend's voice for the plan's language); a character's own voice wins.
    voice: str = ""
    # A style line for backends that take one (OpenAI's `instructions`, Gemini's spoken direction).
    instructions: str = Field(default="", max_length=1000)
    speed: Number = Field(default=1.0, ge=0.5, le=2.0)
    # Who speaks the characters' lines: the voice backend over the picture ("overlay"), or the video model inside
    # its clips, lips moving ("clip"; for models whose clips carry sound).
    dialogue: Literal["overlay", "clip"] = "overlay"

    @property
    def enabled(self) -> bool:
        return self.backend != "none"


class MusicConfig(BaseModel):
    """[music]: the bed under the film ("none", an audio file, or a music backend such as "lyria" that composes a
    score for the film), ducked under the voice."""

    model_config = ConfigDict(extra="forbid")

    source: str = "none"
    # For a music backend: its model ("" for its default) and what to compose ("" for a prompt from the plan).
    model: str = ""
    prompt: str = Field(default="", max_length=2000)
    # Where the bed sits under the voice before ducking, in LU below the film's loudness target.
    level_lu: Number = Field(default=-14.0, ge=-40, le=0)

    @property
    def enabled(self) -> bool:
        return self.source != "none"

    @property
    def backend(self) -> str:
        """The source as a backend name (the registry says whether it is one, or a file)."""
        return self.source


class JudgeConfig(BaseModel):
    """[judge]: who scores each take ("none": only the checks that need no model) and the bar below which a render
    retakes a shot with new seeds, up to `max_retakes` times, keeping every take and the best one current."""

    model_config = ConfigDict(extra="forbid")

    backend: str = "none"
    # The vision-language model of a cloud judge ("" for its default).
    model: str = ""
    # The local judge's open-vocabulary detector and image-text embedder: hub ids or folders ("" for the defaults).
    detector: str = ""
    embedder: str = ""
    # A detection this sure (0–1) counts as the character being in the frame.
    detect_threshold: Number = Field(default=0.1, ge=0, le=1)
    # Frames looked at per shot by the models (the no-model checks read every frame).
    frames: Count = Field(default=4, ge=1, le=16)
    retake_below: Number = Field(default=0.0, ge=0, le=1)
    max_retakes: Count = Field(default=0, ge=0, le=10)

    @property
    def enabled(self) -> bool:
        return self.backend != "none"

    @property
    def retakes(self) -> bool:
        return self.retake_below > 0 and self.max_retakes > 0


class Recipe(BaseModel):
    """One way to render: a backend and model per role, output format, limits."""

    model_config = ConfigDict(extra="forbid")
    # The TOML file it was read from, when it is not one of Tale's own recipes: the run records it, so that a later
    # retake or replace finds the recipe by itself.
    _file: Path | None = PrivateAttr(default=None)
    # Which of the recipe's tiers this is: "final", or "draft" (its [draft] merged over it, see draft_recipe).
    _tier: Tier = PrivateAttr(default="final")

    name: str = "custom"
    description: str = ""
    private: bool = False
    # The run folder's story, plan, logs and subtitles sealed at rest with age (tale_cli.keys.seal), as --seal does.
    seal: bool = False
    # Its media (clips, pictures, voice, music, the film) sealed as well, as --seal-media does; implies `seal`.
    seal_media: bool = False
    audit_prompts: bool = False
    width: Count = Field(default=1280, ge=64, le=4096, multiple_of=2)
    height: Count = Field(default=720, ge=64, le=4096, multiple_of=2)
    # The film's shape when the story and the command line do not choose one: an aspect turns width x height
    # (a vertical film from 1280x720 is 720x1280), a resolution sets the short side (1080p: 1920x1080, 1080x1920).
    aspect: Aspect | None = None
    resolution: Resolution | None = None
    fps: Count = Field(default=24, ge=1, le=60)
    shots: Count = Field(default=8, ge=1, le=64)
    seconds: Number = Field(default=8.0, gt=0, le=60)
    seed: Count = Field(default=0, ge=0, lt=2**32)
    continuity: Literal["references", "first-frame", "chain"] = "references"
    budget_usd: Number | None = Field(default=None, ge=0)
    # The price book every estimate, guard, backend and ledger of a run uses (--prices overrides it;
    # unset: TALE_PRICES, else the newest book in configs/pricing/).
    prices: str | None = None
    fallback: str | None = None
    # The many-step recipe a few-step one speeds up (`tale bench` reports the speed-up over it).
    base: str | None = None
    # The film's integrated loudness (EBU R128) when it has a voice or music: -14 LUFS, what online video platforms play at.
    loudness_lufs: Number = Field(default=-14.0, ge=-31, le=-9)
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    music: MusicConfig = Field(default_factory=MusicConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    # [draft]: the cheaper settings `tale render --draft` renders with, merged over these (see draft_recipe);
    # `tale finalize` renders the chosen drafts again with the settings above.
    draft: dict[str, Any] | None = None


# What a [draft] may set. The draft and the final film share the plan (its shape, shots and seeds), the references,
# the sound and the price book, so that the draft film shows the final one's every shot, word and note in place.
DRAFT_SETTINGS = ("description", "continuity", "budget_usd", "fallback", "video", "judge")


def draft_recipe(recipe: Recipe, *, source: str | None = None) -> Recipe:
    """The recipe's draft tier: its [draft] merged over it. A top-level setting is replaced; a section ([draft.video],
    [draft.judge]) is merged key by key over the recipe's, a table or list inside it (options, lora) replaced whole,
    and a section naming another backend starts from that backend's defaults instead (models and options are a
    backend's own). `source` names the recipe in errors (its file, when loading it)."""
    where = source or f"recipe '{recipe.name}'"
    if recipe.draft is None:
        raise RecipeError(
            f"{where} has no [draft] section, so it has no draft tier",
            hint='add one with the cheaper settings, e.g. [draft.video] backend = "preview" (the offline animatic)',
        )
    for key in recipe.draft:
        if key not in DRAFT_SETTINGS:
            raise RecipeError(
                f"{where}: [draft] cannot set '{key}': the draft shares the final film's plan, references and sound",
                hint="a [draft] may set: " + ", ".join(DRAFT_SETTINGS),
            )
    data = recipe.model_dump()
    for key, value in recipe.draft.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            own = data[key]
            data[key] = {**(own if value.get("backend", own.get("backend")) == own.get("backend") else {}), **value}
        else:
            data[key] = value
    data["draft"] = None
    draft: Recipe = _validate(Recipe, data, Path(f"{where} [draft]"))
    draft._file, draft._tier = recipe._file, "draft"
    return draft


def recipe_tier(recipe: Recipe) -> Tier:
    """The tier a recipe renders at: "draft" for draft_recipe's, else "final"."""
    return recipe._tier


def tier_recipe(recipe: Recipe, tier: Tier | None) -> Recipe:
    """The recipe at `tier` (None: final): itself, or its draft (a RecipeError when it has no [draft])."""
    if (tier or "final") == recipe._tier:
        return recipe
    if recipe._tier == "draft":
        raise RecipeError(f"recipe '{recipe.name}' is its draft tier here; its final tier is the recipe itself")
    return draft_recipe(recipe)


def _revalidated(recipe: Recipe, data: dict[str, Any]) -> Recipe:
    """`data` (the recipe changed by command-line flags) validated again, still read from its file and at its tier."""
    changed: Recipe = _validate(Recipe, data, Path(f"{recipe.name} (with command-line overrides)"))
    changed._file, changed._tier = recipe._file, recipe._tier
    return changed


class Defaults(BaseModel):
    """configs/defaults.toml: the lowest level of settings precedence."""

    model_config = ConfigDict(extra="forbid")

    recipe: str = "preview"
    out_dir: str = "out"
    x264_preset: str = "veryfast"
    x264_crf: Count = Field(default=20, ge=0, le=51)
    audio_bitrate: str = "128k"


def with_video_overrides(
    recipe: Recipe,
    *,
    model: str | None = None,
    steps: int | None = None,
    memory: str | None = None,
    devices: str | None = None,
    quantize: str | None = None,
) -> Recipe:
    """The recipe with CLI flags for one run folded into [video] (flag > recipe), and into [draft.video] too: a flag
    holds at whichever tier renders; validated again."""
    changes = {key: value for key, value in (("model", model), ("steps", steps), ("memory", memory),
                                             ("devices", devices), ("quantize", quantize)) if value is not None}  # fmt: skip
    if not changes:
        return recipe
    data = recipe.model_dump()
    data["video"].update(changes)
    if data["draft"] is not None and isinstance(data["draft"].get("video"), dict):
        data["draft"]["video"] = {**data["draft"]["video"], **changes}
    return _revalidated(recipe, data)


def with_sound_overrides(
    recipe: Recipe, *, voice: str | None = None, no_voice: bool = False, music: str | None = None
) -> Recipe:
    """The recipe with --voice BACKEND[:VOICE], --no-voice and --music SOURCE for one run (flag > recipe)."""
    from tale_cli.errors import InputError

    if voice is not None and no_voice:
        raise InputError("--voice and --no-voice contradict each other", hint="give one of them")
    data = recipe.model_dump()
    if no_voice:
        data["voice"]["backend"] = "none"
    elif voice is not None:
        backend, _, name = voice.partition(":")
        if not backend.strip():
            raise InputError(
                f"--voice {voice!r} names no backend", hint="use BACKEND or BACKEND:VOICE, e.g. espeak:en-us"
            )
        if backend != recipe.voice.backend or name:
            data["voice"]["voice"] = name
        if backend != recipe.voice.backend:
            data["voice"]["model"] = ""  # the recipe's model is its own backend's: the new one speaks its default
        data["voice"]["backend"] = backend
    if music is not None:
        data["music"]["source"] = music
    if data["voice"] == recipe.voice.model_dump() and data["music"] == recipe.music.model_dump():
        return recipe
    return _revalidated(recipe, data)


def read_toml(path: Path, *, error: type[RecipeError] = RecipeError) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise error(f"file not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{path} is a directory, not a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path} is not valid TOML: {exc}") from None


def _validate(model: type[BaseModel], data: dict[str, Any], path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        if first.get("type") == "extra_forbidden":
            key = ".".join(str(part) for part in first.get("loc", ()))
            raise RecipeError(
                f"{path}: unknown key '{key}'", hint="see `tale recipes show preview` for the valid keys"
            ) from None
        raise RecipeError(f"{path}: {describe_validation_error(error)}") from None


def recipes_dir() -> Path:
    return data_dir("recipes")


def recipe_names() -> list[str]:
    return sorted(path.stem for path in recipes_dir().glob("*.toml"))


def recipe_path(name_or_file: str) -> Path:
    """A recipe by name (recipes/NAME.toml) or by file path."""
    candidate = Path(name_or_file)
    if candidate.suffix == ".toml" or os.sep in name_or_file or "/" in name_or_file:
        if not candidate.is_file():
            raise RecipeError(f"recipe file not found: {name_or_file}")
        return candidate
    path = recipes_dir() / f"{name_or_file}.toml"
    if not path.is_file():
        raise RecipeError(
            f"unknown recipe '{name_or_file}'{did_you_mean(name_or_file, recipe_names())}",
            hint="valid names are: " + ", ".join(recipe_names()),
        )
    return path


def load_recipe(name_or_file: str) -> Recipe:
    path = recipe_path(name_or_file)
    data = read_toml(path)
    data.setdefault("name", path.stem)
    recipe: Recipe = _validate(Recipe, data, path)
    if path.resolve().parent != recipes_dir().resolve():
        recipe._file = path.resolve()
    if recipe.draft is not None:
        draft_recipe(recipe, source=str(path))  # its [draft] checked now, not when a draft is first rendered
    return recipe


def recipe_file(recipe: Recipe) -> Path | None:
    """The recipe's own TOML file, when it was read from one outside Tale's recipes."""
    return recipe._file


def load_defaults() -> Defaults:
    path = data_dir("configs") / "defaults.toml"
    data = read_toml(path) if path.is_file() else {}
    defaults: Defaults = _validate(Defaults, data, path)
    return defaults


def resolve(flag: Any, env_name: str, default: Any) -> tuple[Any, str]:
    """CLI flag > TALE_* environment > configs default; returns the value and where it came from."""
    if flag is not None:
        return flag, "flag"
    env_value = os.environ.get(env_name)
    if env_value:
        return env_value, f"env {env_name}"
    return default, "configs/defaults.toml"
