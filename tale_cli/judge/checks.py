"""The checks that need no model: a frozen clip (frames that barely change), a flash or black frame, and a clip
that should say a line and is silent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The typical change (0–1) between frames half the clip apart under which a clip counts as frozen: a still picture
# encoded by x264 measures below 0.0005, the animatic's slowest camera move 0.0022 (over half a second) and more.
FROZEN_MOTION = 0.001
# A frame this much brighter or darker (0–1) than both its neighbours is a flash.
FLASH_JUMP = 0.25
# A frame darker than this (mean 0–1) in a clip that is not dark itself is a black frame.
BLACK_LEVEL = 0.04
DARK_CLIP = 0.12


@dataclass(frozen=True)
class FrameChecks:
    """What the frames alone say about a clip."""

    frames: int
    motion: float  # the median change between frames half the clip apart, 0–1
    frozen: bool
    flashes: int  # frames far brighter or darker than both neighbours
    dark_frames: int  # black frames in a clip that is not dark
    # A shot whose lines the video model says in the clip (dialogue = "clip") and in whose sound no speech is heard.
    mute_line: bool = False

    @property
    def flash(self) -> bool:
        return self.flashes > 0 or self.dark_frames > 0


def check_frames(frames: np.ndarray) -> FrameChecks:
    """Check grey frames (frames, height, width) of one clip."""
    count = int(frames.shape[0])
    if count == 0:
        return FrameChecks(frames=0, motion=0.0, frozen=True, flashes=0, dark_frames=0)
    values = frames.astype(np.float32) / 255.0
    levels = values.mean(axis=(1, 2))
    # Frames half the clip apart: a slow camera move that changes little from one frame to the next has moved by
    # then; a frozen picture has not.
    lag = max(1, count // 2)
    drift = np.abs(values[lag:] - values[:-lag]).mean(axis=(1, 2)) if count > lag else np.zeros(1, dtype=np.float32)
    motion = float(np.median(drift))
    frozen = count > 1 and motion < FROZEN_MOTION
    flashes = 0
    if count > 2:
        middle = levels[1:-1]
        up = (middle - levels[:-2] > FLASH_JUMP) & (middle - levels[2:] > FLASH_JUMP)
        down = (levels[:-2] - middle > FLASH_JUMP) & (levels[2:] - middle > FLASH_JUMP)
        flashes = int(up.sum() + down.sum())
    dark_frames = int((levels < BLACK_LEVEL).sum()) if float(np.median(levels)) > DARK_CLIP else 0
    return FrameChecks(frames=count, motion=round(motion, 5), frozen=frozen, flashes=flashes, dark_frames=dark_frames)
