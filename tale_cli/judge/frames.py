"""A clip's frames for the judge: every frame small and grey for the no-model checks, a few in colour for the models."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from tale_cli.media.ffmpeg import input_arg, run_ffmpeg

# The no-model checks read every frame at this size: enough to see a cut, a flash or a frozen picture.
CHECK_SIZE = (64, 36)
# The models see frames no longer than this on their long side (detectors resize further themselves).
SAMPLE_SIDE = 640


def grey_frames(clip: Path, *, size: tuple[int, int] = CHECK_SIZE) -> np.ndarray:
    """Every frame of `clip` as 8-bit grey, `size` (width, height): an array (frames, height, width)."""
    width, height = size
    args = ["-v", "error", "-i", input_arg(clip), "-map", "0:v:0", "-vf", f"scale={width}:{height}:flags=area",
            "-pix_fmt", "gray", "-f", "rawvideo"]  # fmt: skip
    if hasattr(os, "memfd_create"):  # the frames in memory: no picture of the clip on any disk
        fd = os.memfd_create("frames.raw")
        try:
            run_ffmpeg([*args, f"/dev/fd/{fd}"], pass_fds=[fd])
            data = np.frombuffer(Path(f"/proc/self/fd/{fd}").read_bytes(), dtype=np.uint8).copy()
        finally:
            os.close(fd)
    else:
        with tempfile.TemporaryDirectory(prefix="tale-frames-") as work:
            raw = Path(work) / "frames.raw"
            run_ffmpeg([*args, input_arg(raw)])
            data = np.fromfile(raw, dtype=np.uint8)
    count = data.size // (width * height)
    return data[: count * width * height].reshape(count, height, width)


def sample_indexes(total: int, count: int) -> list[int]:
    """`count` frame numbers spread evenly over `total` frames, each in the middle of its stretch."""
    if total <= 0:
        return []
    count = min(count, total)
    return sorted({min(total - 1, int((i + 0.5) * total / count)) for i in range(count)})


def judged_frames(
    clip: Path, folder: Path, *, count: int, size: tuple[int, int] = CHECK_SIZE
) -> tuple[np.ndarray, list[Path]]:
    """One decode of `clip` for a judge with a model: every frame small and grey (for the no-model checks) and
    `count` frames spread over the clip as PNG files in `folder`, no longer than SAMPLE_SIDE on their long side."""
    from tale_cli.media.ffmpeg import probe
    from tale_cli.media.mp4 import mp4_facts

    facts = mp4_facts(clip)
    info = facts.info if facts is not None else probe(clip)
    indexes = sample_indexes(max(1, round(info.duration_s * info.fps)), count)
    width, height = size
    chosen = "+".join(f"eq(n\\,{index})" for index in indexes)
    fit = f"scale='if(gte(iw,ih),min({SAMPLE_SIDE},iw),-2)':'if(gte(iw,ih),-2,min({SAMPLE_SIDE},ih))'"
    graph = (
        f"[0:v:0]split=2[all][some];[all]scale={width}:{height}:flags=area,format=gray[grey];"
        f"[some]select='{chosen}',{fit}[picked]"
    )
    raw = folder / "frames.raw"
    run_ffmpeg(
        ["-v", "error", "-i", input_arg(clip), "-filter_complex", graph,
         "-map", "[grey]", "-f", "rawvideo", input_arg(raw),
         "-map", "[picked]", "-fps_mode", "passthrough", "-f", "image2", "-c:v", "png",
         input_arg(folder / "frame-%03d.png")]
    )  # fmt: skip
    data = np.fromfile(raw, dtype=np.uint8)
    raw.unlink()
    frames = data.size // (width * height)
    return data[: frames * width * height].reshape(frames, height, width), sorted(folder.glob("frame-*.png"))
