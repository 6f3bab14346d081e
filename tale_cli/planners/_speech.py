"""What a shot says: sentences and clauses of story text, quoted speech turned into lines of dialogue, and the
spoken words of a shot kept within what it can say at a natural pace (tale_cli.story.pace).

Shared by every planner: the offline planner speaks the story's own words, the model planners their model's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from tale_cli.story.pace import natural_seconds, speech_room
from tale_cli.story.plan import NARRATION_CHARS, NARRATOR

# Gives the (offset, character id) of every character named in a text, in order.
Finder = Callable[[str], list[tuple[int, str]]]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])[\"'”’)\]」』]*\s+|(?<=[다요죠까네])[.!?]?\s*\n")
_CLAUSE_BREAK = re.compile(r"(?<=[,;:，、])\s+|(?<=[고며서면데])\s+(?=\S)|\s+(?=(?:and|but|then|while|as|when)\s)")
# Quoted speech: straight and curly double quotes, and the corner brackets of Korean, Japanese and Chinese.
_QUOTE = re.compile(r'"([^"\n]{1,500})"|“([^”\n]{1,500})”|「([^」\n]{1,500})」|『([^』\n]{1,500})』')
_ENDS_SENTENCE = re.compile(r"[.!?。！？]")
# Up to this many sentences in a shot, every in-order selection is tried when its words must be cut.
_MAX_CHOICE = 10
# A "word" longer than this (no language has one) is cut into pieces this long when a shot can say only part
# of it: each piece fits a line of subtitles, and the voice reads the pieces as words.
WORD_PIECE_CHARS = 40
# A speech tag after a quotation ("…," said Mira.) has at most this many words.
_TAG_WORDS = 5
_TAG = re.compile(r"[^.!?。！？,，\"“「『\n]{0,60}[.!?。！？,，]")
_SPEECH_VERB = re.compile(
    r"\b(?:said|says|say|asked|asks|told|tells|shouted|shouts|cried|cries|whispered|whispers|replied|replies|"
    r"called|calls|answered|answers|yelled|yells|murmured|murmurs|exclaimed|laughed|sang|sings)\b"
    r"|말했|물었|외쳤|속삭였|대답했|소리쳤|중얼거렸|불렀",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(?:he|she|they|it)\b|그녀|그가|그는", re.IGNORECASE)


def split_sentences(paragraph: str) -> list[str]:
    parts = [part.strip() for part in _SENTENCE_END.split(paragraph.strip() + " ")]
    return [part for part in parts if part]


def split_clauses(text: str) -> list[str]:
    return [clause.strip() for clause in _CLAUSE_BREAK.split(text) if clause and clause.strip()]


@dataclass(frozen=True)
class Said:
    """A shot's spoken words: its narration, then its lines as (speaker id, text)."""

    narration: str
    lines: tuple[tuple[str, str], ...] = ()

    @property
    def clips(self) -> int:
        return (1 if self.narration.strip() else 0) + len(self.lines)

    @property
    def seconds(self) -> float:
        return natural_seconds(self.narration) + sum(natural_seconds(text) for _, text in self.lines)


def _tidy(text: str) -> str:
    """Narration once the quotes are taken out of it: no doubled spaces, no comma before a full stop."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*,\s*([.!?。])", r"\1", text)
    text = re.sub(r"\s+([.,!?。])", r"\1", text)
    text = re.sub(r"^[\s.,!?:;。、]+", "", text)
    text = re.sub(r"[,:;]$", ".", text)
    return text if re.search(r"\w", text) else ""


def _speech_tag(words: str, after: str) -> re.Match[str] | None:
    """The speech tag right after a quotation ("…," Mira said. / "…!" asked Pip.), when there is one."""
    tag = _TAG.match(after)
    if tag is None or len(tag.group().split()) > _TAG_WORDS:
        return None
    continues = words.endswith((",", "，", "、")) or tag.group().lstrip()[:1].islower()
    return tag if continues or _SPEECH_VERB.search(tag.group()) else None


def _speaker(before: str, tag: str, find: Finder) -> str:
    """Who says a quotation: the character its speech tag names, else the one named last before it in its
    sentence, else (after a sentence that introduces speech, or a tag that says "she") the one named last
    before it in the text; the narrator when none is."""
    named = find(tag)
    if named:
        return named[0][1]
    sentences = [m.end() for m in _ENDS_SENTENCE.finditer(before)]
    own = find(before[sentences[-1] if sentences else 0 :])
    if own:
        return own[-1][1]
    previous = before[sentences[-2] if len(sentences) > 1 else 0 : sentences[-1]] if sentences else ""
    if _SPEECH_VERB.search(previous) or _PRONOUN.search(tag) or before.rstrip().endswith(":"):
        earlier = find(before)
        if earlier:
            return earlier[-1][1]
    return NARRATOR


def _close_chunk(chunk: str, following: str) -> str:
    """Narration before a removed quotation: a speech tag that leads into it (Mira said:) goes with the line,
    and the rest ends as a sentence where the quotation ended one."""
    chunk = chunk.rstrip()
    starts = [m.end() for m in _ENDS_SENTENCE.finditer(chunk[:-1])]
    lead = chunk[starts[-1] if starts else 0 :]
    if _SPEECH_VERB.search(lead) and len(lead.split()) <= _TAG_WORDS:
        chunk = chunk[: len(chunk) - len(lead)].rstrip()
    if not re.search(r"\w", chunk):
        return chunk
    if chunk.endswith((":", ",", ";")):
        return chunk[:-1] + "."
    if not _ENDS_SENTENCE.search(chunk[-1]) and following.lstrip()[:1].isupper():
        return chunk + "."
    return chunk


def quoted_lines(text: str, find: Finder) -> Said:
    """Split story text into narration and lines: each quotation becomes a line of the character who says it
    (the narrator when none is named), its speech tag goes with it, and the narration keeps the rest.

    `find(text)` gives the (offset, character id) of every character named in `text`, in order.
    """
    lines: list[tuple[str, str]] = []
    kept: list[str] = []
    last = 0
    capital = False

    def keep(chunk: str) -> None:
        chunk = chunk.lstrip()
        kept.append(chunk[:1].upper() + chunk[1:] if capital else chunk)

    for match in _QUOTE.finditer(text):
        words = next(group for group in match.groups() if group is not None).strip()
        if not re.search(r"\w", words):
            continue
        tag = _speech_tag(words, text[match.end() :])
        speaker = _speaker(text[: match.start()], tag.group() if tag else "", find)
        keep(_close_chunk(text[last : match.start()], words))
        last = match.end() + (tag.end() if tag else 0)
        # A sentence that goes on after its tag ("…?" she asked, and …): the rest starts a sentence of its own.
        capital = bool(tag and tag.group().endswith((",", "，")))
        if words.endswith((",", "，", "、")):
            words = words[:-1].rstrip() + "."
        lines.append((speaker, words))
    if not lines:
        return Said(text.strip())
    keep(text[last:])
    return Said(_tidy(" ".join(kept)), tuple(lines))


def _fits(text: str, seconds: float) -> bool:
    """Said in `seconds`, and within the characters a plan's narration or line may have."""
    return natural_seconds(text) <= seconds and len(text) <= NARRATION_CHARS


def _words(text: str) -> list[str]:
    """The text's words, a word longer than WORD_PIECE_CHARS cut into pieces that long."""
    return [word[at : at + WORD_PIECE_CHARS] for word in text.split() for at in range(0, len(word), WORD_PIECE_CHARS)]


def fit_text(text: str, seconds: float) -> str:
    """As much of `text` as is said in `seconds` (in at most NARRATION_CHARS characters): the sentences (in their
    order) that say the most words, else the longest start of the first sentence cut at a clause, else at a word
    (an over-long word cut into pieces)."""
    if _fits(text.strip(), seconds):
        return text.strip()
    sentences = split_sentences(text)
    best = _most_sentences(sentences, seconds)
    if best:
        return " ".join(best)
    for split in (split_clauses, _words):
        units = split(sentences[0] if sentences else text)
        taken: list[str] = []
        for unit in units:
            if not _fits(" ".join([*taken, unit]), seconds):
                break
            taken.append(unit)
        if taken:
            return re.sub(r"[,;:，、]$", ".", " ".join(taken).strip())
    return ""


def _most_sentences(sentences: list[str], seconds: float) -> list[str]:
    """The in-order selection of whole sentences that fits `seconds` and says the most (the earliest on a tie)."""
    if len(sentences) > _MAX_CHOICE:
        taken: list[str] = []
        for sentence in sentences:
            if _fits(" ".join([*taken, sentence]), seconds):
                taken.append(sentence)
        return taken
    best: list[str] = []
    best_s = 0.0
    for mask in range(1, 1 << len(sentences)):
        chosen = [sentence for bit, sentence in enumerate(sentences) if mask >> bit & 1]
        said = natural_seconds(" ".join(chosen))
        if _fits(" ".join(chosen), seconds) and said > best_s + 1e-9:
            best, best_s = chosen, said
    return best


def _within_chars(said: Said) -> Said:
    """`said` with each text within NARRATION_CHARS characters (whatever its seconds), cut as fit_text cuts."""

    def cut(text: str) -> str:
        return text if len(text) <= NARRATION_CHARS else fit_text(text, math.inf)

    return Said(cut(said.narration), tuple((speaker, cut(text)) for speaker, text in said.lines))


def fit_speech(said: Said, duration_s: float) -> Said:
    """`said` cut to what a shot of `duration_s` says at a natural pace: the narration shortened first (the
    dialogue carries the scene), then lines dropped from the end, then the last line shortened. No narration
    or line is left longer than a plan holds (NARRATION_CHARS, within what every voice takes in one request)."""
    said = _within_chars(said)
    if said.seconds <= speech_room(duration_s, said.clips):
        return said
    lines = list(said.lines)
    spoken = sum(natural_seconds(text) for _, text in lines)
    left = speech_room(duration_s, said.clips) - spoken
    narration = fit_text(said.narration, left) if said.narration.strip() and left > 0 else ""
    if narration:
        return Said(narration, tuple(lines))
    while lines:
        fitted = Said("", tuple(lines))
        room = speech_room(duration_s, fitted.clips)
        if fitted.seconds <= room:
            return fitted
        head = sum(natural_seconds(text) for _, text in lines[:-1])
        cut = fit_text(lines[-1][1], room - head) if head < room else ""
        if cut:
            return Said("", (*lines[:-1], (lines[-1][0], cut)))
        lines.pop()
    return Said(fit_text(said.narration, speech_room(duration_s)))
