"""How much of a reference picture's colours a frame shows: coarse colour histograms compared by intersection, over
the frame's best window, so a blue sweater that turned red (or a prop that is gone) scores low whatever model runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image

# Levels a channel is cut into: 4 × 4 × 4 colours, coarse enough that a clip's compression stays in its colour.
LEVELS = 4
BINS = LEVELS**3
# Frames are searched at this height; windows are squares of these fractions of it, half a window apart.
SEARCH_HEIGHT = 64
WINDOWS = (0.25, 0.5, 1.0)
# A reference's border colour covering this much of its border is its backdrop, not the thing (a drawn sheet's white).
BACKDROP_SHARE = 0.5
# What must be left of a reference without its backdrop for the backdrop to be left out.
KEPT_SHARE = 0.05


def _bins(picture: Image, height: int | None = None) -> np.ndarray:
    """Each pixel's colour bin (an int array of the picture's shape, resized to `height` keeping its aspect)."""
    rgb = picture.convert("RGB")
    if height is not None and rgb.height != height:
        from PIL import Image as PILImage

        width = max(1, round(rgb.width * height / rgb.height))
        rgb = rgb.resize((width, height), PILImage.Resampling.BILINEAR)
    levels = np.asarray(rgb, dtype=np.int64) * LEVELS // 256
    return np.asarray(levels[..., 0] * LEVELS * LEVELS + levels[..., 1] * LEVELS + levels[..., 2])


def reference_colours(picture: Image, *, keep_backdrop: bool = False) -> np.ndarray:
    """The reference's colour histogram (sums to 1), without its backdrop: the colour that covers most of its border,
    when it covers over half of it (unless `keep_backdrop`: a place's picture is all place)."""
    bins = _bins(picture, SEARCH_HEIGHT)
    kept = bins.ravel()
    if not keep_backdrop:
        border = np.concatenate([bins[0], bins[-1], bins[:, 0], bins[:, -1]])
        counts = np.bincount(border, minlength=BINS)
        backdrop = int(counts.argmax())
        if counts[backdrop] > BACKDROP_SHARE * border.size:
            thing = kept[kept != backdrop]
            if thing.size >= KEPT_SHARE * kept.size:
                kept = thing
    histogram = np.bincount(kept, minlength=BINS).astype(np.float64)
    return np.asarray(histogram / histogram.sum())


def colour_match(frame: Image, reference: np.ndarray, *, whole: bool = False) -> float:
    """How much of `reference`'s colours the frame's best window holds (histogram intersection, 0–1); with `whole`,
    the whole frame's (a place fills the picture)."""
    bins = _bins(frame, SEARCH_HEIGHT)
    height, width = bins.shape
    # An integral histogram: any window's colour counts from four corners.
    onehot = np.zeros((height + 1, width + 1, BINS), dtype=np.int32)
    onehot[1:, 1:][np.arange(height)[:, None], np.arange(width)[None, :], bins] = 1
    integral = onehot.cumsum(axis=0).cumsum(axis=1)
    best = 0.0
    for fraction in (1.0,) if whole else WINDOWS:
        side_y, side_x = (height, width) if whole else (max(2, round(height * fraction)),) * 2
        side_x = min(side_x, width)
        step_y, step_x = max(1, side_y // 2), max(1, side_x // 2)
        tops = np.arange(0, height - side_y + 1, step_y)
        lefts = np.arange(0, width - side_x + 1, step_x)
        top, left = tops[:, None], lefts[None, :]
        counts = (
            integral[top + side_y, left + side_x]
            - integral[top, left + side_x]
            - integral[top + side_y, left]
            + integral[top, left]
        )  # (tops, lefts, bins)
        shares = counts / float(side_y * side_x)
        best = max(best, float(np.minimum(shares, reference).sum(axis=-1).max()))
    return round(min(1.0, best), 4)
