"""The film's sound: its own audio, the voice track and a music bed, ducked under the voice and brought to a
loudness target (EBU R128) with a true-peak ceiling, measured on the finished file rather than assumed."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from tale_cli.errors import InputError
from tale_cli.media.ffmpeg import EncodeSettings, FFmpegError, input_arg, probe, probe_audio, run_ffmpeg

DEFAULT_LOUDNESS_LUFS = -14.0
TRUE_PEAK_DB = -1.5
# The limiter holds sample peaks this far under the true-peak ceiling: peaks between samples and the AAC encode
# add a few tenths of a dB.
PEAK_MARGIN_DB = 1.0
DEFAULT_MUSIC_LEVEL_LU = -14.0
# Under speech the bed and the shots' own sound drop by up to about 12 dB, and come back within half a second.
DUCK = "sidechaincompress=threshold=0.02:ratio=6:attack=20:release=400:knee=4"
# The AAC encoder's fast coder: a third of the default's time, and no audible difference for speech at 128 kb/s.
FAST_AAC = ("-aac_coder", "fast")
# The mixed film may differ from the stitched one by about an AAC frame, not more.
MAX_DRIFT_S = 0.1
# ebur128 reports this for a signal with nothing above its gate.
SILENT_LUFS = -70.0


@dataclass(frozen=True)
class Loudness:
    """EBU R128 figures of a whole file: integrated loudness, true peak, loudness range."""

    integrated_lufs: float
    true_peak_db: float
    range_lu: float

    @property
    def silent(self) -> bool:
        return self.integrated_lufs <= SILENT_LUFS + 0.05


@dataclass
class MixOptions:
    voice: Path | None = None
    music: Path | None = None
    loudness_lufs: float = DEFAULT_LOUDNESS_LUFS
    true_peak_db: float = TRUE_PEAK_DB
    music_level_lu: float = DEFAULT_MUSIC_LEVEL_LU
    encode: EncodeSettings = field(default_factory=EncodeSettings)


@dataclass(frozen=True)
class MixResult:
    output: Path
    loudness: Loudness  # measured on the written file


_SUMMARY = re.compile(
    r"Summary:.*?I:\s+(-?[\d.]+|-inf) LUFS.*?LRA:\s+(-?[\d.]+) LU"
    r"(?:.*?Peak:\s+(-?[\d.]+|-inf) dBFS)?",
    re.DOTALL,
)


def _number(text: str) -> float:
    return -math.inf if text == "-inf" else float(text)


def _parse_summary(stderr: str, what: str) -> Loudness:
    found = _SUMMARY.search(stderr)
    if found is None:
        raise FFmpegError(f"ffmpeg measured no loudness in {what}")
    integrated, loudness_range, peak = found.groups()
    return Loudness(_number(integrated), _number(peak) if peak else math.nan, float(loudness_range))


def measure_loudness(path: Path, *, seconds: float | None = None, peak: bool = True, stereo: bool = False) -> Loudness:
    """Integrated loudness, true peak (NaN with `peak=False`, which is faster) and loudness range of a file's
    first audio stream, from ffmpeg's ebur128 filter; with `stereo`, of the stream as the mix hears it (a mono
    track on both channels)."""
    limit = ["-t", f"{seconds:.3f}"] if seconds is not None else []
    meter = "ebur128=peak=true:framelog=quiet" if peak else "ebur128=framelog=quiet"
    if stereo:
        meter = f"aformat=sample_fmts=fltp:channel_layouts=stereo,{meter}"
    stderr = run_ffmpeg([*limit, "-i", input_arg(path), "-map", "0:a:0", "-filter:a", meter, "-f", "null", "-"])
    return _parse_summary(stderr, path.name)


def _gain_db(measured: Loudness, wanted_lufs: float) -> float:
    return 0.0 if measured.silent else wanted_lufs - measured.integrated_lufs


def _graph(film_has_audio: bool, voice_gain: float | None, music_gain: float | None, total: int, rate: int) -> str:
    """The mix up to `[mixed]`: the film's sound and the bed ducked under the voice, all three summed.

    Every input is made exactly `total` samples long (padded, looped or cut) before the sum, and the sum runs to
    the longest: ending it with the first input instead drops whatever the other inputs' threads had not yet
    delivered, a different number of samples each run.
    """
    stereo = f"aresample={rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
    exact = f"apad=whole_len={total},atrim=end_sample={total}"
    source = "[0:a:0]" + stereo if film_has_audio else f"anullsrc=channel_layout=stereo:sample_rate={rate}"
    chains = [f"{source},{exact}[own]"]
    parts = []
    music_input = 1
    if voice_gain is not None:
        music_input = 2
        keys = 2 if music_gain is not None else 1
        chains.append(f"[1:a:0]{stereo},{exact},volume={voice_gain:.3f}dB,asplit={keys + 1}[voice]" +
                      "".join(f"[key{n}]" for n in range(keys)))  # fmt: skip
        chains.append(f"[own][key0]{DUCK}[own_ducked]")
        parts += ["[own_ducked]", "[voice]"]
    else:
        parts.append("[own]")
    if music_gain is not None:
        bed = f"[{music_input}:a:0]{stereo},{exact},volume={music_gain:.3f}dB"
        if voice_gain is not None:
            chains.append(f"{bed}[bed_loud]")
            chains.append(f"[bed_loud][key1]{DUCK}[bed]")
        else:
            chains.append(f"{bed}[bed]")
        parts.append("[bed]")
    chains.append(f"{''.join(parts)}amix=inputs={len(parts)}:duration=longest:dropout_transition=0:normalize=0[mixed]")
    return ";".join(chains)


def _level(gain_db: float, ceiling_db: float) -> str:
    """A gain, then a look-ahead limiter whose ceiling keeps the true peak under the target's, AAC included."""
    limit = 10 ** ((ceiling_db - PEAK_MARGIN_DB) / 20)
    return f"volume={gain_db:.3f}dB,alimiter=limit={limit:.5f}:attack=5:release=50:level=false"


def _measure_mix(inputs: list[str], graph: str, level: str) -> Loudness:
    meter = f"{level}," if level else ""
    stderr = run_ffmpeg([*inputs, "-filter_complex", f"{graph};[mixed]{meter}ebur128=framelog=quiet[out]",
                         "-map", "[out]", "-f", "null", "-"])  # fmt: skip
    return _parse_summary(stderr, "the mix")


def mix_film(film: Path, output: Path, options: MixOptions) -> MixResult:
    """Write `output`: `film`'s picture and subtitles as they are, and its sound mixed with the voice track and the
    music bed, brought to the loudness target under the true-peak ceiling, and measured again once written.

    The bed loops or is cut to the film's length and sits `music_level_lu` under the target before it is ducked.
    """
    if options.voice is None and options.music is None:
        raise InputError("nothing to mix: no voice track and no music")
    info = probe(film)
    rate = options.encode.audio_rate
    total = round(info.duration_s * rate)
    inputs = ["-i", input_arg(film)]
    # A film whose own sound is silence (the preview's, a local model's) is mixed from silence: nothing to duck.
    own_sound = info.has_audio and not measure_loudness(film, peak=False).silent
    voice_gain = music_gain = None
    voice: Loudness | None = None
    if options.voice is not None:
        voice = measure_loudness(options.voice, peak=False, stereo=True)
        voice_gain = _gain_db(voice, options.loudness_lufs)
        inputs += ["-i", input_arg(options.voice)]
    if options.music is not None:
        probe_audio(options.music)
        music = measure_loudness(options.music, seconds=info.duration_s, peak=False)
        music_gain = _gain_db(music, options.loudness_lufs + options.music_level_lu)
        inputs += ["-stream_loop", "-1", "-i", input_arg(options.music)]
    graph = _graph(own_sound, voice_gain, music_gain, total, rate)
    # Two measurements, then one encode: the mix as it is (the gain to the target), then gained and limited (what
    # the limiter took off the loudness, given back in the gain that is written). A mix of the voice alone is the
    # voice as measured, already at the target: its first measurement is that one.
    if voice is not None and not own_sound and options.music is None:
        raw = replace(voice, integrated_lufs=voice.integrated_lufs + (voice_gain or 0.0))
    else:
        raw = _measure_mix(inputs, graph, "")
    if raw.silent:
        raise InputError(f"the mix of {film.name} is silent: the voice track and the music hold no sound")
    gain = options.loudness_lufs - raw.integrated_lufs
    limited = _measure_mix(inputs, graph, _level(gain, options.true_peak_db))
    gain += options.loudness_lufs - limited.integrated_lufs
    normalised = f"{graph};[mixed]{_level(gain, options.true_peak_db)},atrim=end_sample={total}[out]"
    part = output.with_name(output.name + ".part")
    try:
        run_ffmpeg([
            *inputs, "-filter_complex", normalised,
            "-map", "0:v:0", "-map", "[out]", "-map", "0:s?", "-c:v", "copy", "-c:s", "copy",
            *options.encode.audio_args(), *FAST_AAC, "-movflags", "+faststart", "-f", "mp4", input_arg(part),
        ])  # fmt: skip
        mixed_s = probe(part).duration_s
        if abs(mixed_s - info.duration_s) > MAX_DRIFT_S:
            raise FFmpegError(
                f"the mixed film lasts {mixed_s:.2f} s, not {info.duration_s:.2f} s; {output} was left as it was"
            )
        loudness = measure_loudness(part)
        os.replace(part, output)
    finally:
        part.unlink(missing_ok=True)
    return MixResult(output, loudness)
