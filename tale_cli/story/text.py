"""Story text made safe to print and to write: control characters out.

A story can carry terminal escape sequences and other control characters, which clear a screen or retitle a
window when printed and break XML (no XML 1.0 document may hold most of them). The story reader strips them.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and the C1 controls (ESC, CSI and OSC among them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> tuple[str, int]:
    """`text` without control characters other than tab and newline (CRLF and CR line ends become newlines
    first, and are not counted), and how many were removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept, removed = _CONTROL.subn("", text)
    return kept, removed
