"""The stitch library on its fast path (8 matching 8 s 1280x720@24 clips with sound, Tale's codec settings)
÷ ffmpeg's concat demuxer with stream copy on the same clips (goal <= 1.5). Medians of several runs."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tale_cli.config import load_defaults  # noqa: E402
from tale_cli.film.stitch import StitchOptions, stitch  # noqa: E402
from tale_cli.media.ffmpeg import EncodeSettings, ffmpeg_exe, probe  # noqa: E402
from tests.videos import make_clip  # noqa: E402

CLIPS, SECONDS, WIDTH, HEIGHT, FPS = 8, 8.0, 1280, 720, 24


def concat_copy(clips: list[Path], output: Path, *extra: str) -> float:
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{clip}'\n" for clip in clips), encoding="utf-8")
    command = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
               "-c", "copy", *extra, str(output)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def tale_fast_path(clips: list[Path], output: Path, encode: EncodeSettings, captions: list[str] | None) -> float:
    options = StitchOptions(width=WIDTH, height=HEIGHT, fps=FPS, captions=captions, encode=encode)
    start = time.perf_counter()
    result = stitch(clips, output, options)
    elapsed = time.perf_counter() - start
    if not result.fast_path:
        raise SystemExit("the stitch did not take its fast path: the benchmark is invalid")
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    defaults = load_defaults()
    encode = EncodeSettings(preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate)
    narration = [f"Shot {index}: the story goes on." for index in range(1, CLIPS + 1)]
    times: dict[str, list[float]] = {"base": [], "base_faststart": [], "tale": [], "tale_captions": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = [
            make_clip(folder / f"shot-{index:02d}.mp4", seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS,
                      color="testsrc")
            for index in range(1, CLIPS + 1)
        ]  # fmt: skip
        tale_fast_path(clips, folder / "warm.mp4", encode, None)  # imports and page cache, not timed
        for run in range(runs):
            steps = [
                ("base", lambda: concat_copy(clips, folder / "base.mp4")),
                ("base_faststart", lambda: concat_copy(clips, folder / "base-fs.mp4", "-movflags", "+faststart")),
                ("tale", lambda: tale_fast_path(clips, folder / "tale.mp4", encode, None)),
                ("tale_captions", lambda: tale_fast_path(clips, folder / "tale-cc.mp4", encode, narration)),
            ]
            for name, step in steps if run % 2 == 0 else reversed(steps):
                times[name].append(step())
        film_s = probe(folder / "tale.mp4").duration_s
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{CLIPS} clips of {SECONDS:g} s {WIDTH}x{HEIGHT}@{FPS} -> {film_s:.2f} s film; medians of {runs} runs")
    print(f"ffmpeg concat demuxer, -c copy:               {median['base']:.3f} s")
    print(f"ffmpeg concat demuxer, -c copy +faststart:    {median['base_faststart']:.3f} s")
    print(f"tale stitch() fast path (checks, +faststart): {median['tale']:.3f} s")
    print(f"tale stitch() fast path + soft subtitles/SRT: {median['tale_captions']:.3f} s")
    print(f"ratio tale/ffmpeg = {median['tale'] / median['base']:.2f} (goal <= 1.5)")
    print(f"  with subtitles: {median['tale_captions'] / median['base']:.2f}; "
          f"vs concat +faststart: {median['tale'] / median['base_faststart']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
