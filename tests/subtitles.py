"""Subtitles as their readers see them: an SRT file parsed, and a film's soft track read back by ffmpeg."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tale_cli.film.subtitles import Cue
from tale_cli.media.ffmpeg import ffmpeg_exe

_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d\d\d)")


def _seconds(stamp: str) -> float:
    match = _TIME.fullmatch(stamp)
    assert match, stamp
    hours, minutes, seconds, millis = (int(part) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def read_srt(path: Path) -> list[Cue]:
    cues = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        _number, times, *text = block.split("\n")
        start, end = times.split(" --> ")
        cues.append(Cue(_seconds(start), _seconds(end), "\n".join(text)))
    return cues


def shown(text: str) -> str:
    """What a reader shows: the word joiners that keep markup from being read as such are invisible."""
    return text.replace("\u2060", "")


def soft_track(film: Path) -> list[Cue]:
    """The film's soft subtitle track, read back by ffmpeg's mov_text decoder as SRT."""
    done = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(film), "-map", "0:s:0", "-f", "srt", "-"],
        capture_output=True,
        check=True,
    )
    out = film.with_suffix(".soft.srt")
    out.write_bytes(done.stdout.replace(b"\r\n", b"\n"))
    return read_srt(out)
