"""Text on pictures: a font that draws the text's script, and wrapping that allows for wide CJK glyphs."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from tale_cli.media.fonts import font_for

if TYPE_CHECKING:
    from PIL import ImageFont


def text_font(text: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font at `size` that has glyphs for `text` (Pillow's own font when none is installed)."""
    from PIL import ImageFont

    path = font_for(text)
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size=size)


def wrap_text(text: str, width: int) -> list[str]:
    """Lines of at most `width` Latin characters; Hangul and CJK glyphs are about twice as wide, so fewer."""
    if any("\uac00" <= ch <= "\ud7a3" or "\u3040" <= ch <= "\u9fff" for ch in text):
        width = max(8, width * 11 // 20)
    return textwrap.wrap(text, width=width, break_long_words=True) or [""]
