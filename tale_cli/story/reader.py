"""Read a story: Markdown with optional YAML front matter, checked before anything is made from it."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tale_cli.config import Count, Number, Recipe
from tale_cli.errors import InputError, describe_validation_error
from tale_cli.literals import Aspect, Resolution
from tale_cli.story.entities import entity_kind
from tale_cli.story.plan import ENTITY_KINDS, EntityKind, Voices, check_relative_path, load_plan
from tale_cli.story.shape import Shape, plan_shape, story_shape
from tale_cli.story.text import strip_controls

log = logging.getLogger("tale")

MAX_STORY_BYTES = 1_000_000
# No video backend renders a shot shorter than this; a story asking for less is the story's mistake.
MIN_SHOT_SECONDS = 0.5


class CharacterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=2000)
    image: str | None = None
    # The character's voice, kept in its plan: one name for any voice backend, or a name per backend.
    voice: Voices | None = None

    @field_validator("image")
    @classmethod
    def _image_is_relative(cls, value: str | None) -> str | None:
        return check_relative_path(value)


class EntitySpec(BaseModel):
    """A prop, piece of wardrobe or place the author declares; its kind, when not given, is the one its name suggests."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    kind: EntityKind | None = None
    description: str = Field(default="", max_length=2000)
    image: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> Any:
        if value is None:
            return None
        kind = str(value).strip().casefold()
        if kind not in ENTITY_KINDS:
            raise ValueError(f"kind '{value}' is not one of {', '.join(ENTITY_KINDS)}")
        return kind

    @field_validator("image")
    @classmethod
    def _image_is_relative(cls, value: str | None) -> str | None:
        return check_relative_path(value)

    @property
    def entity_kind(self) -> EntityKind:
        return self.kind or entity_kind(self.name)


class FrontMatter(BaseModel):
    """The keys a story's front matter may set; anything else is an error that names the key."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=16)
    style: str | None = Field(default=None, max_length=1000)
    aspect: Aspect | None = None
    resolution: Resolution | None = None
    shots: Count | None = Field(default=None, ge=1, le=64)
    seconds: Number | None = Field(default=None, ge=MIN_SHOT_SECONDS, le=60, alias="seconds_per_shot")
    seed: Count | None = Field(default=None, ge=0, lt=2**32)
    characters: list[CharacterSpec] = Field(default_factory=list)
    # Props, wardrobe and places the film keeps looking the same (a planner proposes its own without them).
    entities: list[EntitySpec] = Field(default_factory=list)

    @field_validator("entities", mode="before")
    @classmethod
    def _entities_from_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [
                {"name": str(name), **(desc if isinstance(desc, dict) else {"description": str(desc or "")})}
                for name, desc in value.items()
            ]
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("characters", mode="before")
    @classmethod
    def _characters_from_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"name": str(name), "description": str(desc or "")} for name, desc in value.items()]
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value


@dataclass
class Story:
    """A story as read from disk: front matter, title, language and the prose body."""

    path: Path
    meta: FrontMatter
    title: str
    language: str
    body: str
    sha256: str
    paragraphs: list[str] = field(default_factory=list)
    # Control characters taken out of the text and its front matter's values (escape sequences and the like).
    controls_removed: int = 0


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def detect_language(text: str) -> str:
    letters = max(1, sum(ch.isalpha() for ch in text))
    if len(_HANGUL.findall(text)) / letters > 0.2:
        return "ko"
    if len(_KANA.findall(text)) / letters > 0.2:
        return "ja"
    if len(_HAN.findall(text)) / letters > 0.2:
        return "zh"
    return "en"


def _strip_markdown(line: str) -> str:
    line = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", line)
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+", "", line)
    line = re.sub(r"^\s{0,3}>\s?", "", line)
    line = re.sub(r"(\*\*|__|\*|_|`)(.+?)\1", r"\2", line)
    return line.strip()


def read_story_text(path: Path) -> str:
    """The story file's text, refusing what is not a readable, sane-sized UTF-8 text file."""
    if not path.exists():
        raise InputError(f"story file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a story file", hint="pass a Markdown file such as story.md")
    try:
        size = path.stat().st_size
        if size > MAX_STORY_BYTES:
            raise InputError(f"{path} is {size:,} bytes; a story may be at most {MAX_STORY_BYTES:,} bytes")
        with path.open("rb") as handle:
            raw = handle.read(MAX_STORY_BYTES + 1)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_STORY_BYTES:
        raise InputError(f"{path} is larger than {MAX_STORY_BYTES:,} bytes")
    if b"\x00" in raw:
        raise InputError(f"{path} is a binary file, not a story", hint="a story is Markdown or plain UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path} is not UTF-8 text (bad byte at offset {error.start})", hint="save the story as UTF-8"
        ) from None


def _strip_values(value: Any) -> tuple[Any, int]:
    """Front matter with control characters taken out of every string in it (YAML's escapes, `"\\e[2J"` or
    `"\\x1b"`, make them from plain text), and how many were."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, list):
        items = [_strip_values(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if isinstance(value, dict):
        pairs = [(_strip_values(key), _strip_values(item)) for key, item in value.items()]
        return {key: item for (key, _), (item, _) in pairs}, sum(a + b for (_, a), (_, b) in pairs)
    return value, 0


def parse_story(text: str, path: Path) -> Story:
    """The story in `text`, without the control characters it had (Story.controls_removed counts them)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    text, removed = strip_controls(text)
    meta_data: Any = {}
    match = _FRONT_MATTER.match(text)
    if match:
        import yaml

        try:
            meta_data = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 2})" if mark is not None else ""
            raise InputError(f"{path}: front matter is not valid YAML{where}") from None
        if not isinstance(meta_data, dict):
            raise InputError(f"{path}: front matter must be a mapping of keys to values")
        meta_data, escaped = _strip_values(meta_data)
        removed += escaped
        text = text[match.end() :]
    try:
        meta = FrontMatter.model_validate(meta_data)
    except ValidationError as error:
        raise InputError(f"{path}: front matter: {describe_validation_error(error)}") from None

    title = meta.title
    paragraphs: list[str] = []
    current: list[str] = []
    for raw_line in text.splitlines():
        heading = re.match(r"^\s{0,3}#{1,6}\s+(.*)$", raw_line)
        if heading:
            if title is None and raw_line.lstrip().startswith("# "):
                title = _strip_markdown(heading.group(1))
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        line = _strip_markdown(raw_line)
        if not line or re.fullmatch(r"[-*_=]{3,}", line):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(line)
    if current:
        paragraphs.append(" ".join(current))
    body = "\n\n".join(paragraphs)
    if not body.strip():
        raise InputError(f"{path} has no story text", hint="write at least one sentence below the front matter")
    # A title is one line, whatever line breaks its front matter spelled.
    title = " ".join((title or path.stem.replace("-", " ").replace("_", " ")).split()) or "Untitled"
    return Story(
        path=path,
        meta=meta,
        title=title[:200],
        language=meta.language or detect_language(body),
        body=body,
        sha256=digest,
        paragraphs=paragraphs,
        controls_removed=removed,
    )


def read_story(path: Path, *, warn: bool = True) -> Story:
    """The story in `path`; with `warn`, one warning says how many control characters were taken out of it
    (a command reads its story more than once: the read it plans from is the one that warns)."""
    story = parse_story(read_story_text(path), path)
    if warn and story.controls_removed:
        count = story.controls_removed
        log.warning(
            "%s: %d control character%s removed (terminal escape sequences and the like)",
            path,
            count,
            "" if count == 1 else "s",
        )
    return story


def source_shape(source: Path, recipe: Recipe, *, aspect: str | None = None, resolution: str | None = None) -> Shape:
    """The shape of the film a story or plan.json makes with this recipe and these flags."""
    if source.is_dir():
        raise InputError(f"{source} is a directory, not a story or plan file", hint="pass story.md or plan.json")
    if source.suffix.lower() == ".json":
        return plan_shape(load_plan(source), aspect=aspect, resolution=resolution)
    meta = read_story(source, warn=False).meta
    return story_shape(
        recipe, story_aspect=meta.aspect, story_resolution=meta.resolution, aspect=aspect, resolution=resolution
    )
