"""Voice tracks: clips laid at their places on one mono WAV of the film's length (the render's voice track),
and, for `tale stitch --voice-dir DIR`, a folder of recordings laid on the film.

A file named for a shot (shot-03.wav, shot-03-2.wav, 03.mp3) plays in that shot, starting LEAD_S after the
shot does, the shot's files one after another GAP_S apart in the order of their take number; any other file
plays from the film's start (a whole voice track, such as a run's voice/track.wav). Nothing is sped up:
a shot's recordings that would run past its end are refused before anything is written, naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tale_cli.errors import InputError
from tale_cli.media.ffmpeg import input_arg, probe_audio, run_ffmpeg
from tale_cli.story.pace import GAP_S, LEAD_S

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus"})
TRACK_RATE = 48_000
_SHOT_FILE = re.compile(r"^(?:shot-?)?(\d{1,3})(?:-(\d{1,3}))?$", re.IGNORECASE)


def _windows(durations: Sequence[float], transition_s: float) -> list[tuple[float, float]]:
    from tale_cli.film.voice import shot_windows

    return shot_windows(list(durations), transition_s)


def place_voice_files(folder: Path, durations: Sequence[float], transition_s: float = 0.0) -> list[tuple[float, Path]]:
    """Where each recording in `folder` starts in the film, checked to fit its shot."""
    if not folder.is_dir():
        raise InputError(f"voice folder not found: {folder}", hint="give a folder of recordings (shot-01.wav, …)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputError(
            f"{folder} holds no recordings", hint="name them for their shots: shot-01.wav, shot-01-2.wav, shot-02.mp3"
        )
    windows = _windows(durations, transition_s)
    per_shot: dict[int, list[tuple[int, Path]]] = {}
    placed: list[tuple[float, Path]] = []
    for path in files:
        match = _SHOT_FILE.match(path.stem)
        if match is None:
            placed.append((0.0, path))
            continue
        shot = int(match.group(1))
        if not 1 <= shot <= len(durations):
            raise InputError(f"{path.name} is named for shot {shot}, and the film has {len(durations)} shots")
        per_shot.setdefault(shot, []).append((int(match.group(2) or 1), path))
    for shot, takes in sorted(per_shot.items()):
        begin, end = windows[shot - 1]
        at = begin + LEAD_S
        for _, path in sorted(takes):
            length = probe_audio(path)
            if at + length > end + 1e-3:
                raise InputError(
                    f"{path.name} lasts {length:.1f} s and runs past the end of shot {shot} "
                    f"(room for {max(0.0, end - at):.1f} s from {at - begin:.2f} s into it)",
                    hint="shorten the recording, or lengthen the shot in plan.json and render it again",
                )
            placed.append((at, path))
            at += length + GAP_S
    return sorted(placed, key=lambda item: (item[0], item[1].name))


def track_from_dir(folder: Path, durations: Sequence[float], transition_s: float, output: Path) -> Path:
    """Every recording of `folder` at its place on one mono WAV track of the film's length, written to `output`."""
    placed = place_voice_files(folder, durations, transition_s)
    film_s = sum(durations) - transition_s * (len(durations) - 1)
    return lay_clips([(path, start, 1.0) for start, path in placed], film_s, output)


def lay_clips(clips: Sequence[tuple[Path, float, float]], film_s: float, output: Path) -> Path:
    """Clips (file, start in seconds, tempo: above 1 sped up, pitch kept) on one mono 16-bit WAV track of
    `film_s`, written to `output`: the film's voice track."""
    total = round(film_s * TRACK_RATE)
    inputs: list[str] = []
    chains: list[str] = []
    for number, (path, start, tempo) in enumerate(clips):
        inputs += ["-i", input_arg(path)]
        faster = f"atempo={tempo:.6f}," if tempo > 1.0 else ""
        chains.append(
            f"[{number}:a:0]aresample={TRACK_RATE},aformat=sample_fmts=fltp:channel_layouts=mono,{faster}"
            f"adelay={round(start * TRACK_RATE)}S:all=1[c{number}]"
        )
    pads = "".join(f"[c{number}]" for number in range(len(clips)))
    chains.append(
        f"{pads}amix=inputs={len(clips)}:duration=longest:normalize=0,"
        f"apad=whole_len={total},atrim=end_sample={total}[track]"
    )
    run_ffmpeg([*inputs, "-filter_complex", ";".join(chains), "-map", "[track]", "-c:a", "pcm_s16le",
                "-ar", str(TRACK_RATE), "-ac", "1", "-f", "wav", input_arg(output)])  # fmt: skip
    return output
