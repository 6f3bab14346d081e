"""Story text made safe to print and to write: control characters out, and one-line fields for line-oriented files.

A story or a hand-edited plan.json can carry terminal escape sequences and other control characters, which
clear a screen or retitle a window when printed, break XML (no XML 1.0 document may hold most of them) and
end a line early in an EDL or SRT. The story reader strips them (strip_controls); every writer of a one-line
field (an EDL's title or locator, a timeline's clip and marker names) flattens its text (one_line).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and the C1 controls (ESC, CSI and OSC among them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What no XML 1.0 document may hold, and what ends or breaks a line: controls, noncharacters, lone surrogates,
# and the line and paragraph separators some readers break lines at.
_NOT_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff\ud800-\udfff]")


def strip_controls(text: str) -> tuple[str, int]:
    """`text` without control characters other than tab and newline (CRLF and CR line ends become newlines
    first, and are not counted), and how many were removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept, removed = _CONTROL.subn("", text)
    return kept, removed


def without_controls(text: str) -> str:
    """`text` with every control character but newline (and noncharacters, lone surrogates) as a space."""
    return _NOT_IN_A_LINE.sub(lambda match: "\n" if match.group() == "\n" else " ", text)


def one_line(text: str, limit: int) -> str:
    """`text` as one line of at most `limit` characters: line breaks and control characters become spaces,
    runs of spaces one; a longer text is cut at a word where one is near the end, and ends with an ellipsis."""
    flat = " ".join(_NOT_IN_A_LINE.sub(" ", text).split())
    if len(flat) <= limit:
        return flat
    head = flat[: max(0, limit - 1)]
    space = head.rfind(" ")
    if space > limit * 2 // 3:
        head = head[:space]
    return head.rstrip() + "…"
