"""Small real video clips for tests, made by ffmpeg from its built-in test sources."""

from __future__ import annotations

from pathlib import Path

from tale_cli.media import EncodeSettings, input_arg, run_ffmpeg


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    fps: int = 24,
    audio: bool = True,
    color: str = "red",
) -> Path:
    """An H.264 (+ AAC) MP4 encoded with Tale's own settings, so matching clips join by stream copy.

    color="testsrc" draws ffmpeg's moving test pattern; any other value is a solid colour.
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
    run_ffmpeg([*args, *settings.video_args(fps), "-t", f"{seconds}", input_arg(path)])
    return path
