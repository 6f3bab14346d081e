"""How long words take to say, how many fit a shot, and when each is said: shared by the planners (which budget a
shot's words), the voice track (which checks and places the clips), and the captions that show each text while it
is said.

A natural pace is counted in words a second for languages that space their words, and in syllables (Hangul
blocks, kana, Han characters) a second for Korean, Japanese and Chinese; a word of more than PLAIN_WORD_CHARS
characters counts as more than one, so characters are budgeted as well as words (a 10,000-character "word" is no
quicker to say than the words it is as long as). A shot's speech starts LEAD_S after the shot does, ends TAIL_S
before the next one, and leaves GAP_S between two of its clips.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

WORDS_PER_S = 2.8
SYLLABLES_PER_S = 6.5
LEAD_S = 0.15
TAIL_S = 0.25
GAP_S = 0.3
# A word longer than this takes longer to say: every CHARS_PER_WORD characters beyond count as one more word,
# about 8 characters a second (eSpeak reads a run of random letters at 10 to 15 a second, and spells one it
# cannot read at 4 or 5: a 40-character piece of either still fits an 8-second shot).
PLAIN_WORD_CHARS = 12
CHARS_PER_WORD = 3
_SYLLABLES = re.compile(r"[\uac00-\ud7a3\u3040-\u30ff\u4e00-\u9fff]")
_WORD = re.compile(r"\w")


def natural_seconds(text: str) -> float:
    """About how long `text` takes to say at a natural pace."""
    syllables = len(_SYLLABLES.findall(text))
    words = sum(
        (1 if _WORD.search(word) else 0) + max(0, len(word) - PLAIN_WORD_CHARS) / CHARS_PER_WORD
        for word in _SYLLABLES.sub(" ", text).split()
    )
    return words / WORDS_PER_S + syllables / SYLLABLES_PER_S


def speech_room(duration_s: float, clips: int = 1) -> float:
    """Seconds of speech a shot of `duration_s` holds at a natural pace when it speaks `clips` clips."""
    return max(0.0, duration_s - LEAD_S - TAIL_S - GAP_S * max(0, clips - 1))


def budget_words(duration_s: float, clips: int = 1) -> tuple[int, int]:
    """The most words (spaced languages) and syllables (Korean, Japanese, Chinese) a shot can say."""
    room = speech_room(duration_s, clips)
    return int(room * WORDS_PER_S), int(room * SYLLABLES_PER_S)


def estimated_times(texts: Sequence[str], duration_s: float) -> list[tuple[float, float]]:
    """Where each of a shot's texts is said, in seconds from the shot's start, before a voice has said them: as the
    voice track places its clips, from LEAD_S on, GAP_S apart, at a natural pace, faster where they would not fit."""
    seconds = [natural_seconds(text) for text in texts]
    room = speech_room(duration_s, len(texts))
    tempo = max(1.0, sum(seconds) / room) if room > 0 else math.inf
    times: list[tuple[float, float]] = []
    at = min(LEAD_S, duration_s)
    for length in seconds:
        said = length / tempo if math.isfinite(tempo) else 0.0
        times.append((at, at + said))
        at = min(at + said + GAP_S, duration_s)
    return times


def caption_spans(times: Sequence[tuple[float, float]], duration_s: float) -> list[tuple[float, float]]:
    """The part of a shot each of its texts has on screen, given where each is said (`times`): from the middle of
    the pause before it to the middle of the pause after it, the first from the shot's start and the last to its
    end, so a caption is up while its words are said and the shot always shows one."""
    spans: list[tuple[float, float]] = []
    begin = 0.0
    for number, (_, end) in enumerate(times):
        if number + 1 < len(times):
            following = times[number + 1][0]
            finish = min(max((end + following) / 2, begin), duration_s)
        else:
            finish = duration_s
        spans.append((begin, finish))
        begin = finish
    return spans
