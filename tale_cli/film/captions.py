"""Burned captions laid out for the film's frame: type size, margins and line length for wide, square and tall."""

from __future__ import annotations

from dataclasses import dataclass

from tale_cli.media.drawing import wrap_text

# An average Latin glyph of the caption fonts is about this share of the type size wide.
GLYPH_WIDTH_EM = 0.52


@dataclass(frozen=True)
class CaptionLayout:
    font_size: int
    outline: int
    margin_h: int
    margin_v: int
    line_chars: int


def caption_layout(width: int, height: int) -> CaptionLayout:
    """Type sized by the frame's short side, so a 720x1280 caption reads like a 1280x720 one.

    A tall frame keeps its captions above the bottom fifth, where phone apps draw their own buttons and text,
    and its narrower lines are broken here rather than left to the renderer, which cannot break a line of
    Chinese or Japanese that has no spaces.
    """
    short = min(width, height)
    size = max(12, round(short * 0.05))
    if width > height:
        margin_h, margin_v = round(width * 0.05), round(height * 0.05)
    else:
        margin_h, margin_v = round(width * 0.07), round(height * (0.2 if height > width else 0.06))
    line_chars = max(12, int((width - 2 * margin_h) / (size * GLYPH_WIDTH_EM)))
    return CaptionLayout(size, max(1, round(short / 360)), margin_h, margin_v, line_chars)


def wrap_caption(text: str, layout: CaptionLayout) -> str:
    """The caption's own lines, each broken to the frame's line length."""
    return "\n".join(part for line in text.split("\n") for part in wrap_text(line, layout.line_chars))
