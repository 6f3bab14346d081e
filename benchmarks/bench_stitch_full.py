"""Tale's full stitch ÷ MoviePy's concatenate_videoclips + write_videofile, on the same 8 matching 8 s
1280x720@24 clips with sound, both with x264 at Tale's preset and CRF (goal <= 0.65), and the peak memory
of each side (goal: Tale's no higher than MoviePy's).

Tale's side is kept off its stream-copy path by burning the narration into the picture
(`burn_subtitles=True`). The clips already match the film (size, fps, codecs), so Tale reads them as one
stream (concat demuxer), draws the captions with libass and re-encodes the picture in one ffmpeg process;
the sound, which nothing changes, is copied. MoviePy's side concatenates and re-encodes picture and sound
(no captions). A third side, ffmpeg alone (concat demuxer into the same encoders, sound re-encoded too),
is the floor for a stitch that re-encodes everything at this preset and CRF.

Each side runs in its own child process; its time is the library call (imports excluded), as wall-clock and
as CPU seconds of the child and every process it started (ffmpeg included); its memory is the peak total
resident memory of that process tree, sampled from /proc. On a machine whose cores are all busy the wall
clock tracks CPU seconds; on an idle one with many cores it shows how well each side uses them.
Usage: python benchmarks/bench_stitch_full.py [RUNS]   (Linux; MoviePy 2.x must be installed)
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tale_cli.media.ffmpeg import EncodeSettings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIPS, SECONDS, WIDTH, HEIGHT, FPS = 8, 8.0, 1280, 720, 24
PAGE = os.sysconf("SC_PAGE_SIZE")


def encode_settings() -> EncodeSettings:
    from tale_cli.config import load_defaults
    from tale_cli.media.ffmpeg import EncodeSettings

    defaults = load_defaults()
    return EncodeSettings(preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate)


# ----------------------------------------------------------------------------------------------
# The two sides, each run in a child process


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_tale(clips: list[Path], output: Path) -> float:
    from tale_cli.film.stitch import StitchOptions, stitch

    narration = [f'Shot {index}: "the story" goes on — 이야기는 계속된다.' for index in range(1, len(clips) + 1)]
    options = StitchOptions(
        width=WIDTH, height=HEIGHT, fps=FPS, captions=narration, burn_subtitles=True, encode=encode_settings()
    )
    start = time.perf_counter()
    result = stitch(clips, output, options)
    elapsed = time.perf_counter() - start
    if result.fast_path:
        raise SystemExit("tale took its stream-copy path: the benchmark is invalid")
    return elapsed


def run_moviepy(clips: list[Path], output: Path) -> float:
    from moviepy import VideoFileClip, concatenate_videoclips

    encode = encode_settings()
    start = time.perf_counter()
    sources = [VideoFileClip(str(clip)) for clip in clips]
    film = concatenate_videoclips(sources)
    film.write_videofile(
        str(output),
        fps=FPS,
        codec="libx264",
        preset=encode.preset,
        ffmpeg_params=["-crf", str(encode.crf), "-profile:v", "high", "-g", str(FPS * 2)],
        audio_codec="aac",
        audio_bitrate=encode.audio_bitrate,
        audio_fps=encode.audio_rate,
        temp_audiofile=str(output.with_name(output.stem + "-sound.m4a")),
        logger=None,
    )
    for source in sources:
        source.close()
    return time.perf_counter() - start


def run_ffmpeg_alone(clips: list[Path], output: Path) -> float:
    """The floor: ffmpeg's concat demuxer straight into the same encoders, no normalising, no captions."""
    from tale_cli.media.ffmpeg import ffmpeg_exe

    encode = encode_settings()
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{clip}'\n" for clip in clips), encoding="utf-8")
    command = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
               *encode.video_args(FPS), *encode.audio_args(), "-movflags", "+faststart", str(output)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


SIDES = {"tale": run_tale, "moviepy": run_moviepy, "ffmpeg": run_ffmpeg_alone}


def child(side: str, folder: Path, output: Path) -> None:
    clips = sorted(folder.glob("shot-*.mp4"))
    before = cpu_seconds()
    seconds = SIDES[side](clips, output)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds() - before}))


# ----------------------------------------------------------------------------------------------
# The parent: clips, timing, memory


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def measure(side: str, folder: Path, output: Path) -> tuple[float, float, int]:
    """(wall and CPU seconds of the library call, peak resident bytes of the child's process tree)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", side, str(folder), str(output)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{side} failed with exit code {process.returncode}")
    report = json.loads(stdout.strip().splitlines()[-1])
    return report["seconds"], report["cpu_seconds"], peak


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    from tale_cli.media.ffmpeg import probe
    from tests.videos import make_clip

    encode = encode_settings()
    load_before = f"{os.getloadavg()[0]:.1f}"
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    peaks: dict[str, list[int]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for index in range(1, CLIPS + 1):
            make_clip(folder / f"shot-{index:02d}.mp4", seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS,
                      color="testsrc")  # fmt: skip
        for run in range(runs):
            for side in list(SIDES) if run % 2 == 0 else reversed(SIDES):
                seconds, cpu_s, peak = measure(side, folder, folder / f"{side}.mp4")
                times[side].append(seconds)
                cpu[side].append(cpu_s)
                peaks[side].append(peak)
                print(f"  run {run + 1} {side:8s} {seconds:6.2f} s wall {cpu_s:6.2f} s CPU  "
                      f"peak {peak / 2**20:7.1f} MiB", flush=True)  # fmt: skip
        films = {side: probe(folder / f"{side}.mp4") for side in ("tale", "moviepy")}
    wall = {side: statistics.median(values) for side, values in times.items()}
    cpu_s = {side: statistics.median(values) for side, values in cpu.items()}
    peak = {side: max(values) for side, values in peaks.items()}
    print(f"{CLIPS} clips of {SECONDS:g} s {WIDTH}x{HEIGHT}@{FPS}, x264 preset {encode.preset} CRF {encode.crf}; "
          f"medians of {runs} runs, {os.cpu_count()} CPUs")  # fmt: skip
    for side, film in films.items():
        print(f"  {side} film: {film.duration_s:.2f} s {film.width}x{film.height} {film.fps:g} fps "
              f"{film.video_codec} {film.video_profile} {film.pixel_format} + {film.audio_codec}")  # fmt: skip
    print(f"load average before: {load_before}, after: {os.getloadavg()[0]:.1f}")
    for side, name in (
        ("tale", "tale stitch (burned subtitles, picture re-encoded)"),
        ("moviepy", "moviepy concatenate_videoclips + write_videofile"),
        ("ffmpeg", "(floor) ffmpeg alone: concat demuxer -> same encoders"),
    ):
        print(f"{name:56s} {wall[side]:7.2f} s wall {cpu_s[side]:7.2f} s CPU  peak {peak[side] / 2**20:6.0f} MiB")
    print(f"ratio tale/moviepy = {wall['tale'] / wall['moviepy']:.2f} (goal <= 0.65); "
          f"in CPU seconds: {cpu_s['tale'] / cpu_s['moviepy']:.2f}; floor ffmpeg/moviepy in CPU seconds: "
          f"{cpu_s['ffmpeg'] / cpu_s['moviepy']:.2f}")  # fmt: skip
    print(f"peak memory tale/moviepy = {peak['tale'] / peak['moviepy']:.2f} (goal <= 1.0)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
