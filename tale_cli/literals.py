"""The closed sets of words a flag, a recipe, a story and a plan share, in a module light enough for `tale --help`."""

from __future__ import annotations

from typing import Literal

# A film's shape: its aspect ratio, and its resolution (the frame's short side).
Aspect = Literal["16:9", "9:16", "1:1", "4:5"]
Resolution = Literal["720p", "1080p"]
# A recipe's tier: its final settings, or the cheaper [draft] ones (`tale render --draft`, then `tale finalize`).
Tier = Literal["draft", "final"]
