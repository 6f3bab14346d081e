"""Small real video clips for tests, made by ffmpeg from its built-in test sources."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from tale_cli.media.ffmpeg import EncodeSettings, ffmpeg_exe, input_arg, probe, run_ffmpeg


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    fps: int = 24,
    audio: bool = True,
    color: str = "red",
    faststart: bool = False,
) -> Path:
    """An H.264 (+ AAC) MP4 encoded with Tale's own settings, so matching clips join by stream copy.

    color="testsrc" draws ffmpeg's moving test pattern; any other value is a solid colour. `faststart` puts
    the index first, as Tale's own shots have it (a file cut short then still has its index).
    """
    if color == "testsrc":
        video = f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"
    else:
        video = f"color=c={color}:size={width}x{height}:rate={fps}:duration={seconds}"
    settings = EncodeSettings()
    args = ["-f", "lavfi", "-i", video]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={settings.audio_rate}:duration={seconds}"]
        args += settings.audio_args()
    path.parent.mkdir(parents=True, exist_ok=True)
    index = ["-movflags", "+faststart"] if faststart else []
    run_ffmpeg([*args, *settings.video_args(fps), "-t", f"{seconds}", *index, input_arg(path)])
    return path


def make_audio(path: Path, *, seconds: float = 1.0, frequency: int = 330) -> Path:
    """An audio-only file (AAC in .m4a): a sine tone, for music-bed tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = f"sine=frequency={frequency}:sample_rate=48000:duration={seconds}"
    run_ffmpeg(["-f", "lavfi", "-i", tone, *EncodeSettings().audio_args(), input_arg(path)])
    return path


def frame_at(path: Path, seconds: float) -> np.ndarray:
    """The decoded RGB frame shown at `seconds`, as a (height, width, 3) uint8 array."""
    info = probe(path)
    completed = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-ss", f"{seconds:.3f}", "-i", input_arg(path),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    return np.frombuffer(completed.stdout, dtype=np.uint8).reshape(info.height, info.width, 3)


def mean_volume_db(path: Path, *, start: float = 0.0, seconds: float | None = None) -> float:
    """Mean loudness of a file's sound (dBFS) from `start`, as ffmpeg's volumedetect measures it."""
    window = ["-t", f"{seconds}"] if seconds is not None else []
    stderr = run_ffmpeg(["-ss", f"{start}", *window, "-i", input_arg(path), "-map", "0:a:0",
                         "-af", "volumedetect", "-f", "null", "-"])  # fmt: skip
    match = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", stderr)
    assert match, "volumedetect printed no mean volume"
    return float(match.group(1))


def describe(path: Path) -> str:
    """ffmpeg's own description of a file's streams (what `ffmpeg -i` prints)."""
    completed = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", input_arg(path)], capture_output=True, check=False
    )
    return completed.stderr.decode("utf-8", "replace")
