"""Voices for a plan's characters, chosen once when the story is planned: every character gets a voice in each voice
backend (the author's own where the front matter names one, the one it had when the story was planned before),
matched to the cues of its description — female or male, a child or old — a different one for each character and
never the narrator's, the same for the same story."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from tale_cli.errors import TaleError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tale_cli.backends.base import VoiceInfo
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Character, Plan, Voices
    from tale_cli.story.reader import Story

# Words that say who a character is, in English (whole words) and Korean (anywhere: particles attach to nouns).
CUES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "female": (
        ("she", "her", "woman", "women", "girl", "lady", "queen", "princess", "mother", "mom", "grandmother",
         "granny", "wife", "sister", "daughter", "aunt", "widow", "witch", "mistress", "maiden", "niece", "female"),
        ("소녀", "여자", "여인", "할머니", "어머니", "엄마", "공주", "여왕", "누나", "언니", "딸", "아내", "부인",
         "이모", "고모", "마녀", "아가씨"),
    ),
    "male": (
        ("he", "his", "him", "man", "men", "boy", "gentleman", "king", "prince", "father", "dad", "grandfather",
         "grandpa", "husband", "brother", "son", "uncle", "fisherman", "monk", "lord", "wizard", "male"),
        ("소년", "남자", "사내", "할아버지", "아버지", "아빠", "왕자", "임금", "형", "오빠", "아들", "남편",
         "삼촌", "총각", "스님", "나무꾼", "영감"),
    ),
    "young": (
        ("young", "little", "small", "tiny", "child", "kid", "girl", "boy", "baby", "teenage", "teenager", "youth",
         "puppy", "kitten", "cub"),
        ("어린", "아이", "소녀", "소년", "아기", "작은", "꼬마", "열두 살", "새끼"),
    ),
    "old": (
        ("old", "elderly", "aged", "ancient", "grey-haired", "gray-haired", "wrinkled", "grandmother", "grandfather",
         "granny", "grandpa", "gravelly"),
        ("늙은", "할머니", "할아버지", "노인", "영감", "백발", "노파"),
    ),
}  # fmt: skip
_OPPOSITE = {"female": "male", "male": "female", "young": "old", "old": "young"}


def cues(description: str) -> set[str]:
    """The traits a description names ("female", "male", "young", "old"); a description naming both of a pair
    (a girl and her grandmother) says neither."""
    text = description.casefold()
    words = set(re.findall(r"[a-z]+(?:-[a-z]+)?", text))
    found = {
        trait
        for trait, (english, korean) in CUES.items()
        if words & set(english) or any(word in text for word in korean)
    }
    return {trait for trait in found if _OPPOSITE[trait] not in found}


def _fit(wanted: set[str], voice: VoiceInfo) -> int:
    """How well a voice suits a character: its gender counts most, then its age; a voice of the other gender or age
    counts against it."""
    score = 0
    for trait in wanted:
        if trait in voice.traits:
            score += 4 if trait in ("female", "male") else 2
        elif _OPPOSITE[trait] in voice.traits:
            score -= 8 if trait in ("female", "male") else 3
    if "old" in voice.traits and "old" not in wanted:
        score -= 1  # an old voice only for an old character
    return score


def _tie_break(character: Character, voice: str) -> str:
    # Stable across runs and machines (unlike hash()): the same story casts the same voices.
    return hashlib.sha256(f"{character.name}\x00{voice}".encode()).hexdigest()


def choose(characters: list[Character], voices: list[VoiceInfo], taken: set[str] | None = None) -> dict[str, str]:
    """Character id -> voice name: each the best fit for its description not yet given to another character (any
    voice once every one is given)."""
    given: dict[str, str] = {}
    used = dict.fromkeys(taken or (), 1)
    for character in characters:
        wanted = cues(character.description)
        best = min(
            voices,
            key=lambda v: (used.get(v.name, 0), -_fit(wanted, v), _tie_break(character, v.name)),
        )
        given[character.id] = best.name
        used[best.name] = used.get(best.name, 0) + 1
    return given


def author_voices(plan: Plan, story: Story) -> None:
    """The voices the story's front matter gives its characters, matched by name, kept in the plan."""
    written = {spec.name.casefold(): spec.voice for spec in story.meta.characters if spec.voice}
    for character in plan.characters:
        voice = written.get(character.name.casefold())
        if voice is not None:
            character.voice = voice if isinstance(voice, str) else dict(voice)


def keep_voices(plan: Plan, kept: Mapping[str, Voices]) -> None:
    """The voices an earlier plan of the story gave its characters (by id), kept where the front matter names none
    for a backend: a story planned again speaks as before, and a voice made for a character is not lost."""
    for character in plan.characters:
        earlier = kept.get(character.id)
        if earlier is None or isinstance(character.voice, str):
            continue
        if isinstance(earlier, str):
            character.voice = character.voice or earlier
        else:
            character.voice = {**earlier, **(character.voice or {})}


def cast_voices(plan: Plan, recipe: Recipe) -> None:
    """Give every character a voice in every voice backend that speaks the plan's language; a voice the plan
    already holds (the author's, the user's) is kept, and no character is cast the narrator's voice."""
    from tale_cli.config import Recipe, VoiceConfig
    from tale_cli.registry import Role, create, names

    characters = [c for c in plan.characters if not isinstance(c.voice, str)]  # one voice for all: the author's
    if not characters:
        return
    for backend_name in names(Role.VOICE):
        backend = create(Role.VOICE, backend_name, Recipe(voice=VoiceConfig(backend=backend_name)))
        try:
            voices = backend.character_voices(plan.language)
        except TaleError:
            continue  # it does not speak the plan's language (or cannot be asked here): nothing to cast
        finally:
            backend.close()
        narrator = recipe.voice.voice if recipe.voice.backend == backend_name else ""
        voices = [v for v in voices if v.name != narrator]
        if not voices:
            continue
        kept = {c.voice[backend_name] for c in characters if isinstance(c.voice, dict) and backend_name in c.voice}
        wanting = [c for c in characters if not (isinstance(c.voice, dict) and backend_name in c.voice)]
        for character_id, voice in choose(wanting, voices, kept).items():
            character = plan.character(character_id)
            character.voice = {**(character.voice if isinstance(character.voice, dict) else {}), backend_name: voice}
