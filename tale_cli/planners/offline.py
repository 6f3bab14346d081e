"""The offline planner: a deterministic split of the story into shots, with prompts and characters."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from tale_cli.config import Recipe
from tale_cli.planners._speech import Said, fit_speech, quoted_lines, split_clauses, split_sentences
from tale_cli.registry import Locality, Pricing, Provider, Role
from tale_cli.story.plan import MAX_LINES, MAX_NOTES, NARRATOR, Character, Plan, Shot, Speech, parse_plan, slugify
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


@dataclass
class _Segment:
    text: str
    paragraph: int


def _split_evenly(text: str, pieces: int) -> list[str]:
    """Split a sentence into `pieces` parts at clause breaks, else at words; never an empty part."""
    clauses = split_clauses(text)
    units = clauses if len(clauses) >= pieces else text.split()
    if len(units) < pieces:
        return [text] * pieces
    return [" ".join(units[i * len(units) // pieces : (i + 1) * len(units) // pieces]) for i in range(pieces)]


def segment_story(story: Story, count: int) -> list[_Segment]:
    """Exactly `count` consecutive segments of the story, balanced by length, along sentence lines."""
    sentences = [
        _Segment(sentence, number)
        for number, paragraph in enumerate(story.paragraphs)
        for sentence in split_sentences(paragraph)
    ]
    if not sentences:
        sentences = [_Segment(story.body, 0)]
    if len(story.paragraphs) == count:
        return [_Segment(paragraph, number) for number, paragraph in enumerate(story.paragraphs)]
    if len(sentences) < count:
        # Too few sentences: give the longest sentences several shots each, split at clauses or words.
        shares = [1] * len(sentences)
        lengths = [len(s.text) for s in sentences]
        for _ in range(count - len(sentences)):
            best = max(range(len(sentences)), key=lambda i: (lengths[i] / (shares[i] + 1), -i))
            shares[best] += 1
        expanded: list[_Segment] = []
        for sentence, share in zip(sentences, shares, strict=True):
            expanded.extend(_Segment(part, sentence.paragraph) for part in _split_evenly(sentence.text, share))
        return expanded
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
    word = re.sub(r"[^\uac00-\ud7a3]", "", word)
    for particle in _KOREAN_PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
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
    kept = (said.narration + " " + " ".join(t for _, t in said.lines)).split()
    whole = (written.narration + " " + " ".join(t for _, t in written.lines)).split()
    # Counted in words, unless a word was cut into pieces: then in characters.
    counted = f"{len(kept)} of {len(whole)} words"
    if not set(kept) <= set(whole):
        counted = f"{sum(map(len, kept)):,} of {sum(map(len, whole)):,} characters"
    return (
        f"shot {index}: spoken words cut to what {seconds:g} s says at a natural pace "
        f"({counted} kept; the rest stays in the prompt)"
    )


def visual_prompt(style: str, text: str, present: list[Character], camera: str) -> str:
    parts = [f"{style.strip().rstrip('.')}." if style.strip() else "Cinematic film still."]
    parts.append(text.strip())
    for character in present:
        look = f", {character.description.strip().rstrip('.')}" if character.description.strip() else ""
        parts.append(f"{character.name}{look}.")
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
    style = story.meta.style or "Cinematic film still, soft natural light, 35mm"
    built: list[Shot] = []
    notes: list[str] = []
    previous_paragraph = -1

    def named(text: str) -> list[tuple[int, str]]:
        return sorted((at, c.id) for c in characters for at in _mention_offsets(text, c.name))

    for index, segment in enumerate(segment_story(story, shots), start=1):
        written = quoted_lines(segment.text, named)
        said = fit_speech(written, seconds)
        if said != written:
            notes.append(_cut_note(index, written, said, seconds))
        speakers = {speaker for speaker, _ in said.lines}
        present = [c for c in characters if _mentions(segment.text, c.name) or c.id in speakers]
        camera = CAMERA_MOVES[(index - 1) % len(CAMERA_MOVES)]
        built.append(
            Shot(
                index=index,
                duration_s=seconds,
                prompt=visual_prompt(style, written.narration or segment.text, present, camera)[:4000],
                negative_prompt=NEGATIVE_PROMPT,
                camera=camera,
                characters=[c.id for c in present],
                speech=[
                    *([Speech(who=NARRATOR, text=said.narration)] if said.narration.strip() else []),
                    *(Speech(who=speaker, text=text) for speaker, text in said.lines[:MAX_LINES]),
                ],
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
