"""What a shot says: sentences and clauses of story text, quoted speech turned into characters' lines where the story
tells them, and the spoken words of a shot kept within what it can say at a natural pace (tale_cli.story.pace).

Shared by every planner: the offline planner speaks the story's own words, the model planners their model's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tale_cli.story.pace import natural_seconds, speech_room
from tale_cli.story.plan import NARRATION_CHARS, NARRATOR

# Gives the (offset, character id) of every character named in a text, in order.
Finder = Callable[[str], list[tuple[int, str]]]
# How much a sentence of narration matters to its shot: where words must be cut, the least first.
Weight = Callable[[str], float]

# Where a sentence may end: its closing punctuation and any quotes or brackets that close with it.
_SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’)\]」』]*")
# A Korean sentence that ends a line without punctuation (verse, dialogue set out line by line).
_LINE_END = re.compile(r"(?<=[다요죠까네])[.!?]?[ \t]*\n")
# Words that carry on a Korean sentence after an exclamation inside it: the sound word in 개암을 딱! 하고 깨물자,
# the quotation in "금 나와라 뚝딱!" 하고 외쳤다.
_KOREAN_GOES_ON = re.compile(
    r"(?:하고|하며|하면서|하자|하는|하니|하더니|했다|하였다|라고|라며|라는|이라고|이라며|소리)"
)
# Where a clause may end: after a comma and the like, a Korean connective ending (not the quotative 하고 or 라고 of
# 딱! 하고 깨물자, nor one an auxiliary verb carries on: 두고 간, 먹고 있다; nor the particle 에서), or before an English
# conjunction.
_CLAUSE_BREAK = re.compile(
    r"(?<=[,;:，、])\s+|(?<=[고며서면데])(?<![하라]고)(?<!에서)\s+(?!(?:있|싶|간|갔|온|왔|말|계|보)\S*)(?=\S)"
    r"|\s+(?=(?:and|but|then|while|as|when)\s)"
)
# Quoted speech: straight and curly double quotes, and the corner brackets of Korean, Japanese and Chinese.
_QUOTE = re.compile(r'"([^"\n]{1,500})"|“([^”\n]{1,500})”|「([^」\n]{1,500})」|『([^』\n]{1,500})』')
_ENDS_SENTENCE = re.compile(r"[.!?。！？]")
# Up to this many sentences of narration in a shot, every selection is tried when its words must be cut.
_MAX_CHOICE = 10
# A "word" longer than this (no language has one) is cut into pieces this long when a shot can say only part
# of it: each piece fits a line of subtitles, and the voice reads the pieces as words.
WORD_PIECE_CHARS = 40
# A speech tag after a quotation ("…," said Mira.) has at most this many words.
_TAG_WORDS = 5
_TAG = re.compile(r"[^.!?。！？,，\"“「『\n]{0,60}[.!?。！？,，]")
_ENGLISH_SPEECH_VERBS = (
    r"(?:said|says|say|asked|asks|told|tells|shouted|shouts|cried|cries|whispered|whispers|replied|replies|"
    r"called|calls|answered|answers|yelled|yells|murmured|murmurs|exclaimed|laughed|sang|sings)"
)
_SPEECH_VERB = re.compile(
    rf"\b{_ENGLISH_SPEECH_VERBS}\b|말했|물었|외쳤|속삭였|대답했|소리쳤|중얼거렸|불렀", re.IGNORECASE
)
# Someone a speech tag names by a noun: "…," the woodcutter said. / "…!" cried the goblins. / The cat said: "…"
_NOUN_TAG = re.compile(
    rf"[\"”」』]\s*(?:{_ENGLISH_SPEECH_VERBS}\s+the\s+([a-z]+)|the\s+([a-z]+)\s+{_ENGLISH_SPEECH_VERBS})\b"
    rf"|\b[Tt]he\s+([a-z]+)\s+{_ENGLISH_SPEECH_VERBS}\s*[,:]?\s*[\"“]"
)
_PRONOUN = re.compile(r"\b(?:he|she|they|it)\b|그녀|그가|그는", re.IGNORECASE)


def _open_quote(text: str) -> bool:
    """Whether `text` ends inside a quotation."""
    pairs = (("“", "”"), ("「", "」"), ("『", "』"))
    return text.count('"') % 2 == 1 or any(text.count(a) > text.count(b) for a, b in pairs)


def _goes_on(before: str, after: str) -> bool:
    """Whether the sentence goes on past the punctuation between `before` and `after`: a word in lower case
    ("Crack!" went the acorn), a Korean word that carries it on, or the speech tag of a quotation it closes."""
    if not after or after[:1].islower() or _KOREAN_GOES_ON.match(after):
        return True
    if before.rstrip()[-1:] in '"”」』':
        tag = _TAG.match(" " + after)
        return bool(tag and len(tag.group().split()) <= _TAG_WORDS and _SPEECH_VERB.search(tag.group()))
    return False


def split_sentences(paragraph: str) -> list[str]:
    """The paragraph's sentences: never broken inside a quotation, nor at an exclamation the sentence goes on
    after (a sound word, a quotation and its tag)."""
    sentences: list[str] = []
    for chunk in _LINE_END.split(paragraph.strip()):
        begin = 0
        for end in _SENTENCE_END.finditer(chunk):
            rest = chunk[end.end() :]
            if rest and not rest[:1].isspace():
                continue  # 3.5, e.g.x: not the end of a sentence
            if _open_quote(chunk[begin : end.end()]) or (rest.strip() and _goes_on(chunk[: end.end()], rest.lstrip())):
                continue
            sentences.append(chunk[begin : end.end()].strip())
            begin = end.end()
        sentences.append(chunk[begin:].strip())
    return [sentence for sentence in sentences if sentence]


def speech_verb_tags(text: str) -> list[str]:
    """The nouns speech tags in `text` name as speakers ("…," the woodcutter said.), in order, once each."""
    found = (next(group for group in match.groups() if group) for match in _NOUN_TAG.finditer(text))
    return list(dict.fromkeys(found))


def split_clauses(text: str) -> list[str]:
    """The text's clauses, a quotation never broken nor parted from the clause that introduces it or its speech
    tag (so who says it stays beside it)."""
    clauses: list[str] = []
    for clause in (part.strip() for part in _CLAUSE_BREAK.split(text) if part and part.strip()):
        closed = clauses and clauses[-1][-1:] in '"”」』' and _goes_on(clauses[-1], clause)
        if clauses and (_open_quote(clauses[-1]) or closed or clause[:1] in '"“「『'):
            clauses[-1] = f"{clauses[-1]} {clause}"
        else:
            clauses.append(clause)
    return clauses


def split_words(text: str) -> list[str]:
    """The text's words as a shot may be split between them: a quotation one unit, and a sound word one with the
    word before it and the words that carry its sentence on (개암을 딱! 하고 깨물자)."""
    units: list[str] = []
    for word in text.split():
        previous = units[-1] if units else ""
        binds = (
            _open_quote(previous)
            or previous[-1:] in "!?"
            or word[-1:] in "!?"
            or _KOREAN_GOES_ON.fullmatch(previous.split()[-1] if previous else "")
            or _KOREAN_GOES_ON.match(word)
        )
        if units and binds:
            units[-1] = f"{previous} {word}"
        else:
            units.append(word)
    return units


@dataclass(frozen=True)
class Said:
    """What a shot says, in order: (who, text) pairs, `who` the narrator or a character's id. A text may be empty
    (a narration cut to nothing keeps its place)."""

    items: tuple[tuple[str, str], ...] = ()
    # Which items are narration, cut before any line: every narrator's item, unless told otherwise (a model
    # planner's lines may be the narrator's too, and are lines: its narration is its first item).
    narration_at: tuple[int, ...] | None = None

    @classmethod
    def told(cls, narration: str, lines: Sequence[tuple[str, str]] = ()) -> Said:
        """Narration, then lines, as a model planner writes a shot: the narration first, even when it is empty."""
        return cls(((NARRATOR, narration), *lines), narration_at=(0,))

    def as_told(self) -> tuple[str, list[tuple[str, str]]]:
        """The narration and the lines of a Said made by told()."""
        return self.items[0][1], [item for item in self.items[1:] if item[1].strip()]

    def narrates(self, position: int) -> bool:
        if self.narration_at is not None:
            return position in self.narration_at
        return self.items[position][0] == NARRATOR

    def with_texts(self, texts: Sequence[str]) -> Said:
        """The same speakers in the same order, saying `texts`."""
        return replace(self, items=tuple((who, text) for (who, _), text in zip(self.items, texts, strict=True)))

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.items]

    @property
    def narration(self) -> str:
        """Its narration, its parts joined: what a shot shows when it speaks no lines."""
        return " ".join(text for n, text in enumerate(self.texts) if self.narrates(n) and text.strip())

    @property
    def spoken(self) -> tuple[tuple[str, str], ...]:
        """Its items with words, in order."""
        return tuple(item for item in self.items if item[1].strip())

    @property
    def clips(self) -> int:
        return len(self.spoken)

    @property
    def seconds(self) -> float:
        return sum(natural_seconds(text) for _, text in self.items)

    @property
    def words(self) -> list[str]:
        return " ".join(self.texts).split()


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


@dataclass(frozen=True)
class _Quotation:
    start: int
    end: int
    tag_end: int  # where its speech tag ends (its own end when it has none)
    words: str
    speaker: str
    goes_on: bool  # the sentence goes on after its tag ("…?" she asked, and …)


def _quotations(text: str, find: Finder) -> list[_Quotation]:
    """The quotations in `text`, each with who says it: the narrator for one no character says (a letter's words)."""
    found: list[_Quotation] = []
    for match in _QUOTE.finditer(text):
        words = next(group for group in match.groups() if group is not None).strip()
        if not re.search(r"\w", words):
            continue
        tag = _speech_tag(words, text[match.end() :])
        speaker = _speaker(text[: match.start()], tag.group() if tag else "", find)
        end = match.end() + (tag.end() if tag else 0)
        found.append(
            _Quotation(match.start(), match.end(), end, words, speaker, bool(tag and tag.group().endswith((",", "，"))))
        )
    return found


def quoted_lines(text: str, find: Finder) -> Said:
    """Story text as what it says, in its order: each quotation becomes a line of the character who says it (the
    narrator's when none does; its speech tag goes with it), and the narration between them is the narrator's.

    `find(text)` gives the (offset, character id) of every character named in `text`, in order.
    """
    items: list[tuple[str, str]] = []
    narration: list[int] = []
    last = 0
    capital = False

    def narrate(chunk: str) -> None:
        chunk = chunk.strip()
        said = _tidy(chunk[:1].upper() + chunk[1:] if capital else chunk)
        if said:
            narration.append(len(items))
            items.append((NARRATOR, said))

    for quotation in _quotations(text, find):
        narrate(_close_chunk(text[last : quotation.start], quotation.words))
        words = quotation.words
        if words.endswith((",", "，", "、")):
            words = words[:-1].rstrip() + "."
        items.append((quotation.speaker, words))
        last, capital = quotation.tag_end, quotation.goes_on
    narrate(text[last:])
    # A quotation the narrator says is a line all the same: cut after the narration, as a character's is.
    return Said(tuple(items), narration_at=tuple(narration))


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
    return said.with_texts([text if len(text) <= NARRATION_CHARS else fit_text(text, math.inf) for text in said.texts])


def _fits_shot(said: Said, duration_s: float) -> bool:
    return said.seconds <= speech_room(duration_s, said.clips)


def fit_speech(said: Said, duration_s: float, weight: Weight | None = None) -> Said:
    """`said` cut to what a shot of `duration_s` says at a natural pace, in its order: the narration shortened first
    (the dialogue carries the scene), whole sentences left out, the least weighty first (by `weight`; the most
    words kept among equals); then lines dropped from the end, then the last line shortened. A text cut to nothing
    stays in its place, empty. No narration or line is left longer than a plan holds (NARRATION_CHARS, within what
    every voice takes in one request)."""
    said = _within_chars(said)
    if _fits_shot(said, duration_s):
        return said
    narration = [n for n in range(len(said.items)) if said.narrates(n)]
    texts = ["" if n in narration else text for n, text in enumerate(said.texts)]
    if _fits_shot(said.with_texts(texts), duration_s):
        return _narration_that_fits(said, duration_s, weight or (lambda sentence: 0.0))
    spoken = [n for n, text in enumerate(texts) if text.strip()]
    while spoken:
        fitted = said.with_texts([text if n in spoken else "" for n, text in enumerate(texts)])
        room = speech_room(duration_s, fitted.clips)
        if fitted.seconds <= room:
            return fitted
        last = spoken[-1]
        head = fitted.seconds - natural_seconds(texts[last])
        cut = fit_text(texts[last], room - head) if head < room else ""
        if cut:
            return fitted.with_texts([cut if n == last else text for n, text in enumerate(fitted.texts)])
        spoken.pop()
    told = " ".join(said.texts[n] for n in narration)
    kept = fit_text(told, speech_room(duration_s)) if told.strip() else ""
    return said.with_texts([kept if narration and n == narration[0] else "" for n in range(len(said.items))])


def _narration_that_fits(said: Said, duration_s: float, weight: Weight) -> Said:
    """Every line of `said`, and of its narration the whole sentences that fit with them and weigh the most (the
    most words among equals, the earliest on a tie); where no whole sentence fits, the start of the weightiest one,
    cut at a clause or a word."""
    sentences = [
        (n, sentence) for n, text in enumerate(said.texts) if said.narrates(n) for sentence in split_sentences(text)
    ]
    weights = [weight(sentence) for _, sentence in sentences]

    def keeping(chosen: Sequence[int]) -> Said:
        kept: dict[int, list[str]] = {}
        for k in sorted(chosen):
            kept.setdefault(sentences[k][0], []).append(sentences[k][1])
        return said.with_texts(
            [" ".join(kept.get(n, [])) if said.narrates(n) else text for n, text in enumerate(said.texts)]
        )

    best: Said | None = None
    best_score = (-math.inf, -math.inf)
    choices: list[list[int]]
    if len(sentences) <= _MAX_CHOICE:
        choices = [[k for k in range(len(sentences)) if mask >> k & 1] for mask in range(1, 1 << len(sentences))]
    else:  # too many to try: leave out the least weighty (the latest among equals) until the rest fit
        chosen = list(range(len(sentences)))
        for k in sorted(range(len(sentences)), key=lambda k: (weights[k], -k)):
            if _fits_shot(keeping(chosen), duration_s):
                break
            chosen.remove(k)
        choices = [chosen]
    for chosen in choices:
        candidate = keeping(chosen)
        if not chosen or not _fits_shot(candidate, duration_s):
            continue
        score = (sum(weights[k] for k in chosen), candidate.seconds)
        heavier = score[0] > best_score[0] + 1e-9
        if heavier or (abs(score[0] - best_score[0]) <= 1e-9 and score[1] > best_score[1] + 1e-9):
            best, best_score = candidate, score
    if best is not None:
        return best
    without = keeping([])
    if not sentences:
        return without
    weightiest = max(range(len(sentences)), key=lambda k: (weights[k], -k))
    room = speech_room(duration_s, without.clips + 1) - without.seconds
    cut = fit_text(sentences[weightiest][1], room) if room > 0 else ""
    place = sentences[weightiest][0]
    return without.with_texts([cut if n == place else text for n, text in enumerate(without.texts)])
