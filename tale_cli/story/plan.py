"""The plan: characters and shots with prompts and what each shot says in story order, validated and hand-editable
as plan.json."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tale_cli.errors import PlanError, describe_validation_error
from tale_cli.keys.seal import read_bytes

PLAN_SCHEMA_VERSION = 1
MAX_SHOTS = 64
MAX_SHOT_SECONDS = 60.0
MAX_PLAN_BYTES = 4_000_000
MAX_NOTES = 500
# Text limits of a plan's fields (a planner trims its model's answer to them).
NAME_CHARS = 80
DESCRIPTION_CHARS = 2000
PROMPT_CHARS = 4000
NEGATIVE_PROMPT_CHARS = 2000
CAMERA_CHARS = 200
NARRATION_CHARS = 2000
STYLE_CHARS = 1000
VOICE_CHARS = 200
MAX_LINES = 16
# Narration between a shot's lines, before the first and after the last.
MAX_SPEECH = 2 * MAX_LINES + 1
# Who says narration: the `who` of what no character says.
NARRATOR = "narrator"
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,47}$"
VoiceName = Annotated[str, Field(min_length=1, max_length=VOICE_CHARS)]
# A character's voice: one per voice backend, by the backend's name (`{"espeak": "en-us+f3", "openai": "coral"}`),
# or one name for whichever backend speaks (what plans before per-backend voices hold).
Voices = VoiceName | dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")], VoiceName]


def check_relative_path(value: str | None) -> str | None:
    """Refuse absolute paths and `..` so a plan can never point outside its run folder."""
    if value is None:
        return None
    if "\x00" in value or "\\" in value:
        raise ValueError("path must be a plain relative path")
    if "://" in value:
        raise ValueError("a URL: Tale reads pictures from files only (save it beside the story or plan)")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError("path must be relative to the run folder, without '..'")
    return value


def orientation(width: int, height: int) -> str:
    """'wide', 'tall' or 'square'; within 5% of square counts as square, so an even-rounded side never flips it."""
    lean = math.log(width / height)
    return "square" if abs(lean) < 0.05 else "wide" if lean > 0 else "tall"


class Character(BaseModel):
    """A recurring person or creature, described once so every shot shows the same look."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=NAME_CHARS)
    description: str = Field(default="", max_length=DESCRIPTION_CHARS)
    reference_image: str | None = None
    # The voice this character speaks with in each voice backend (`tale voices` lists them; a designed or cloned
    # voice is its provider's id): chosen once, when the story is planned, and kept for every film of the plan.
    voice: Voices | None = None

    @field_validator("reference_image")
    @classmethod
    def _reference_inside_run(cls, value: str | None) -> str | None:
        return check_relative_path(value)

    @field_validator("voice")
    @classmethod
    def _some_voice(cls, value: Voices | None) -> Voices | None:
        return value or None  # an empty mapping names no voice

    def voice_for(self, backend: str) -> str | None:
        """The voice this character speaks with in `backend`; None when the plan gives it none there."""
        if isinstance(self.voice, str):
            return self.voice
        return (self.voice or {}).get(backend)


# What else than a character a plan keeps looking the same from shot to shot: a named object, what someone wears,
# a place the story returns to.
EntityKind = Literal["prop", "wardrobe", "place"]
ENTITY_KINDS: tuple[EntityKind, ...] = ("prop", "wardrobe", "place")


class Entity(BaseModel):
    """A recurring thing that is not a character (a prop, a piece of wardrobe, a place), described once and drawn
    once so every shot it is on screen in shows the same one."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    kind: EntityKind
    name: str = Field(min_length=1, max_length=NAME_CHARS)
    description: str = Field(default="", max_length=DESCRIPTION_CHARS)
    # The user's own picture of it (relative to the run folder); without one, a reference is drawn from the description.
    reference_image: str | None = None

    @field_validator("reference_image")
    @classmethod
    def _reference_inside_run(cls, value: str | None) -> str | None:
        return check_relative_path(value)


class Line(BaseModel):
    """A line of dialogue: who says it (a character id, or "narrator") and the words."""

    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(pattern=ID_PATTERN)
    text: str = Field(min_length=1, max_length=NARRATION_CHARS)


class Speech(BaseModel):
    """One thing a shot says: narration (`who` is "narrator") or a character's line (`who` is its id)."""

    model_config = ConfigDict(extra="forbid")

    who: str = Field(pattern=ID_PATTERN)
    text: str = Field(min_length=1, max_length=NARRATION_CHARS)

    @property
    def narrated(self) -> bool:
        return self.who == NARRATOR


class _Written(BaseModel):
    """A shot's words as plans have long written them: its narration, then its lines."""

    model_config = ConfigDict(extra="forbid")

    narration: str = Field(default="", max_length=NARRATION_CHARS)
    lines: list[Line] = Field(default_factory=list, max_length=MAX_LINES)

    def speech(self) -> list[dict[str, str]]:
        said = [{"who": NARRATOR, "text": self.narration}] if self.narration.strip() else []
        return said + [{"who": line.speaker, "text": line.text} for line in self.lines]


class Shot(BaseModel):
    """One clip of the film."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1)
    duration_s: float = Field(gt=0, le=MAX_SHOT_SECONDS)
    prompt: str = Field(min_length=1, max_length=PROMPT_CHARS)
    negative_prompt: str = Field(default="", max_length=NEGATIVE_PROMPT_CHARS)
    camera: str = Field(default="static", max_length=CAMERA_CHARS)
    characters: list[str] = Field(default_factory=list)
    # The plan's entities on screen in this shot (ids from `Plan.entities`).
    entities: list[str] = Field(default_factory=list)
    # What the shot says, in the story's order. A plan may give it instead as `narration` and `lines` (the narration
    # said first), as plans always have; plan.json writes it that way wherever that says the same.
    speech: list[Speech] = Field(default_factory=list, max_length=MAX_SPEECH)
    continuity: bool = False
    seed: int | None = Field(default=None, ge=0, lt=2**32)

    @model_validator(mode="before")
    @classmethod
    def _speech_from_narration_and_lines(cls, data: Any) -> Any:
        if not isinstance(data, dict) or ("narration" not in data and "lines" not in data):
            return data
        data = dict(data)
        written = {key: data.pop(key) for key in ("narration", "lines") if key in data}
        try:
            said = _Written.model_validate(written).speech()
        except ValidationError as error:
            raise ValueError(describe_validation_error(error)) from None
        if said and data.get("speech"):
            raise ValueError(
                "give the shot's words either as `speech` (in the order they are said) or as `narration` and "
                "`lines`, not both"
            )
        if said:
            data["speech"] = said
        return data

    @model_validator(mode="after")
    def _few_enough_lines(self) -> Shot:
        if len(self.lines) > MAX_LINES:
            raise ValueError(f"a shot has at most {MAX_LINES} lines of dialogue (this one has {len(self.lines)})")
        return self

    @property
    def narration(self) -> str:
        """What the narrator says in the shot, its parts joined."""
        return " ".join(said.text for said in self.speech if said.narrated)

    @property
    def lines(self) -> list[Line]:
        """The characters' lines, in order."""
        return [Line(speaker=said.who, text=said.text) for said in self.speech if not said.narrated]

    def written(self) -> dict[str, Any] | None:
        """The speech as `narration` and `lines` when those say it in the same order (narration at most once,
        before every line), else None."""
        narrated = [position for position, said in enumerate(self.speech) if said.narrated]
        if narrated not in ([], [0]):
            return None
        written: dict[str, Any] = {"narration": self.speech[0].text if narrated else ""}
        if self.lines:
            written["lines"] = [line.model_dump() for line in self.lines]
        return written


class Plan(BaseModel):
    """A whole film: what `tale render plan.json` renders, exactly."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = PLAN_SCHEMA_VERSION
    title: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=r"^[\w][\w-]{0,79}$")
    language: str = Field(default="en", max_length=16)
    style: str = Field(default="", max_length=STYLE_CHARS)
    aspect: str = Field(default="16:9", pattern=r"^\d{1,2}:\d{1,2}$")
    width: int = Field(default=1280, ge=64, le=4096, multiple_of=2)
    height: int = Field(default=720, ge=64, le=4096, multiple_of=2)
    fps: int = Field(default=24, ge=1, le=60)
    seed: int = Field(default=0, ge=0, lt=2**32)
    characters: list[Character] = Field(default_factory=list)
    # Props, wardrobe and places that recur; plans written before entities have none.
    entities: list[Entity] = Field(default_factory=list)
    shots: list[Shot] = Field(min_length=1, max_length=MAX_SHOTS)
    # What the planner repaired in its model's answer (a dropped character name, a snapped duration…).
    notes: list[str] = Field(default_factory=list, max_length=MAX_NOTES)

    @field_validator("slug")
    @classmethod
    def _slug_is_a_folder_name(cls, value: str) -> str:
        if value.startswith(("-", ".")) or ".." in value:
            raise ValueError("slug must be a plain folder name")
        return value

    @model_validator(mode="after")
    def _shape_agrees(self) -> Plan:
        """An aspect that contradicts the frame (9:16 on 1280x720) is refused rather than rendered sideways."""
        across, down = (int(part) for part in self.aspect.split(":"))
        if not across or not down:
            raise ValueError(f"aspect {self.aspect} must be W:H with both sides above zero")
        if orientation(across, down) != orientation(self.width, self.height):
            raise ValueError(
                f"aspect {self.aspect} is {orientation(across, down)} but {self.width}x{self.height} is "
                f"{orientation(self.width, self.height)}: make aspect, width and height agree"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        ids = [c.id for c in self.characters]
        if len(set(ids)) != len(ids):
            raise ValueError("character ids must be unique")
        things = [e.id for e in self.entities]
        if len(set(things)) != len(things):
            raise ValueError("entity ids must be unique")
        shared = sorted(set(ids) & set(things))
        if shared:
            raise ValueError(f"'{shared[0]}' is both a character's and an entity's id: give them different ids")
        for position, shot in enumerate(self.shots, start=1):
            if shot.index != position:
                raise ValueError(
                    f"shot indices must run 1..{len(self.shots)} in order (shot {position} has index {shot.index})"
                )
            unknown = [c for c in shot.characters if c not in ids]
            if unknown:
                raise ValueError(f"shot {shot.index} names unknown character(s) {', '.join(unknown)}")
            unseen = [e for e in shot.entities if e not in things]
            if unseen:
                raise ValueError(
                    f"shot {shot.index} names unknown entit{'y' if len(unseen) == 1 else 'ies'} {', '.join(unseen)}"
                )
            if len(set(shot.entities)) != len(shot.entities):
                raise ValueError(f"shot {shot.index} lists an entity twice")
            strangers = [said.who for said in shot.speech if said.who not in (*ids, NARRATOR)]
            if strangers:
                raise ValueError(f"shot {shot.index} has a line by unknown speaker '{strangers[0]}'")
        return self

    @property
    def duration_s(self) -> float:
        return sum(shot.duration_s for shot in self.shots)

    def shot_seed(self, shot: Shot) -> int:
        return shot.seed if shot.seed is not None else (self.seed + shot.index * 1_000_003) % 2**32

    def character(self, character_id: str) -> Character:
        return next(c for c in self.characters if c.id == character_id)

    def entity(self, entity_id: str) -> Entity:
        return next(e for e in self.entities if e.id == entity_id)

    def subjects(self) -> list[Character | Entity]:
        """Everything a reference picture is kept for: the characters, then the entities."""
        return [*self.characters, *self.entities]

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        if not data["notes"]:
            del data["notes"]  # only a planner that repaired something writes notes
        # A shot's words are written as narration and lines wherever those say them in order, so such plans read
        # as before; lines and voices only where a plan has them.
        data["shots"] = [_written_shot(shot, said) for shot, said in zip(self.shots, data["shots"], strict=True)]
        for character in data["characters"]:
            if character["voice"] is None:
                del character["voice"]
        # A plan without entities reads (and hashes) as plans did before them.
        if not data["entities"]:
            del data["entities"]
            for shot in data["shots"]:
                if not shot["entities"]:
                    del shot["entities"]
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _written_shot(shot: Shot, data: dict[str, Any]) -> dict[str, Any]:
    written = shot.written()
    if written is None:
        return data
    ordered: dict[str, Any] = {}
    for key, value in data.items():
        if key == "speech":
            ordered.update(written)
        else:
            ordered[key] = value
    return ordered


def parse_plan(data: Any, *, source: str = "plan.json") -> Plan:
    try:
        return Plan.model_validate(data)
    except ValidationError as error:
        raise PlanError(
            f"{source} is not a valid plan: {describe_validation_error(error)}",
            hint="fix that field (see the README's plan format) and run again",
        ) from None


def load_plan(path: Path) -> Plan:
    """Read and validate a plan.json; every failure is a PlanError that names the field."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise PlanError(f"cannot read {path}: {error.strerror}") from None
    if size > MAX_PLAN_BYTES:
        raise PlanError(f"{path} is {size} bytes; a plan may be at most {MAX_PLAN_BYTES} bytes")
    try:
        data = json.loads(read_bytes(path).decode("utf-8"))  # a sealed run's plan opened in memory
    except UnicodeDecodeError:
        raise PlanError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise PlanError(f"{path} is not valid JSON: line {error.lineno} column {error.colno}: {error.msg}") from None
    return parse_plan(data, source=str(path))


def slugify(text: str, *, fallback: str = "story") -> str:
    """A safe folder name: letters (any script), digits and dashes, never '.', '..' or a leading dash."""
    slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).replace("_", "-")
    slug = re.sub(r"-{2,}", "-", slug).strip("-")[:60].strip("-")
    return slug or fallback
