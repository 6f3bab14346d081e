"""The entities a planner proposes: the story's front matter's, else the named objects and places its text returns to;
and which of them a shot's text shows.

Found offline without a parser, so on purpose narrowly: a noun that follows "the", "a" or a possessive in at least
two paragraphs (two sentences, in a one-paragraph story), that ends a noun phrase somewhere, and that is not a body
part, a time of day, a person, or many things ("the rocks"). A thing worn or a place (by its word, or gone to twice)
is enough, its words before it taken as its own; any other object must be named when it first appears, with the words that make it that one ("the brass
lantern", "a silver key"): "its lamp" is a lamp, not yet a prop. Words before a noun count only where its phrase
visibly ends ("the brass lantern glowed" could be a lantern that glowed or something else), or where the same words
name it with a visible end elsewhere in the story. A story not in English
gets none rather than guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tale_cli.planners._speech import split_sentences
from tale_cli.story.entities import entity_kind, word_set
from tale_cli.story.plan import DESCRIPTION_CHARS, ID_PATTERN, NAME_CHARS, Character, Entity, EntityKind, slugify
from tale_cli.story.reader import Story

# The most entities a planner proposes from the text alone (the author may declare more).
MAX_FOUND = 6
_DETERMINERS = word_set("the a an her his their its my our your this that")
# Words a noun phrase ends before: a determiner's noun is the word before one of these (or before punctuation).
_PHRASE_ENDS = word_set(
    """and or but was were is are had has have did does will would could should can may might of to in on at with
    from by for that which who whose as into onto behind beside under over above below near through across toward
    towards then when while so again too still back up down out off away"""
)
# Nouns that recur in any story without being a thing to keep drawing the same.
_NOT_ENTITIES = word_set(
    """hand hands eye eyes face head hair arm arms foot feet leg legs heart voice mouth ear ears finger fingers shoulder
    shoulders back nose lips lip paw paws tail breath skin body tears smile day days night nights morning evening
    afternoon dawn dusk noon midnight time times moment moments year years week weeks hour hours minute minutes second
    end beginning middle rest way side first last next same other others world life sky wind rain snow storm sun moon
    stars star air sound sounds silence word words story truth name thing things something nothing everything one
    dark darkness light shadow shadows water fire edge top bottom front inside outside home man woman men women boy
    girl boys girls child children people person family friend friends mother father mom dad sister brother wife
    husband son daughter king queen keeper fishermen fisherman crowd stranger old young little small big great new
    only own whole few many most"""
)


@dataclass
class _Noun:
    paragraphs: set[int] = field(default_factory=set)
    ends_phrase: bool = False
    named: str = ""  # the first mention with its modifiers ("brass lantern")
    named_first: bool = False  # its first mention has modifiers: the story names the thing
    placed: int = 0  # mentions after a preposition of place ("at the harbor")


def _units(story: Story) -> list[str]:
    paragraphs = [p for p in story.paragraphs if p.strip()]
    return paragraphs if len(paragraphs) >= 2 else split_sentences(story.body)


def find_entity_names(story: Story, characters: list[Character]) -> list[tuple[str, EntityKind]]:
    """The name and kind of each entity the text returns to, most mentioned first; none for a story not in
    English."""
    if story.language != "en":
        return []
    people = {word for c in characters for word in re.findall(r"[a-z]+", c.name.casefold())}
    nouns: dict[str, _Noun] = {}
    # Phrases whose end is not visible ("the red umbrella drips"): they count where the story names the thing so
    # elsewhere, with the phrase visibly ending ("with a red umbrella.").
    unsure: list[tuple[str, str, int]] = []
    for number, unit in enumerate(_units(story)):
        words = re.findall(r"[A-Za-z][A-Za-z'-]*|[^\sA-Za-z]", unit)
        for at, word in enumerate(words):
            if word.casefold() not in _DETERMINERS:
                continue
            following = words[at + 1 : at + 4]
            for span in range(1, 4):
                phrase = following[:span]
                if len(phrase) < span or not all(re.fullmatch(r"[a-z][a-z-]*", w) for w in phrase):
                    break
                head = phrase[-1]
                if head in _NOT_ENTITIES or head in _DETERMINERS or head in _PHRASE_ENDS or head in people:
                    continue
                after = words[at + 1 + span] if at + 1 + span < len(words) else "."
                ends = not re.fullmatch(r"[A-Za-z][A-Za-z'-]*", after) or after.casefold() in _PHRASE_ENDS
                modifiers = phrase[:-1]
                if any(m in _PHRASE_ENDS or m in _DETERMINERS for m in modifiers):
                    continue
                known_kind = entity_kind(head) != "prop"  # a thing worn or a place: its word says it is the noun
                if modifiers and not ends and not known_kind:
                    unsure.append((head, " ".join(phrase), number))
                    continue
                noun = nouns.get(head) or nouns.setdefault(head, _Noun(named_first=bool(modifiers)))
                noun.paragraphs.add(number)
                noun.ends_phrase |= ends or known_kind
                if modifiers and (ends or known_kind) and not noun.named:
                    noun.named = " ".join(phrase)
                if at > 0 and words[at - 1].casefold() in ("at", "in", "inside", "into", "to", "toward", "towards"):
                    noun.placed += 1
    for head, words_said, number in unsure:
        if head in nouns and nouns[head].named == words_said:
            nouns[head].paragraphs.add(number)
    found = [
        (head, noun)
        for head, noun in nouns.items()
        if len(noun.paragraphs) >= 2 and noun.ends_phrase and len(head) >= 3
    ]
    found.sort(key=lambda item: (-len(item[1].paragraphs), min(item[1].paragraphs)))
    found = found[: MAX_FOUND * 2]
    names: list[tuple[str, EntityKind]] = []
    for head, noun in found:
        kind = entity_kind(head)
        if kind == "prop" and noun.placed >= 2:
            kind = "place"  # "at the dock" twice: somewhere the story goes, not a thing it holds
        if kind == "prop" and (_plural(head) or not noun.named_first):
            continue
        names.append((noun.named or head, kind))
    return names[:MAX_FOUND]


def _plural(noun: str) -> bool:
    return noun.endswith("s") and not noun.endswith(("ss", "us", "is"))


def _head(name: str) -> str:
    words = re.findall(r"[^\W\d_]+", name.casefold())
    return words[-1] if words else ""


def mentions(text: str, entity: Entity) -> bool:
    """The text names the entity: its whole name, or its last word ("the lantern" for the brass lantern); a name not
    in Latin letters anywhere in the text (Korean adds its particles to the word: 등불을 names 등불)."""
    for key in dict.fromkeys([entity.name.casefold(), _head(entity.name)]):
        if not key or len(key) < 2:
            continue
        if not key.isascii() and key in text.casefold():
            return True
        if re.search(rf"(?<!\w){re.escape(key)}(?:s|es)?(?!\w)", text.casefold()):
            return True
    return False


def entity_id(name: str, used: set[str], number: int) -> str:
    """A plan id for an entity's name, unique among `used` (characters' ids included), which it joins."""
    words = [w for w in re.sub(r"[^a-z0-9]+", " ", name.lower()).split() if w not in _DETERMINERS]
    candidate = "-".join(words)[:40].strip("-") or f"entity-{number}"
    while candidate in used:
        candidate = f"{candidate}-{number}"
    used.add(candidate)
    return candidate


def story_entities(story: Story, characters: list[Character]) -> list[Entity]:
    """The entities a plan of the story starts from: the front matter's (with their pictures), else those the text
    returns to."""
    used = {c.id for c in characters}
    if story.meta.entities:
        return [
            Entity(
                id=entity_id(spec.name, used, number),
                kind=spec.entity_kind,
                name=spec.name,
                description=spec.description,
                reference_image=spec.image,
            )
            for number, spec in enumerate(story.meta.entities, start=1)
        ]
    return [
        Entity(id=entity_id(name, used, number), kind=kind, name=name)
        for number, (name, kind) in enumerate(find_entity_names(story, characters), start=1)
    ]


def found_entities(story: Story, characters: list[dict[str, str]]) -> list[dict[str, str]]:
    """The entities the text returns to, as a model's answer lists them, with ids apart from `characters`'."""
    cast = [Character(id=c["id"], name=c["name"]) for c in characters]
    return [
        {"id": e.id, "kind": e.kind, "name": e.name, "description": e.description} for e in story_entities(story, cast)
    ]


def entity_look(entity: Entity) -> str:
    """The words a prompt keeps the entity drawn with (none for one described by its name alone)."""
    described = entity.description.strip().rstrip(".")
    return f"{entity.name}, {described}." if described else ""


# ---------------------------------------------------------------- an LLM's answer


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def answer_entities(data: dict[str, Any], known: list[dict[str, str]], taken: set[str]) -> list[dict[str, str]]:
    """The entities an answer lists, made valid: a kind the plan takes (else the one the name suggests), an id
    unique and apart from the characters' (`taken`), names already `known` keeping their id."""
    by_name = {e["name"].casefold(): e for e in known}
    by_id = {e["id"]: e for e in known}
    used = set(taken) | set(by_id)
    entities: list[dict[str, str]] = []
    for raw in data.get("entities") or []:
        if not isinstance(raw, dict):
            continue
        name, raw_id = _text(raw.get("name"))[:NAME_CHARS], _text(raw.get("id"))
        if not name and not raw_id:
            continue
        same = by_name.get(name.casefold()) or by_id.get(raw_id)
        if same is not None:
            entities.extend([same] if same not in entities else [])
            continue
        wanted = raw_id if re.fullmatch(ID_PATTERN, raw_id) and raw_id not in used else ""
        if wanted:
            used.add(wanted)
        ident = wanted or entity_id(name or raw_id, used, len(used) + 1)
        kind = _text(raw.get("kind")).casefold()
        entity = {
            "id": ident,
            "kind": kind if kind in ("prop", "wardrobe", "place") else entity_kind(name or raw_id),
            "name": name or raw_id,
            "description": _text(raw.get("description"))[:DESCRIPTION_CHARS],
        }
        by_name[entity["name"].casefold()], by_id[ident] = entity, entity
        entities.append(entity)
    return entities


def shot_entities(raw: Any, entities: list[dict[str, str]], number: int, notes: list[str]) -> list[str]:
    """A shot's entity ids, each one of `entities` found by id or name; one not among them is dropped with a note."""
    if not isinstance(raw, list):
        return []
    keys: dict[str, str] = {}
    for entity in entities:
        for key in (entity["id"], entity["name"].casefold(), slugify(entity["name"], fallback="")):
            keys.setdefault(key, entity["id"])
    present: list[str] = []
    for reference in (_text(item) for item in raw):
        if not reference:
            continue
        found = keys.get(reference) or keys.get(reference.casefold()) or keys.get(slugify(reference, fallback=""))
        if found is None:
            notes.append(f"shot {number}: dropped '{reference[:40]}', which is not among the entities")
        elif found not in present:
            present.append(found)
    return present
