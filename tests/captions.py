"""Which of a shot's captions an animatic frame shows, read from its pixels (no OCR): each caption is drawn as the
preview backend draws it, and the frame's letters are where that caption's letters are, not the others'."""

from __future__ import annotations

import numpy as np

from tale_cli.backends.base import ShotRequest
from tale_cli.backends.local.preview import Caption, _draw_caption, _layer, captions


def letters(request: ShotRequest, caption: Caption) -> np.ndarray:
    """Where the caption's letters are: the opaque pixels of its layer (its box is half transparent)."""
    layer = np.asarray(_draw_caption(_layer(request)[0], request, caption))
    return layer[..., 3] >= 200


def shown_caption(frame: np.ndarray, request: ShotRequest) -> Caption:
    """The caption whose letters are brightest in `frame` against the rest of the caption box."""
    luma = frame.astype(np.float32).mean(axis=2)
    drawn = captions(request)
    masks = [letters(request, caption) for caption in drawn]
    box = np.logical_or.reduce(masks) if masks else np.zeros(luma.shape, bool)

    def contrast(mask: np.ndarray) -> float:
        rest = box & ~mask
        return float(luma[mask].mean() - (luma[rest].mean() if rest.any() else 0.0))

    return max(zip(drawn, masks, strict=True), key=lambda pair: contrast(pair[1]))[0]
