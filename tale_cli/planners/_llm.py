"""What the LLM planners share: prompt, response schema, chunking of long stories, validation, one repair round."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tale_cli.config import Recipe
from tale_cli.errors import PlanError
from tale_cli.plan import ID_PATTERN, Plan, describe_validation_error, slugify
from tale_cli.story import Story

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
- "narration": one or two short sentences of narration or subtitle for the shot, in the story's language.
- "continuity": true when the shot directly continues the previous shot's scene and action.
- "duration_s": one of the allowed durations.

Characters: one entry per recurring person or creature, with a lowercase id (letters, digits,
dashes), the name as in the story, and a precise visual description (age, build, face, hair,
clothes, colours) that never changes.
"""


@dataclass(frozen=True)
class PlanSettings:
    shots: int
    seconds: float
    durations: tuple[float, ...]


def allowed_durations(recipe: Recipe, seconds: float) -> tuple[float, ...]:
    """The shot durations the recipe's video backend renders; `seconds` alone when it takes any length."""
    from tale_cli.backends import video_backend

    backend = video_backend(recipe)
    try:
        capabilities = backend.capabilities()
    finally:
        backend.close()
    durations = capabilities.durations
    if recipe.continuity == "references" and capabilities.reference_durations:
        durations = capabilities.reference_durations
    if durations:
        return tuple(sorted(durations))
    if not capabilities.supports_duration(seconds):
        raise PlanError(
            f"{seconds:g} s shots are not supported by the {recipe.video.backend} video backend",
            hint=f"use seconds between {capabilities.min_duration_s:g} and {capabilities.max_duration_s:g}",
        )
    return (seconds,)


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
    shot = {
        "type": "object",
        "additionalProperties": False,
        "required": ["duration_s", "prompt", "negative_prompt", "camera", "characters", "narration", "continuity"],
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
            "narration": text("narration or subtitle in the story's language"),
            "continuity": {"type": "boolean", "description": "continues the previous shot directly"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["style", "characters", "shots"],
        "properties": {
            "style": text("one visual style for the whole film"),
            "characters": {"type": "array", "items": character},
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
    story: Story, part: str, settings: PlanSettings, index: int, count: int, known: list[dict[str, str]]
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
    lines += [
        f"Plan exactly {settings.shots} shots. Allowed shot durations in seconds: {allowed}; "
        f"prefer {_nearest(settings.seconds, settings.durations):g} s unless a beat clearly needs another length.",
        "",
        "Story:",
        part,
    ]
    return "\n".join(lines)


def _nearest(seconds: float, durations: tuple[float, ...]) -> float:
    return min(durations, key=lambda d: (abs(d - seconds), -d))


def check_answer(text: str, shots: int, durations: tuple[float, ...]) -> dict[str, Any]:
    """Parse and check one answer; raises ValueError with a message the model can act on."""
    cleaned = text.strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(cleaned)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"the answer is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("shots"), list):
        raise ValueError("the answer must be a JSON object with a 'shots' list")
    if len(data["shots"]) != shots:
        raise ValueError(f"the plan must have exactly {shots} shots, it has {len(data['shots'])}")
    for number, shot in enumerate(data["shots"], start=1):
        duration = shot.get("duration_s") if isinstance(shot, dict) else None
        if not isinstance(duration, (int, float)) or not any(abs(duration - d) < 1e-6 for d in durations):
            allowed = ", ".join(f"{d:g}" for d in durations)
            raise ValueError(f"shot {number} has duration {duration!r}; allowed durations are {allowed}")
    return data


def _assemble(story: Story, recipe: Recipe, parts: list[dict[str, Any]]) -> Plan:
    characters: dict[str, dict[str, Any]] = {}
    shots: list[dict[str, Any]] = []
    for part in parts:
        for character in part.get("characters") or []:
            if isinstance(character, dict) and character.get("id") not in characters:
                characters[str(character.get("id"))] = {
                    "id": character.get("id"),
                    "name": character.get("name"),
                    "description": character.get("description", ""),
                }
        for shot in part["shots"]:
            if isinstance(shot, dict):
                shots.append({**shot, "index": len(shots) + 1})
    images = {spec.name.casefold(): spec.image for spec in story.meta.characters if spec.image}
    for character in characters.values():
        image = images.get(str(character.get("name", "")).casefold())
        if image:
            character["reference_image"] = image
    data = {
        "title": story.title,
        "slug": slugify(story.title, fallback=slugify(story.path.stem)),
        "language": story.language,
        "style": story.meta.style or str(parts[0].get("style") or ""),
        "aspect": story.meta.aspect or "16:9",
        "width": recipe.width,
        "height": recipe.height,
        "fps": recipe.fps,
        "seed": story.meta.seed if story.meta.seed is not None else recipe.seed,
        "characters": list(characters.values()),
        "shots": shots,
    }
    try:
        return Plan.model_validate(data)
    except ValidationError as error:
        raise ValueError(describe_validation_error(error)) from None


def plan_with(ask: Ask, story: Story, recipe: Recipe, *, shots: int, seconds: float, planner: str) -> Plan:
    """Plan a story part by part through `ask`; each answer is validated and repaired once, else PlanError."""
    settings = PlanSettings(shots=shots, seconds=seconds, durations=allowed_durations(recipe, seconds))
    chunks = chunk_story(story, recipe.planner.max_chunk_chars, shots)
    answers: list[dict[str, Any]] = []
    known: list[dict[str, str]] = []
    for index, (part, share) in enumerate(chunks, start=1):
        part_settings = PlanSettings(shots=share, seconds=seconds, durations=settings.durations)
        schema = response_schema(share, settings.durations)
        conversation: list[Message] = [("user", _user_prompt(story, part, part_settings, index, len(chunks), known))]
        answer = _ask_valid(ask, conversation, schema, share, settings.durations, story, recipe, answers, planner)
        answers.append(answer)
        seen: dict[str, dict[str, str]] = {}
        for character in answer.get("characters") or []:
            if isinstance(character, dict):
                key = str(character.get("id"))
                seen.setdefault(
                    key,
                    {
                        "id": key,
                        "name": str(character.get("name")),
                        "description": str(character.get("description", "")),
                    },
                )
        known = [*known, *(c for c in seen.values() if c["id"] not in {k["id"] for k in known})]
    try:
        return _assemble(story, recipe, answers)
    except ValueError as error:
        raise PlanError(f"the {planner} planner's parts do not form a valid plan: {error}") from None


def _ask_valid(
    ask: Ask,
    conversation: list[Message],
    schema: dict[str, Any],
    shots: int,
    durations: tuple[float, ...],
    story: Story,
    recipe: Recipe,
    earlier: list[dict[str, Any]],
    planner: str,
) -> dict[str, Any]:
    problem = ""
    for attempt in range(2):
        text = ask(SYSTEM_PROMPT, conversation, schema)
        try:
            answer = check_answer(text, shots, durations)
            _assemble(story, recipe, [*earlier, answer])
            return answer
        except ValueError as error:
            problem = str(error)
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
