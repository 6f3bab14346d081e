"""Find fonts that can draw the story's script (Hangul included) and say once what to install if none."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("tale")

_CJK_CANDIDATES = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf",
    "/System/Library/Fonts/AppleSDGothicNeo.ttc",
    "/Library/Fonts/AppleGothic.ttf",
    "C:/Windows/Fonts/malgun.ttf",
)
_LATIN_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
    "C:/Windows/Fonts/arial.ttf",
)
INSTALL_HINT = (
    "no font that can draw Hangul was found, so Korean text shows as boxes: install one "
    "(Debian/Ubuntu: apt-get install fonts-nanum; Fedora: dnf install google-noto-sans-cjk-fonts; "
    "macOS has one) or set TALE_FONT=/path/to/font.ttf"
)


def _fc_match(language: str) -> str | None:
    if shutil.which("fc-list") is None:
        return None
    try:
        out = subprocess.run(
            ["fc-list", f":lang={language}", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    return files[0] if files else None


@functools.cache
def cjk_font() -> str | None:
    override = os.environ.get("TALE_FONT")
    if override and Path(override).is_file():
        return override
    for candidate in _CJK_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return _fc_match("ko")


@functools.cache
def latin_font() -> str | None:
    override = os.environ.get("TALE_FONT")
    if override and Path(override).is_file():
        return override
    for candidate in _LATIN_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return cjk_font() or _fc_match("en")


def needs_cjk(text: str) -> bool:
    return any("\u1100" <= ch <= "\u11ff" or "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7a3" for ch in text)


@functools.cache
def _warn_once() -> None:
    log.warning(INSTALL_HINT)


def font_for(text: str) -> str | None:
    """A font file able to draw `text`; warns once (and falls back) when Hangul/CJK has no font."""
    if needs_cjk(text):
        font = cjk_font()
        if font is None:
            _warn_once()
            return latin_font()
        return font
    return latin_font()
