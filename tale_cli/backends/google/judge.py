"""The Gemini judge: a take's frames and its characters' reference pictures in, a JSON verdict out (prompt alignment
0–4, and for each character whether it is there and the same person as its reference, with a reason; and likewise for
each entity on screen: a prop, a piece of wardrobe, a place).

Structured output with a schema of strings only (Schema enums are strings); no sampling settings for gemini-3 models.
A verdict that does not parse is repaired where it can be and reported where it cannot, never raised.
"""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from tale_cli.backends.base import (
    CharacterVerdict,
    JudgeBackend,
    JudgeCapabilities,
    JudgeCharacter,
    JudgeEntity,
    JudgeRequest,
    TakeVerdict,
)
from tale_cli.backends.cloud import Cloud, image_payload
from tale_cli.keys.store import require_key

if TYPE_CHECKING:
    from tale_cli.config import Recipe

DEFAULT_JUDGE_MODEL = "gemini-3.8-flash"
MAX_FRAMES = 8
# Pictures are sent as they are up to this size, re-encoded smaller beyond it.
MAX_IMAGE_BYTES = 1_500_000
INSTRUCTIONS = """You judge one shot of a short film, shown as frames in order.
Rate how well the frames show the shot's prompt: "0" not at all, "1" barely, "2" partly, "3" mostly, "4" fully.
For each character listed, say whether the character appears in the frames ("present") and, when it does, whether it
is the same person or creature as in its reference picture ("same": same face, build, hair, clothes, colours),
with a one-sentence reason. Answer only with the JSON object the schema describes."""
# Added to the instructions only for a shot with entities on screen, so a shot without any is asked as it always was.
ENTITY_INSTRUCTIONS = """For each thing listed (a prop, a piece of wardrobe or a place), say likewise whether it appears
in the frames ("present") and, when it does, whether it is the same thing as in its reference picture ("same": same
shape, colours, pattern, material; for a place, the same place), with a one-sentence reason, under "entities"."""


class CharacterAnswer(BaseModel):
    id: str
    present: bool
    same: bool
    reason: str = Field(default="", max_length=400)


class Verdict(BaseModel):
    """What the judge answers; `alignment` is a string enum because Gemini's Schema enums are strings."""

    alignment: Literal["0", "1", "2", "3", "4"]
    characters: list[CharacterAnswer] = Field(default_factory=list)


class VerdictWithEntities(Verdict):
    """What the judge answers for a shot with entities on screen: the same answer for each of them."""

    entities: list[CharacterAnswer] = Field(default_factory=list)


def read_verdict(
    text: str, wanted: list[str], things: list[str] | None = None
) -> tuple[VerdictWithEntities | None, list[str]]:
    """The verdict in a model's answer, repaired where it can be (code fences, text around the object, a number for
    the alignment, characters or entities it was not asked about), with what was repaired or why it could not be
    read. `things`: the entities asked about (None: none were, and no answer about any is read)."""
    notes: list[str] = []
    shape = VerdictWithEntities if things is not None else Verdict
    try:
        verdict = shape.model_validate_json(text)
        if things is None or all(answer.id in things for answer in getattr(verdict, "entities", [])):
            return VerdictWithEntities.model_validate(verdict.model_dump()), notes
    except ValidationError:
        pass
    found = re.search(r"\{.*\}", text, re.DOTALL)
    if found is None:
        return None, [f"the judge's verdict is not JSON: {text.strip()[:120]!r}"]
    try:
        raw = json.loads(found.group(0))
    except json.JSONDecodeError as error:
        return None, [f"the judge's verdict is not JSON ({error.msg})"]
    if not isinstance(raw, dict):
        return None, ["the judge's verdict is not a JSON object"]
    alignment = raw.get("alignment")
    if isinstance(alignment, int | float) and not isinstance(alignment, bool):
        raw["alignment"] = str(min(4, max(0, round(alignment))))
    characters = raw.get("characters")
    if isinstance(characters, list):
        raw["characters"] = [c for c in characters if isinstance(c, dict) and c.get("id") in wanted]
    entities = raw.pop("entities", None)
    if things is not None and isinstance(entities, list):
        raw["entities"] = [e for e in entities if isinstance(e, dict) and e.get("id") in things]
    try:
        verdict = VerdictWithEntities.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return None, [f"the judge's verdict could not be read ({where}: {first.get('msg', 'invalid')})"]
    notes.append("the judge's verdict was repaired")
    return verdict, notes


class GeminiJudge(JudgeBackend):
    """Gemini as a vision-language judge, priced per token from the run's price book and audited like every request."""

    name = "gemini"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.model = recipe.judge.model or DEFAULT_JUDGE_MODEL
        self.cloud = Cloud("google", model=self.model, section="judge")
        self._client: Any = None
        self._lock = threading.Lock()

    def capabilities(self) -> JudgeCapabilities:
        return JudgeCapabilities(embeddings=False, max_frames=MAX_FRAMES)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "instructions": INSTRUCTIONS}

    def entity_fingerprint(self) -> dict[str, Any]:
        return {"instructions": ENTITY_INSTRUCTIONS}

    def preflight(self) -> None:
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from tale_cli.backends.google.client import gemini_client

                key = require_key("google", role="gemini judge")
                self.cloud.use_key(key)
                self._client = gemini_client(key)
            return self._client

    def _contents(self, request: JudgeRequest, types: Any) -> list[Any]:
        def picture(path: Any) -> Any:
            data, mime = image_payload(path, max_bytes=MAX_IMAGE_BYTES)
            return types.Part.from_bytes(data=data, mime_type=mime)

        listed = "\n".join(f"- {c.id}: {c.name}, {c.description}" for c in request.characters) or "- (none)"
        text = f"{INSTRUCTIONS}\n\nShot prompt: {request.prompt}\nCharacters:\n{listed}"
        if request.entities:
            things = "\n".join(f"- {e.id} ({e.kind}): {e.name}, {e.description}" for e in request.entities)
            text = f"{INSTRUCTIONS}\n{ENTITY_INSTRUCTIONS}\n\nShot prompt: {request.prompt}\nCharacters:\n{listed}"
            text += f"\nThings on screen:\n{things}"
        parts: list[Any] = [types.Part(text=text)]
        shown: list[JudgeCharacter | JudgeEntity] = [*request.characters, *request.entities]
        for thing in shown:
            if thing.reference is not None:
                parts += [types.Part(text=f"Reference picture of {thing.id}:"), picture(thing.reference)]
        parts.append(types.Part(text=f"The shot's {len(request.frames)} frames, in order:"))
        parts += [picture(frame) for frame in request.frames]
        return [types.Content(role="user", parts=parts)]

    def judge(self, request: JudgeRequest) -> TakeVerdict:
        from tale_cli.backends.google.client import sdk

        client = self._get_client()
        _, types = sdk()
        shape = VerdictWithEntities if request.entities else Verdict
        config = types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=shape.model_json_schema()
        )
        contents = self._contents(request, types)
        attempts: list[dict[str, Any]] = []
        response = self.cloud.call(
            "judge",
            lambda: client.models.generate_content(model=self.model, contents=contents, config=config),
            creates=True,
            attempts=attempts,
        )
        usage = getattr(response, "usage_metadata", None)
        tokens_in = int(getattr(usage, "prompt_token_count", 0) or 0)
        tokens_out = int(getattr(usage, "candidates_token_count", 0) or 0)
        result = TakeVerdict(model=self.model, input_tokens=tokens_in, output_tokens=tokens_out, attempts=attempts)
        result.cost_usd = self._cost(request, tokens_in, tokens_out)
        wanted, things = [c.id for c in request.characters], [e.id for e in request.entities]
        verdict, result.notes = read_verdict(response.text or "", wanted, things if request.entities else None)
        if verdict is None:
            return result
        result.alignment = float(verdict.alignment)
        result.prompt = round(result.alignment / 4, 4)
        answers = {answer.id: answer for answer in verdict.characters}
        for character_id in wanted:
            answer = answers.get(character_id)
            if answer is None:
                result.notes.append(f"the judge said nothing of {character_id}")
                continue
            result.characters[character_id] = _verdict(answer)
        entities = {answer.id: answer for answer in verdict.entities}
        for entity_id in things:
            answer = entities.get(entity_id)
            if answer is None:
                result.notes.append(f"the judge said nothing of {entity_id}")
                continue
            result.entities[entity_id] = _verdict(answer)
        return result

    def _cost(self, request: JudgeRequest, tokens_in: int, tokens_out: int) -> float | None:
        from tale_cli.pricing.book import resolve_book
        from tale_cli.pricing.rates import price_judge

        entry = price_judge(self.name, self.model, book=resolve_book(self.recipe.prices))
        if entry is None:
            return None
        if tokens_in or tokens_out:
            return round(entry.usd(tokens_in, tokens_out), 6)
        shown: list[JudgeCharacter | JudgeEntity] = [*request.characters, *request.entities]
        pictures = len(request.frames) + sum(1 for thing in shown if thing.reference is not None)
        return round(entry.estimate(pictures), 6)

    def close(self) -> None:
        self.cloud.stopped.set()


def _verdict(answer: CharacterAnswer) -> CharacterVerdict:
    return CharacterVerdict(
        found=answer.present, cross=1.0 if answer.present and answer.same else 0.0, reason=answer.reason or None
    )
