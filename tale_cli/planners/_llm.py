"""What the LLM planners share: prompt, response schema, chunking of long stories, and the repair of answers.

A model's answer can follow the schema and still contradict itself: a shot names a character the list
lacks, the shot count is off by one, a duration the video model cannot render, a prompt over the
provider's limit. Every LLM planner hands its answers to `repair_answer`, which fixes all of that and
says what it changed in the plan's notes; the model is asked again only for an answer with no plan in it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tale_cli.config import Recipe
from tale_cli.errors import PlanError, describe_validation_error
from tale_cli.planners._speech import Said, fit_speech, split_sentences
from tale_cli.planners.entities import answer_entities, entity_id, shot_entities
from tale_cli.planners.offline import character_id
from tale_cli.story.pace import budget_words
from tale_cli.story.plan import (
    CAMERA_CHARS,
    DESCRIPTION_CHARS,
    ID_PATTERN,
    MAX_LINES,
    NAME_CHARS,
    NARRATION_CHARS,
    NARRATOR,
    NEGATIVE_PROMPT_CHARS,
    PROMPT_CHARS,
    STYLE_CHARS,
    Plan,
    slugify,
)
from tale_cli.story.reader import Story
from tale_cli.story.shape import film_aspect

log = logging.getLogger("tale")

# One turn of a conversation: ("user" | "assistant", text).
Message = tuple[str, str]
# Sends the system prompt, the conversation and the JSON schema; returns the model's raw text answer.
Ask = Callable[[str, list[Message], dict[str, Any]], str]

SYSTEM_PROMPT = """\
You turn a story into a shot list for a short film made by a text-to-video model.
Answer with JSON only, following the given schema exactly.

For every shot:
- "prompt": a visual, model-ready description of what the camera sees: setting, light, action,
  mood and style, in English, in the present tense, 40-90 words. No camera jargon the model cannot
  see, no dialogue, no names without their look: describe each character who appears with the
  SAME words every time (copy their description from the character list), so they look identical
  in every shot.
- "negative_prompt": what must not appear (e.g. blurry, text, watermark, extra limbs).
- "camera": one camera move (static, slow push in, pan left, tracking shot, ...).
- "characters": the ids of the characters visible in the shot, from the character list.
- "entities": the ids of the entities visible in the shot, from the entity list.
- "narration": one or two short sentences of narration or subtitle for the shot, in the story's language.
- "lines": the dialogue spoken in the shot, in order, each with the speaker's character id (or "narrator")
  and the words, in the story's language; [] when nobody speaks. Quoted speech in the story belongs here.
- Everything a shot says (narration and lines together) must be said within the shot at a natural pace:
  keep to the word budget given for its duration.
- "continuity": true when the shot directly continues the previous shot's scene and action.
- "duration_s": one of the allowed durations.

Characters: one entry per recurring person or creature, with a lowercase id (letters, digits,
dashes), the name as in the story, and a precise visual description (age, build, face, hair,
clothes, colours) that never changes.

Entities: one entry per named object, piece of clothing or place the story returns to (a lantern that
comes back, someone's red scarf, the harbour the story goes back to), with a lowercase id unlike any
character's, its kind ("prop", "wardrobe" or "place"), the name as in the story, and a precise visual
description (shape, material, colours; for a place, its layout and light) that never changes; [] when
nothing recurs. Describe an entity with the SAME words in every shot it is in.
"""


_TEXT_LIMITS = {"negative_prompt": NEGATIVE_PROMPT_CHARS, "camera": CAMERA_CHARS, "narration": NARRATION_CHARS}
# A shorter name or id is not looked for inside a longer reference (too easily found by chance).
_MIN_WORD_MATCH = 3


@dataclass(frozen=True)
class PlanSettings:
    """What a plan (or one part of it) must hold: its shot count, the durations and prompt length the video model takes."""

    shots: int
    seconds: float
    durations: tuple[float, ...]
    max_prompt_chars: int = PROMPT_CHARS

    @property
    def preferred(self) -> float:
        return _nearest(self.seconds, self.durations)


def plan_settings(recipe: Recipe, shots: int, seconds: float) -> PlanSettings:
    """The shot durations and prompt length the recipe's video backend renders; `seconds` alone when it takes any length."""
    from tale_cli.backends import video_backend

    backend = video_backend(recipe)
    try:
        capabilities = backend.capabilities()
    finally:
        backend.close()
    prompt_chars = min(PROMPT_CHARS, capabilities.max_prompt_chars or PROMPT_CHARS)
    durations = capabilities.durations
    if recipe.continuity == "references" and capabilities.reference_durations:
        durations = capabilities.reference_durations
    if durations:
        return PlanSettings(shots, seconds, tuple(sorted(durations)), prompt_chars)
    if not capabilities.supports_duration(seconds):
        raise PlanError(
            f"{seconds:g} s shots are not supported by the {recipe.video.backend} video backend",
            hint=f"use seconds between {capabilities.min_duration_s:g} and {capabilities.max_duration_s:g}",
        )
    return PlanSettings(shots, seconds, (seconds,), prompt_chars)


def response_schema(shots: int, durations: tuple[float, ...]) -> dict[str, Any]:
    """The JSON schema the model must answer in: exactly `shots` shots, durations within the allowed range.

    Only what every structured-output API accepts: no numeric enum (Gemini's is a list of strings).
    """

    def text(description: str) -> dict[str, Any]:
        return {"type": "string", "description": description}

    character = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name", "description"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN, "description": "lowercase id, e.g. 'mira'"},
            "name": text("the name as in the story"),
            "description": text("the character's fixed visual look"),
        },
    }
    line = {
        "type": "object",
        "additionalProperties": False,
        "required": ["speaker", "text"],
        "properties": {
            "speaker": text(f"the speaking character's id, or '{NARRATOR}'"),
            "text": text("the words spoken, in the story's language"),
        },
    }
    entity = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "kind", "name", "description"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN, "description": "lowercase id, e.g. 'brass-lantern'"},
            "kind": text("prop, wardrobe or place"),
            "name": text("the name as in the story"),
            "description": text("its fixed visual look"),
        },
    }
    shot = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "duration_s",
            "prompt",
            "negative_prompt",
            "camera",
            "characters",
            "entities",
            "narration",
            "lines",
            "continuity",
        ],
        "properties": {
            # Bounds, not an enum: the Gemini API's Schema.enum holds strings only. Off-list values are snapped after.
            "duration_s": {
                "type": "number",
                "minimum": min(durations),
                "maximum": max(durations),
                "description": "seconds, one of: " + ", ".join(f"{d:g}" for d in durations),
            },
            "prompt": text("visual, model-ready description of the shot"),
            "negative_prompt": text("what must not appear"),
            "camera": text("one camera move"),
            "characters": {"type": "array", "items": {"type": "string"}, "description": "ids of visible characters"},
            "entities": {"type": "array", "items": {"type": "string"}, "description": "ids of visible entities"},
            "narration": text("narration or subtitle in the story's language"),
            "lines": {"type": "array", "items": line, "description": "dialogue spoken in the shot, in order"},
            "continuity": {"type": "boolean", "description": "continues the previous shot directly"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["style", "characters", "entities", "shots"],
        "properties": {
            "style": text("one visual style for the whole film"),
            "characters": {"type": "array", "items": character},
            "entities": {"type": "array", "items": entity},
            "shots": {"type": "array", "items": shot, "minItems": shots, "maxItems": shots},
        },
    }


def chunk_story(story: Story, max_chars: int, shots: int) -> list[tuple[str, int]]:
    """Consecutive parts of the story (at paragraph breaks) of at most `max_chars`, with their share of shots."""
    paragraphs = story.paragraphs or [story.body]
    limit = max(max_chars, math.ceil(len(story.body) / shots))
    parts: list[str] = []
    current = ""
    for paragraph in paragraphs:
        while len(paragraph) > limit:
            cut = paragraph.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if current and len(current) + 2 + len(paragraph) > limit:
            parts.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        parts.append(current)
    while len(parts) > shots:
        shortest = min(range(len(parts) - 1), key=lambda i: len(parts[i]) + len(parts[i + 1]))
        parts[shortest : shortest + 2] = [parts[shortest] + "\n\n" + parts[shortest + 1]]
    total = sum(len(part) for part in parts)
    shares = [1] * len(parts)
    for _ in range(shots - len(parts)):
        best = max(range(len(parts)), key=lambda i: (len(parts[i]) / total - shares[i] / shots, -i))
        shares[best] += 1
    return list(zip(parts, shares, strict=True))


def _user_prompt(
    story: Story,
    part: str,
    settings: PlanSettings,
    index: int,
    count: int,
    known: list[dict[str, str]],
    things: list[dict[str, str]] | None = None,
) -> str:
    allowed = ", ".join(f"{d:g}" for d in settings.durations)
    lines = [
        f"Story title: {story.title}",
        f"Story language: {story.language}",
    ]
    if story.meta.style:
        lines.append(f"Visual style (use it): {story.meta.style}")
    if count > 1:
        lines.append(f"This is part {index} of {count} of the story; plan only this part.")
    if known:
        lines.append(
            "Characters already defined; reuse their ids and descriptions exactly, add new ones only if needed:"
        )
        lines.extend(f"- {c['id']}: {c['name']}: {c['description']}" for c in known)
    if story.meta.characters:
        lines.append("Characters the author described (keep these descriptions):")
        lines.extend(f"- {c.name}: {c.description}" for c in story.meta.characters)
    if things:
        lines.append(
            "Entities already defined (the author's, earlier parts'); reuse their ids and descriptions exactly:"
        )
        lines.extend(f"- {e['id']} ({e['kind']}): {e['name']}: {e['description']}" for e in things)
    lines += [
        f"Plan exactly {settings.shots} shots. Allowed shot durations in seconds: {allowed}; "
        f"prefer {settings.preferred:g} s unless a beat clearly needs another length.",
        f"Keep each shot's prompt under {settings.max_prompt_chars} characters.",
        "Word budget per shot (narration and lines together, at a natural pace): "
        + "; ".join(_budget(d) for d in settings.durations)
        + ".",
        "",
        "Story:",
        part,
    ]
    return "\n".join(lines)


def _budget(duration_s: float) -> str:
    words, syllables = budget_words(duration_s)
    return f"{duration_s:g} s: at most {words} words ({syllables} syllables in Korean, Japanese or Chinese)"


def _nearest(seconds: float, durations: tuple[float, ...]) -> float:
    return min(durations, key=lambda d: (abs(d - seconds), -d))


def extract_json(text: str) -> Any:
    """The first JSON object in a model's answer, tolerating code fences and chatter around it."""
    cleaned = re.sub(r"```(?:json)?", "", text)
    start = cleaned.find("{")
    if start < 0:
        raise PlanError("the answer contains no JSON object")
    try:
        value, _end = json.JSONDecoder().raw_decode(cleaned[start:])
    except json.JSONDecodeError as error:
        raise PlanError(
            f"the answer is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    return value


def parse_answer(text: str) -> dict[str, Any]:
    """An answer that holds a plan: a JSON object with at least one shot. Anything less is worth asking again."""
    data = extract_json(text)
    if not isinstance(data, dict) or not isinstance(data.get("shots"), list):
        raise PlanError("the answer must be a JSON object with a 'shots' list")
    if not any(isinstance(shot, dict) for shot in data["shots"]):
        raise PlanError("the answer has no shots")
    return data


# ---------------------------------------------------------------- repair


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def trim_text(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: whole sentences while they fit, else cut at a word."""
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in split_sentences(text):
        joined = f"{kept} {sentence}" if kept else sentence
        if len(joined) > limit:
            break
        kept = joined
    if kept:
        return kept
    cut = text.rfind(" ", 0, limit + 1)
    return text[: cut if cut > limit // 2 else limit].rstrip()


def _short(text: str) -> str:
    """A name as quoted in a note."""
    return text if len(text) <= 40 else text[:39] + "…"


@dataclass
class _Cast:
    """The characters a shot may name, each findable by id or name whatever the case or spelling of spaces."""

    characters: dict[str, dict[str, str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def add(self, raw_id: str, name: str, description: str) -> str:
        """The id of the character known by `raw_id` or `name`, added under an id the plan accepts if new."""
        known = self.exact(raw_id) or self.exact(name)
        if known is not None:
            return known
        wanted = raw_id if re.fullmatch(ID_PATTERN, raw_id) and raw_id not in self.used else ""
        if wanted:
            self.used.add(wanted)
        ident = wanted or character_id(raw_id or name, self.used, len(self.characters) + 1)
        self.characters[ident] = {"id": ident, "name": trim_text(name or ident, NAME_CHARS), "description": description}
        for key in (raw_id, ident, name):
            for form in (key.casefold(), slugify(key, fallback="")):
                if form:
                    self.keys.setdefault(form, ident)
        return ident

    def exact(self, reference: str) -> str | None:
        for form in (reference.casefold(), slugify(reference, fallback="")):
            if form and form in self.keys:
                return self.keys[form]
        return None

    def find(self, reference: str) -> str | None:
        """The id a shot's reference means: an exact id or name, else the one character whose id or name
        appears word for word in it ("Pip the cat" is pip)."""
        found = self.exact(reference)
        if found is not None:
            return found
        words = slugify(reference, fallback="").split("-")
        hits = set()
        for key, ident in self.keys.items():
            parts = slugify(key, fallback="").split("-")
            if len("".join(parts)) >= _MIN_WORD_MATCH and any(
                words[i : i + len(parts)] == parts for i in range(len(words) - len(parts) + 1)
            ):
                hits.add(ident)
        return hits.pop() if len(hits) == 1 else None


@dataclass
class Repaired:
    """One answer made consistent: its characters and shots, and what was changed to get there."""

    characters: list[dict[str, str]]
    shots: list[dict[str, Any]]
    style: str
    notes: list[str]
    entities: list[dict[str, str]] = field(default_factory=list)


def _shot_fields(raw: dict[str, Any]) -> dict[str, Any]:
    characters = raw.get("characters")
    entities = raw.get("entities")
    duration = raw.get("duration_s")
    if isinstance(duration, str):
        try:
            duration = float(duration.strip().removesuffix("s"))
        except ValueError:
            duration = None
    return {
        "duration_s": duration,
        "prompt": _text(raw.get("prompt")),
        "negative_prompt": _text(raw.get("negative_prompt")),
        "camera": _text(raw.get("camera")),
        "characters": [_text(c) for c in characters if _text(c)] if isinstance(characters, list) else [],
        "entities": [_text(e) for e in entities if _text(e)] if isinstance(entities, list) else [],
        "narration": _text(raw.get("narration")),
        "lines": _lines(raw.get("lines")),
        "continuity": raw.get("continuity") is True,
    }


def _lines(raw: Any) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        return []
    found = [(_text(line.get("speaker")), _text(line.get("text"))) for line in raw if isinstance(line, dict)]
    return [(speaker, text) for speaker, text in found if text][:MAX_LINES]


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    return {
        **first,
        "prompt": f"{first['prompt']} {second['prompt']}".strip(),
        "characters": list(dict.fromkeys([*first["characters"], *second["characters"]])),
        "entities": list(dict.fromkeys([*first["entities"], *second["entities"]])),
        "narration": f"{first['narration']} {second['narration']}".strip(),
        "lines": [*first["lines"], *second["lines"]][:MAX_LINES],
    }


def _split(shot: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    sentences = split_sentences(shot["narration"])
    half = (len(sentences) + 1) // 2
    return (
        {**shot, "narration": " ".join(sentences[:half])},
        {**shot, "narration": " ".join(sentences[half:]), "lines": [], "continuity": True},
    )


def _fit_count(shots: list[dict[str, Any]], wanted: int, notes: list[str]) -> list[dict[str, Any]]:
    """Exactly `wanted` shots: the lightest neighbours merged, or the fullest shots split in two."""
    given = len(shots)
    weight = [len(shot["narration"]) or len(shot["prompt"]) for shot in shots]
    while len(shots) > wanted:
        i = min(range(len(shots) - 1), key=lambda i: (weight[i] + weight[i + 1], i))
        shots[i : i + 2] = [_merge(shots[i], shots[i + 1])]
        weight[i : i + 2] = [weight[i] + weight[i + 1]]
    while len(shots) < wanted:
        i = max(range(len(shots)), key=lambda i: (weight[i], -i))
        shots[i : i + 1] = list(_split(shots[i]))
        weight[i : i + 1] = [weight[i] // 2, weight[i] - weight[i] // 2]
    if given != wanted:
        how = "merged neighbouring shots" if given > wanted else "split the fullest shots in two"
        notes.append(f"the planner gave {given} shots instead of {wanted}: {how}")
    return shots


def _snap(value: Any, settings: PlanSettings) -> float:
    """The allowed duration nearest to what the model said (the preferred one when it said nothing usable)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return settings.preferred
    return min(settings.durations, key=lambda d: (abs(d - value), abs(d - settings.preferred)))


def repair_answer(
    data: dict[str, Any],
    settings: PlanSettings,
    known: list[dict[str, str]],
    *,
    first_index: int = 1,
    things: list[dict[str, str]] | None = None,
) -> Repaired:
    """Make a parsed answer consistent with itself and with what the video model renders.

    `known` are the characters a shot may name besides the answer's own (earlier parts', the author's);
    the answer's own characters that match one of them are that one; `things`, the same for entities.
    `first_index` numbers the shots in the notes.
    """
    notes: list[str] = []
    cast = _Cast()
    for character in known:
        cast.add(character["id"], character["name"], character["description"])
    own: list[str] = []
    for raw in data.get("characters") or []:
        if not isinstance(raw, dict):
            continue
        name, raw_id = _text(raw.get("name")), _text(raw.get("id"))
        if name or raw_id:
            description = trim_text(_text(raw.get("description")), DESCRIPTION_CHARS)
            ident = cast.add(raw_id, name, description)
            own.extend([ident] if ident not in own else [])
    shots = [_shot_fields(raw) for raw in data["shots"] if isinstance(raw, dict)]
    shots = _fit_count(shots, settings.shots, notes)
    entities = answer_entities(data, things or [], {*cast.used, *cast.characters})
    listed = [*entities, *(e for e in things or [] if e not in entities)]
    for number, shot in enumerate(shots, start=first_index):
        shot["entities"] = shot_entities(shot["entities"], listed, number, notes)
        entities.extend(e for e in listed if e["id"] in shot["entities"] and e not in entities)
        present: list[str] = []
        for reference in shot["characters"]:
            found = cast.find(reference)
            if found is None:
                notes.append(f"shot {number}: dropped '{_short(reference)}', who is not among the characters")
            elif found not in present:
                present.append(found)
                own.extend([found] if found not in own else [])
        shot["characters"] = present
        said, duration = shot["duration_s"], _snap(shot["duration_s"], settings)
        if isinstance(said, (int, float)) and not isinstance(said, bool) and abs(duration - said) > 1e-6:
            notes.append(f"shot {number}: {said:g} s is not a length the video model renders; {duration:g} s instead")
        shot["duration_s"] = duration
        prompt = shot["prompt"] or shot["narration"] or str(data.get("style") or "") or "a scene of the story"
        shot["prompt"] = trim_text(prompt, settings.max_prompt_chars)
        if len(shot["prompt"]) < len(prompt):
            notes.append(f"shot {number}: prompt cut to {len(shot['prompt'])} characters at a sentence end")
        for key, limit in _TEXT_LIMITS.items():
            shot[key] = trim_text(shot[key], limit)
        shot["narration"], shot["lines"] = _speech(shot, number, cast, notes)
        shot["camera"] = shot["camera"] or "static"
    style = trim_text(_text(data.get("style")), STYLE_CHARS)
    return Repaired([cast.characters[ident] for ident in own], shots, style, notes, entities)


def _speech(shot: dict[str, Any], number: int, cast: _Cast, notes: list[str]) -> tuple[str, list[dict[str, str]]]:
    """The shot's narration and lines: each line's speaker one of the characters (else the narrator), and the
    words cut to what the shot says at a natural pace."""
    lines: list[tuple[str, str]] = []
    for speaker, text in shot["lines"]:
        found = NARRATOR if speaker.casefold() in ("", NARRATOR) else cast.find(speaker)
        if found is None:
            notes.append(f"shot {number}: a line of '{_short(speaker)}', who is not among the characters, is narrated")
        lines.append((found or NARRATOR, trim_text(text, NARRATION_CHARS)))
    written = Said.told(shot["narration"], lines)
    said = fit_speech(written, shot["duration_s"])
    if said != written:
        notes.append(
            f"shot {number}: its spoken words were cut to what {shot['duration_s']:g} s says at a natural pace"
        )
    narration, kept = said.as_told()
    return narration, [{"speaker": speaker, "text": text} for speaker, text in kept]


def assemble_plan(story: Story, recipe: Recipe, parts: list[Repaired], *, planner: str) -> Plan:
    """The plan from its repaired parts (with every entity the author declared); each note is also said once as a
    warning."""
    characters: dict[str, dict[str, Any]] = {}
    entities: dict[str, dict[str, Any]] = {e["id"]: dict(e) for e in author_entities(story)}
    shots: list[dict[str, Any]] = []
    notes: list[str] = []
    for part in parts:
        for character in part.characters:
            characters.setdefault(character["id"], dict(character))
        for entity in part.entities:
            entities.setdefault(entity["id"], dict(entity))
        shots.extend({**shot, "index": len(shots) + 1} for shot in part.shots)
        notes.extend(part.notes)
    for ident in [e for e in entities if e in characters]:  # a later part's character took an entity's id
        renamed = entity_id(f"{ident}-{entities[ident]['kind']}", {*characters, *entities}, len(entities))
        entities[renamed] = {**entities.pop(ident), "id": renamed}
        for shot in shots:
            shot["entities"] = [renamed if e == ident else e for e in shot["entities"]]
    pictures = {spec.name.casefold(): spec.image for spec in story.meta.entities if spec.image}
    for entity in entities.values():
        picture = pictures.get(str(entity.get("name", "")).casefold())
        if picture:
            entity["reference_image"] = picture
    images = {spec.name.casefold(): spec.image for spec in story.meta.characters if spec.image}
    for character in characters.values():
        image = images.get(str(character.get("name", "")).casefold())
        if image:
            character["reference_image"] = image
    data = {
        "title": story.title,
        "slug": slugify(story.title, fallback=slugify(story.path.stem)),
        "language": story.language,
        "style": story.meta.style or parts[0].style,
        "aspect": film_aspect(recipe),
        "width": recipe.width,
        "height": recipe.height,
        "fps": recipe.fps,
        "seed": story.meta.seed if story.meta.seed is not None else recipe.seed,
        "characters": list(characters.values()),
        "entities": list(entities.values()),
        "shots": shots,
        "notes": notes,
    }
    try:
        plan = Plan.model_validate(data)
    except ValidationError as error:
        raise PlanError(
            f"the {planner} planner's answer does not form a valid plan: {describe_validation_error(error)}",
            hint="run again, choose another planner model, or plan with --planner offline",
        ) from None
    for note in notes:
        log.warning("%s planner: %s", planner, note)
    return plan


def author_characters(story: Story) -> list[dict[str, str]]:
    """The characters of the story's front matter, under the ids the offline planner would give them."""
    used: set[str] = set()
    return [
        {"id": character_id(c.name, used, n), "name": c.name, "description": c.description}
        for n, c in enumerate(story.meta.characters, start=1)
    ]


def author_entities(story: Story) -> list[dict[str, str]]:
    """The entities of the story's front matter, under the ids the offline planner would give them."""
    used = {c["id"] for c in author_characters(story)}
    return [
        {"id": entity_id(e.name, used, n), "kind": e.entity_kind, "name": e.name, "description": e.description}
        for n, e in enumerate(story.meta.entities, start=1)
    ]


def plan_with(ask: Ask, story: Story, recipe: Recipe, *, shots: int, seconds: float, planner: str) -> Plan:
    """Plan a story part by part through `ask`; each answer is repaired, and asked for again only when it holds no plan."""
    settings = plan_settings(recipe, shots, seconds)
    chunks = chunk_story(story, recipe.planner.max_chunk_chars, shots)
    parts: list[Repaired] = []
    known: list[dict[str, str]] = []
    things = author_entities(story)
    for index, (part, share) in enumerate(chunks, start=1):
        part_settings = PlanSettings(share, seconds, settings.durations, settings.max_prompt_chars)
        schema = response_schema(share, settings.durations)
        asked = _user_prompt(story, part, part_settings, index, len(chunks), known, things)
        conversation: list[Message] = [("user", asked)]
        answer = _ask_for_plan(ask, conversation, schema, planner)
        first = 1 + sum(len(p.shots) for p in parts)
        repaired = repair_answer(
            answer, part_settings, [*known, *author_characters(story)], first_index=first, things=things
        )
        parts.append(repaired)
        known = [*known, *(c for c in repaired.characters if c["id"] not in {k["id"] for k in known})]
        things = [*things, *(e for e in repaired.entities if e["id"] not in {t["id"] for t in things})]
    return assemble_plan(story, recipe, parts, planner=planner)


def _ask_for_plan(ask: Ask, conversation: list[Message], schema: dict[str, Any], planner: str) -> dict[str, Any]:
    """One answer that holds a plan; a second chance, with the problem spelled out, only for one that does not."""
    problem = ""
    for attempt in range(2):
        text = ask(SYSTEM_PROMPT, conversation, schema)
        try:
            return parse_answer(text)
        except PlanError as error:
            problem = error.message
        if attempt == 0:
            conversation = [
                *conversation,
                ("assistant", text[:20_000]),
                ("user", f"That answer is invalid: {problem}. Answer again with the complete, corrected JSON only."),
            ]
    raise PlanError(
        f"the {planner} planner returned an invalid plan twice: {problem}",
        hint="run again, choose another planner model, or plan with --planner offline",
    )
