"""The offline planner: a deterministic split of the story into shots that keeps its beats: every sentence in a
shot's speech or prompt, in the story's order, quoted speech given to the character who says it."""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from dataclasses import dataclass

from tale_cli.config import Recipe
from tale_cli.planners._speech import (
    Said,
    fit_speech,
    quoted_lines,
    speech_verb_tags,
    split_clauses,
    split_sentences,
    split_words,
)
from tale_cli.planners.entities import entity_look, mentions, story_entities
from tale_cli.registry import Locality, Pricing, Provider, Role
from tale_cli.story.pace import GAP_S, LEAD_S, TAIL_S, natural_seconds
from tale_cli.story.plan import (
    MAX_LINES,
    MAX_NOTES,
    NARRATOR,
    Character,
    Entity,
    Plan,
    Shot,
    Speech,
    parse_plan,
    slugify,
)
from tale_cli.story.reader import Story
from tale_cli.story.shape import film_aspect

log = logging.getLogger("tale")

NEGATIVE_PROMPT = "blurry, low quality, distorted faces, extra limbs, text, watermark, logo"
CAMERA_MOVES = (
    "slow push in",
    "pan right",
    "static wide shot",
    "pan left",
    "tilt up",
    "slow pull back",
    "tracking shot",
    "tilt down",
)
_ENGLISH_STOPWORDS = frozenset(
    [
        "The",
        "A",
        "An",
        "And",
        "But",
        "Then",
        "When",
        "While",
        "As",
        "It",
        "He",
        "She",
        "They",
        "We",
        "I",
        "You",
        "His",
        "Her",
        "Their",
        "Our",
        "My",
        "Your",
        "This",
        "That",
        "These",
        "Those",
        "There",
        "Here",
        "In",
        "On",
        "At",
        "Of",
        "To",
        "For",
        "With",
        "From",
        "By",
        "After",
        "Before",
        "One",
        "Once",
        "Every",
        "Each",
        "All",
        "Some",
        "No",
        "Not",
        "So",
        "If",
        "Or",
        "Yet",
        "Suddenly",
        "Finally",
        "Later",
        "Soon",
        "Now",
        "Today",
        "Tomorrow",
        "Yesterday",
        "Meanwhile",
        "Still",
        "Even",
        "Just",
        "Only",
        "Also",
        "Why",
        "What",
        "How",
    ]
)
_KOREAN_PARTICLES = (
    "에게서",
    "에게",
    "한테",
    "께서",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "의",
    "와",
    "과",
    "도",
    "야",
    "아",
)
# The Korean plural marker: 도깨비들은 is the goblins, and the character is 도깨비.
_KOREAN_PLURAL = "들"
# Up to this many sentences, a story is split where its shots say the most of it (beyond, by length alone).
_MAX_BALANCED = 600
# What a split costs: a shot's words past what its seconds say (a second of them), and a shot that starts
# inside a paragraph, against the square of how far a shot's words are from an even share (over that share).
_OVERFLOW_COST = 100.0
_MID_PARAGRAPH_COST = 2.0
_QUOTATION = re.compile(r'"[^"]*"|“[^”]*”|「[^」]*」|『[^』]*』')


@dataclass
class _Segment:
    text: str
    paragraph: int


def _split_evenly(text: str, pieces: int) -> list[str]:
    """Split a sentence into `pieces` parts at clause breaks, else at words; never an empty part, never inside a
    quotation nor between a quotation and the clause that introduces it."""
    units = _units(text, pieces)
    if len(units) < pieces:
        return [text] * pieces
    return [" ".join(units[i * len(units) // pieces : (i + 1) * len(units) // pieces]) for i in range(pieces)]


def _units(text: str, pieces: int) -> list[str]:
    """The parts a sentence may be split into: its clauses, or, where it has fewer than `pieces`, its words (a
    clause that holds a quotation, and a sound word with the words around it, one part: see split_words)."""
    clauses = split_clauses(text)
    if len(clauses) >= pieces:
        return clauses
    return [unit for clause in clauses for unit in ([clause] if _QUOTATION.search(clause) else split_words(clause))]


def segment_story(story: Story, count: int, seconds: float = 8.0) -> list[_Segment]:
    """Exactly `count` consecutive segments of the story, along sentence lines: where the story has more sentences
    than shots, split so that each shot's words fit its `seconds` wherever they can, starting a shot at a paragraph
    where one can, and evenly; with fewer, the longest sentences share shots, split at clauses or words."""
    sentences = [
        _Segment(sentence, number)
        for number, paragraph in enumerate(story.paragraphs)
        for sentence in split_sentences(paragraph)
    ]
    if not sentences:
        sentences = [_Segment(story.body, 0)]
    if len(sentences) < count:
        # Too few sentences: give the longest sentences several shots each, split at clauses where they have
        # enough of them, else at words.
        shares = [1] * len(sentences)
        lengths = [len(s.text) for s in sentences]
        clauses = [len(split_clauses(s.text)) for s in sentences]
        words = [len(_units(s.text, len(s.text))) for s in sentences]
        for _ in range(count - len(sentences)):
            splittable = [i for i in range(len(sentences)) if shares[i] < clauses[i]]
            splittable = splittable or [i for i in range(len(sentences)) if shares[i] < words[i]]
            best = max(splittable or range(len(sentences)), key=lambda i: (lengths[i] / (shares[i] + 1), -i))
            shares[best] += 1
        expanded: list[_Segment] = []
        for sentence, share in zip(sentences, shares, strict=True):
            expanded.extend(_Segment(part, sentence.paragraph) for part in _split_evenly(sentence.text, share))
        return expanded
    if len(sentences) > _MAX_BALANCED:
        return _by_length(sentences, count)
    return [
        _Segment(" ".join(s.text for s in sentences[start:end]), sentences[start].paragraph)
        for start, end in _balanced(sentences, count, seconds)
    ]


def _balanced(sentences: list[_Segment], count: int, seconds: float) -> list[tuple[int, int]]:
    """The (start, end) of `count` consecutive groups of sentences that cost least (see _OVERFLOW_COST): found by
    dynamic programming over where each group ends, a group at most about twice an even share long."""
    # Seconds and clips (a quotation is a line, with narration either side of it) up to each sentence.
    said = list(itertools.accumulate((natural_seconds(s.text) for s in sentences), initial=0.0))
    clips = list(itertools.accumulate((1 + 2 * len(_QUOTATION.findall(s.text)) for s in sentences), initial=0))
    room = max(0.1, seconds - LEAD_S - TAIL_S)
    total = len(sentences)
    share = max(0.1, (said[-1] + GAP_S * (clips[-1] - count)) / count)
    longest = 2 * -(-total // count) + 2

    def cost(start: int, end: int) -> float:
        need = said[end] - said[start] + GAP_S * (clips[end] - clips[start] - 1)
        starts_inside = start > 0 and sentences[start].paragraph == sentences[start - 1].paragraph
        return (
            _OVERFLOW_COST * max(0.0, need - room)
            + (need - share) ** 2 / share
            + (_MID_PARAGRAPH_COST if starts_inside else 0.0)
        )

    best: list[dict[int, tuple[float, int]]] = [{0: (0.0, 0)}]
    for group in range(1, count + 1):
        row: dict[int, tuple[float, int]] = {}
        # Group `group` ends at `end`, leaving at least one sentence to each group after it.
        for end in range(group, total - (count - group) + 1):
            for start in range(max(group - 1, end - longest), end):
                if start not in best[group - 1]:
                    continue
                total_cost = best[group - 1][start][0] + cost(start, end)
                if end not in row or total_cost < row[end][0] - 1e-9:
                    row[end] = (total_cost, start)
        best.append(row)
    groups: list[tuple[int, int]] = []
    end = total
    for group in range(count, 0, -1):
        start = best[group][end][1]
        groups.append((start, end))
        end = start
    return groups[::-1]


def _by_length(sentences: list[_Segment], count: int) -> list[_Segment]:
    """`count` consecutive groups of sentences, balanced by their length in characters."""
    total = sum(len(s.text) + 1 for s in sentences)
    segments: list[_Segment] = []
    start = 0
    consumed = 0
    for shot in range(count):
        remaining_shots = count - shot
        if remaining_shots == 1:
            group = sentences[start:]
        else:
            target = total * (shot + 1) / count
            end = start + 1
            running = consumed + len(sentences[start].text) + 1
            while end < len(sentences) - (remaining_shots - 1):
                step = len(sentences[end].text) + 1
                if abs(running + step - target) >= abs(running - target):
                    break
                running += step
                end += 1
            group = sentences[start:end]
            consumed = running
            start = end
        segments.append(_Segment(" ".join(s.text for s in group), group[0].paragraph))
    return segments


def _korean_stem(word: str) -> str:
    """A Korean word without its particle and plural marker: 도깨비들은 → 도깨비, 나무꾼이 → 나무꾼."""
    word = re.sub(r"[^\uac00-\ud7a3]", "", word)
    for particle in _KOREAN_PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            word = word[: -len(particle)]
            break
    if word.endswith(_KOREAN_PLURAL) and len(word) >= 3:
        word = word[: -len(_KOREAN_PLURAL)]
    return word


def find_characters(story: Story) -> list[tuple[str, str]]:
    """Names and descriptions: the front matter's, else names that recur in the text."""
    if story.meta.characters:
        return [(c.name, c.description) for c in story.meta.characters]
    if story.language == "ko":
        stems = Counter(
            _korean_stem(word)
            for word in story.body.split()
            if any(word.rstrip(".,!?\"'").endswith(p) for p in ("은", "는", "이", "가", "에게", "와", "과"))
        )
        names = [stem for stem, n in stems.most_common() if n >= 3 and 2 <= len(stem) <= 4]
        return [(name, "") for name in names[:4]]
    counts: Counter[str] = Counter()
    mid_sentence: set[str] = set()
    for sentence in split_sentences(story.body.replace("\n\n", " ")):
        words = re.findall(r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?", sentence)
        first = re.match(r"\W*([A-Z][a-z]+)", sentence)
        for word in words:
            if word in _ENGLISH_STOPWORDS:
                continue
            counts[word] += 1
            if not first or first.start(1) != sentence.find(word):
                mid_sentence.add(word)
    names = [name for name, n in counts.most_common() if n >= 2 and name in mid_sentence]
    # Who a speech tag names ("…," the woodcutter said.), when the story names them again.
    for speaker in speech_verb_tags(story.body):
        mentions = len(re.findall(rf"\b{re.escape(speaker)}\b", story.body, flags=re.IGNORECASE))
        if mentions >= 2 and speaker.capitalize() not in names:
            names.append(speaker.capitalize())
    return [(name, "") for name in names[:4]]


def character_id(name: str, used: set[str], number: int) -> str:
    """A plan id (lowercase ASCII letters, digits, dashes) for a name, unique among `used`, which it joins."""
    ascii_slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    candidate = ascii_slug or f"character-{number}"
    while candidate in used:
        candidate = f"{candidate}-{number}"
    used.add(candidate)
    return candidate


def _mention_offsets(text: str, name: str) -> list[int]:
    if re.search(r"[\uac00-\ud7a3]", name):
        return [m.start() for m in re.finditer(re.escape(name), text)]
    return [m.start() for m in re.finditer(rf"\b{re.escape(name)}\b", text, flags=re.IGNORECASE)]


def _mentions(text: str, name: str) -> bool:
    return bool(_mention_offsets(text, name))


def _cut_note(index: int, written: Said, said: Said, seconds: float) -> str:
    kept, whole = said.words, written.words
    # Counted in words, unless a word was cut into pieces: then in characters.
    counted = f"{len(kept)} of {len(whole)} words"
    if not set(kept) <= set(whole):
        counted = f"{sum(map(len, kept)):,} of {sum(map(len, whole)):,} characters"
    return (
        f"shot {index}: spoken words cut to what {seconds:g} s says at a natural pace "
        f"({counted} kept; the rest stays in the prompt)"
    )


def visual_prompt(style: str, text: str, present: list[Character], camera: str, things: tuple[Entity, ...] = ()) -> str:
    parts = [f"{style.strip().rstrip('.')}." if style.strip() else "Cinematic film still."]
    parts.append(text.strip())
    for character in present:
        look = f", {character.description.strip().rstrip('.')}" if character.description.strip() else ""
        parts.append(f"{character.name}{look}.")
    # An entity described once is described in every shot it is in (one known by its name alone adds nothing).
    parts.extend(look for look in map(entity_look, things) if look)
    parts.append(f"Camera: {camera}.")
    return " ".join(parts)


def plan_story(story: Story, recipe: Recipe, *, shots: int, seconds: float) -> Plan:
    """Same story and settings, same plan, byte for byte."""
    used: set[str] = set()
    characters = [
        Character(id=character_id(name, used, number), name=name, description=description)
        for number, (name, description) in enumerate(find_characters(story), start=1)
    ]
    for spec, character in zip(story.meta.characters, characters, strict=False):
        character.reference_image = spec.image
    entities = story_entities(story, characters)
    style = story.meta.style or "Cinematic film still, soft natural light, 35mm"
    built: list[Shot] = []
    notes: list[str] = []
    previous_paragraph = -1

    def named(text: str) -> list[tuple[int, str]]:
        return sorted((at, c.id) for c in characters for at in _mention_offsets(text, c.name))

    # Where words must be cut, a sentence that names a character, or opens a paragraph, is the last to go.
    openers = {sentences[0] for sentences in map(split_sentences, story.paragraphs) if sentences}

    def weight(sentence: str) -> float:
        return 2.0 * bool(named(sentence)) + (1.0 if sentence in openers else 0.0)

    for index, segment in enumerate(segment_story(story, shots, seconds), start=1):
        written = quoted_lines(segment.text, named)
        said = fit_speech(written, seconds, weight)
        if said != written:
            notes.append(_cut_note(index, written, said, seconds))
        speech: list[Speech] = []
        lines = 0
        for who, text in said.spoken:
            lines += who != NARRATOR
            if who == NARRATOR or lines <= MAX_LINES:
                speech.append(Speech(who=who, text=text))
        speakers = {said.who for said in speech if not said.narrated}
        present = [c for c in characters if _mentions(segment.text, c.name) or c.id in speakers]
        things = tuple(e for e in entities if mentions(segment.text, e))
        camera = CAMERA_MOVES[(index - 1) % len(CAMERA_MOVES)]
        built.append(
            Shot(
                index=index,
                duration_s=seconds,
                prompt=visual_prompt(style, written.narration or segment.text, present, camera, things)[:4000],
                negative_prompt=NEGATIVE_PROMPT,
                camera=camera,
                characters=[c.id for c in present],
                entities=[e.id for e in things],
                speech=speech,
                continuity=segment.paragraph == previous_paragraph,
            )
        )
        previous_paragraph = segment.paragraph
    data = {
        "title": story.title,
        "slug": slugify(story.title, fallback=slugify(story.path.stem)),
        "language": story.language,
        "style": style,
        "aspect": film_aspect(recipe),
        "width": recipe.width,
        "height": recipe.height,
        "fps": recipe.fps,
        "seed": story.meta.seed if story.meta.seed is not None else recipe.seed,
        "characters": [c.model_dump() for c in characters],
        "entities": [e.model_dump() for e in entities],
        "shots": [s.model_dump() for s in built],
        "notes": notes[:MAX_NOTES],
    }
    plan = parse_plan(data, source=str(story.path))
    for note in plan.notes:
        log.warning("offline planner: %s", note)
    return plan


PROVIDERS = (
    Provider(
        "offline",
        "a deterministic split of the story into shots, prompts and characters, on this machine",
        {Role.PLANNER: plan_story},
        Locality.LOCAL,
        Pricing.FREE,
    ),
)
