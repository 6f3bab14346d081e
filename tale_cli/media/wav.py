"""Speech as WAV files: write the 16-bit samples a voice backend (or a video model that makes sound) gives, read a
clip's length, trim the silence a backend leaves around the words."""

from __future__ import annotations

import wave
from pathlib import Path

from tale_cli.errors import BackendError
from tale_cli.keys.seal import clear_path

# Samples quieter than this (of full scale) at a clip's ends are trimmed: silence a backend adds around speech.
TRIM_LEVEL = 0.01
TRIM_KEEP_S = 0.03


def write_wav(path: Path, pcm: bytes, rate: int, channels: int = 1) -> None:
    """16-bit little-endian samples, interleaved when there are several channels (every voice backend gets or makes
    mono), as a WAV file."""
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(pcm)


def wav_seconds(path: Path) -> float:
    """A 16-bit PCM WAV's length; BackendError when the file is not one."""
    try:
        with clear_path(path) as readable, wave.open(str(readable), "rb") as clip:
            frames, rate, width = clip.getnframes(), clip.getframerate(), clip.getsampwidth()
    except (OSError, EOFError, wave.Error) as error:
        raise BackendError(f"{path.name} is not a readable WAV file: {error}") from None
    if width != 2 or rate <= 0 or frames == 0:
        raise BackendError(f"{path.name} holds no 16-bit speech")
    return frames / rate


def trim_silence(path: Path) -> None:
    """Cut the near-silence a backend leaves before and after the speech (a little is kept), in place."""
    import numpy as np

    with clear_path(path) as readable, wave.open(str(readable), "rb") as clip:
        channels, rate = clip.getnchannels(), clip.getframerate()
        samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2").reshape(-1, channels)
    loud = np.flatnonzero(np.abs(samples).max(axis=1) > TRIM_LEVEL * 32767)
    if loud.size == 0:
        raise BackendError(f"{path.name} is silent: the voice backend spoke nothing")
    keep = round(TRIM_KEEP_S * rate)
    kept = samples[max(0, loud[0] - keep) : loud[-1] + keep + 1]
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(kept.astype("<i2").tobytes())
