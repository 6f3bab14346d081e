"""Subtitles that read like subtitles: cues of at most two lines of at most 42 characters (fewer for Hangul,
kana and Han, which are about twice as wide), a new cue at a sentence end where one fits, every cue on screen
for at least MIN_CUE_S, and, in a film with a voice, each cue on screen while its words are spoken, in the order
the story tells them.

Without a voice a shot's words span the shot, split into as many cues as they need, each on screen for its
share of the words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tale_cli.media.drawing import wrap_text
from tale_cli.story.pace import TAIL_S, natural_seconds
from tale_cli.story.text import without_controls

if TYPE_CHECKING:
    from tale_cli.run.film_records import VoiceRecord
    from tale_cli.story.plan import Plan

LINE_CHARS = 42
CUE_LINES = 2
# No cue is on screen for less than this, too short to read: a shorter one stays up into the quiet around its words,
# or, where there is none, shares a cue with its neighbour.
MIN_CUE_S = 1.0
# An invisible character that keeps what SRT readers interpret from being read as such: after `<` no HTML tag
# starts (ffmpeg drops `<img …>` and reads `<b>` as bold), after `{` no `{\an8}` override, after a backslash
# no `\N` line break, and inside `-->` no timing line (which would start a cue of its own).
_WORD_JOINER = "\u2060"


@dataclass(frozen=True)
class Cue:
    """One subtitle: its text and when it is on screen in the film."""

    start_s: float
    end_s: float
    text: str


def clean_caption(text: str) -> str:
    """The caption's own lines, without blank ones (a blank line ends an SRT cue) or control characters."""
    lines = [line.strip() for line in without_controls(text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")]
    return "\n".join(line for line in lines if line)


def srt_safe(text: str) -> str:
    """A cue's text as SRT readers and the soft (mov_text) track show it: the words as written, not read as
    markup, overrides or timing."""
    text = clean_caption(text).replace("-->", "--" + _WORD_JOINER + ">")
    return "".join(char + _WORD_JOINER if char in "<{\\" else char for char in text)


def split_caption(text: str) -> list[str]:
    """The text as cue texts of at most CUE_LINES lines of at most LINE_CHARS characters each (fewer for wide
    glyphs), its own line breaks kept, a new cue at a sentence end where the sentence fits one."""
    from tale_cli.planners._speech import split_sentences

    parts: list[str] = []
    for own_line in clean_caption(text).split("\n"):
        current: list[str] = []
        for sentence in split_sentences(own_line) or [own_line]:
            lines = wrap_text(sentence, LINE_CHARS)
            joined = wrap_text(" ".join([*current, *lines]), LINE_CHARS) if current else lines
            if len(joined) <= CUE_LINES:
                current = joined
                continue
            if current:
                parts.append("\n".join(current))
            for at in range(0, len(lines) - CUE_LINES, CUE_LINES):
                parts.append("\n".join(lines[at : at + CUE_LINES]))
            current = lines[(len(lines) - 1) // CUE_LINES * CUE_LINES :]
        if current:
            parts.append("\n".join(current))
    return _join_short([part for part in parts if part.strip()])


def _join_short(parts: list[str]) -> list[str]:
    """Neighbouring parts (the caption's own lines) that fit one cue together share it."""
    joined: list[str] = []
    for part in parts:
        if joined and joined[-1].count("\n") + part.count("\n") + 2 <= CUE_LINES:
            joined[-1] = f"{joined[-1]}\n{part}"
        else:
            joined.append(part)
    return joined


def timed_cues(start_s: float, end_s: float, text: str) -> list[Cue]:
    """`text` split into cues that share start..end by how long their words take to say."""
    return held([(cue, end_s) for cue in _tiled(start_s, end_s, text)])


def held(cues: Sequence[tuple[Cue, float]]) -> list[Cue]:
    """The cues (each with the latest it may stay up to) in order, none shorter than MIN_CUE_S where it can be
    helped: a short cue stays up into the quiet after it, then starts earlier into the quiet before it, and one that
    still cannot last MIN_CUE_S shares one cue with its nearer neighbour (the earlier on a tie)."""
    timed = sorted(((cue.start_s, cue.end_s, cue.text, latest) for cue, latest in cues), key=lambda c: c[:2])
    while True:
        short = next((n for n, c in enumerate(timed) if c[1] - c[0] < MIN_CUE_S - 1e-6), None)
        if short is None:
            break
        start, end, text, latest = timed[short]
        following = timed[short + 1][0] if short + 1 < len(timed) else latest
        end = max(end, min(following, latest, start + MIN_CUE_S))
        previous = timed[short - 1][1] if short > 0 else 0.0
        start = min(start, max(previous, end - MIN_CUE_S))
        if end - start >= MIN_CUE_S - 1e-6 or len(timed) == 1:
            timed[short] = (round(start, 3), round(end, 3), text, latest)
            if len(timed) == 1:
                break
            continue
        before = start - previous if short > 0 else math.inf
        after = following - end if short + 1 < len(timed) else math.inf
        first = short - 1 if before <= after else short
        a, b = timed[first], timed[first + 1]
        timed[first : first + 2] = [(a[0], max(a[1], b[1]), f"{a[2]}\n{b[2]}", max(a[3], b[3]))]
    return [Cue(start, end, text) for start, end, text, _ in timed]


def speech_cues(clips: Sequence[tuple[float, float, str]]) -> list[Cue]:
    """Cues for spoken clips (start, seconds, text), in the order they are spoken: each clip's words on screen while
    it plays; a dialogue clip ("Name: words" a line) gives each speaker's words their share of it. A cue too short to
    read stays up into the quiet around it, at most TAIL_S after its clip (which a shot always leaves before its
    end), or shares a cue with its neighbour."""
    cues: list[tuple[Cue, float]] = []
    # To the millisecond, as the manifest records clips: a film stitched again later gets the same cues.
    for start, seconds, text in sorted((round(a, 3), round(b, 3), t) for a, b, t in clips):
        turns = [turn for turn in clean_caption(text).split("\n") if turn]
        if not turns:
            continue
        weights = [max(natural_seconds(turn), 0.2) for turn in turns]
        at = start
        for turn, weight in zip(turns, weights, strict=True):
            length = seconds * weight / sum(weights)
            cues.extend((cue, round(start + seconds + TAIL_S, 3)) for cue in _tiled(at, at + length, turn))
            at += length
    return held(cues)


def _tiled(start_s: float, end_s: float, text: str) -> list[Cue]:
    """`text` in cues tiling start..end by how long their words take to say (fewer where each would be short)."""
    parts = split_caption(text)
    if not parts or end_s <= start_s:
        return []
    span = end_s - start_s
    while len(parts) > 1 and span / len(parts) < MIN_CUE_S:
        parts[-2:] = [parts[-2] + " " + parts[-1].replace("\n", " ")]
    weights = [max(natural_seconds(part), 0.2) for part in parts]
    cues: list[Cue] = []
    at = start_s
    for number, (part, weight) in enumerate(zip(parts, weights, strict=True)):
        end = end_s if number == len(parts) - 1 else at + span * weight / sum(weights)
        cues.append(Cue(round(at, 3), round(end, 3), part))
        at = end
    return cues


def shot_captions(plan: Plan) -> list[str]:
    """What each shot says, for subtitles without a voice: its speech, in the order it is said."""
    return [" ".join(t for t in (said.text.strip() for said in shot.speech) if t) for shot in plan.shots]


def film_cues(plan: Plan, voice: VoiceRecord | None, transition_s: float = 0.0) -> list[Cue] | None:
    """The film's cues from its voice track when every clip records its words, else None (cue by shot)."""
    if voice is None or not voice.clips or any(clip.text is None for clip in voice.clips):
        return None
    return speech_cues([(clip.start_s, clip.seconds, clip.text or "") for clip in voice.clips])
