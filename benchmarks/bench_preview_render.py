"""Preview render of the 8-shot example film ÷ ffmpeg alone encoding 64 s of a 1280×720@24 test pattern
with the same codec settings (goal ≤ 2.0)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tale_cli.config import load_defaults
from tale_cli.media.ffmpeg import EncodeSettings, ffmpeg_exe

ROOT = Path(__file__).resolve().parents[1]


def baseline(output: Path) -> float:
    defaults = load_defaults()
    encode = EncodeSettings(preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate)
    command = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=24:duration=64",
        "-f",
        "lavfi",
        "-i",
        f"anullsrc=channel_layout=stereo:sample_rate={encode.audio_rate}",
        "-t",
        "64",
        *encode.video_args(24),
        *encode.audio_args(),
        "-movflags",
        "+faststart",
        str(output),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def tale_render(out: Path) -> float:
    command = [sys.executable, "-m", "tale_cli", "render", str(ROOT / "examples" / "story.md"), "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    tale_times, base_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            base_times.append(baseline(Path(tmp) / f"base-{run}.mp4"))
            tale_times.append(tale_render(Path(tmp) / f"out-{run}"))
    base, tale = min(base_times), min(tale_times)
    print(f"ffmpeg alone, 64 s 1280x720@24 test pattern: {base:.2f} s (best of {runs})")
    print(f"tale render examples/story.md (preview, cold): {tale:.2f} s (best of {runs})")
    print(f"ratio tale/ffmpeg = {tale / base:.2f} (goal <= 2.0)")


if __name__ == "__main__":
    main()
