"""What a film's sound holds, measured by the real ffmpeg: silences (silencedetect) and loudness (ebur128)."""

from __future__ import annotations

import re
from pathlib import Path

from tale_cli.media.ffmpeg import input_arg, probe_audio, run_ffmpeg

# Quieter than this for at least MIN_SILENCE_S counts as silence: far under speech at -14 LUFS, far over AAC's noise.
SILENCE_DB = -50
MIN_SILENCE_S = 0.2


def silences(path: Path, *, noise_db: float = SILENCE_DB) -> list[tuple[float, float]]:
    """(start, end) of every silence in a file's sound, as ffmpeg's silencedetect finds them."""
    # A second of silence padded on: a silence that runs to the end of the file then ends in the padding, not
    # wherever the decoder happened to stop (which would read as a blip of sound at the very end).
    stderr = run_ffmpeg(["-nostats", "-i", input_arg(path), "-map", "0:a:0", "-af",
                         f"apad=pad_dur=1,silencedetect=noise={noise_db}dB:d={MIN_SILENCE_S}",
                         "-f", "null", "-"])  # fmt: skip
    starts = [float(value) for value in re.findall(r"silence_start: (-?[\d.]+)", stderr)]
    ends = [float(value) for value in re.findall(r"silence_end: ([\d.]+)", stderr)]
    total = probe_audio(path)
    return [(max(0.0, start), min(end, total)) for start, end in zip(starts, ends, strict=True) if start < total]


def sounding_s(path: Path, start: float, end: float, *, noise_db: float = SILENCE_DB) -> float:
    """Seconds of sound (not silence) between `start` and `end`."""
    silent = sum(
        max(0.0, min(end, s_end) - max(start, s_start)) for s_start, s_end in silences(path, noise_db=noise_db)
    )
    return (end - start) - silent


def sounding_spans(path: Path, *, noise_db: float = SILENCE_DB) -> list[tuple[float, float]]:
    """The stretches of sound between the silences."""
    total = probe_audio(path)
    spans: list[tuple[float, float]] = []
    at = 0.0
    for s_start, s_end in silences(path, noise_db=noise_db):
        if s_start > at:
            spans.append((at, s_start))
        at = s_end
    if at < total:
        spans.append((at, total))
    return spans


def audio_seconds(path: Path) -> float:
    """How long a file's first audio stream plays, read by decoding it (not the container's duration, which is the
    longest stream's)."""
    stderr = run_ffmpeg(["-i", input_arg(path), "-map", "0:a:0", "-f", "null", "-"])
    times = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", stderr)
    assert times, "ffmpeg decoded no audio"
    hours, minutes, seconds = times[-1]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
