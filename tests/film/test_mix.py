"""The mix with the real ffmpeg: loudness target and true-peak ceiling met, the bed ducked under the voice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tale_cli.errors import InputError
from tale_cli.film.mix import MixOptions, measure_loudness, mix_film
from tale_cli.media.ffmpeg import probe, run_ffmpeg
from tests.sound import sounding_spans
from tests.videos import make_audio, make_clip, mean_volume_db


@pytest.fixture(scope="module")
def stems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 6-second film with a tone of its own (440 Hz), a voice track "speaking" (1500 Hz) from 2 s to 4 s, a bed
    (220 Hz): each stem is heard apart from the others by its pitch."""
    folder = tmp_path_factory.mktemp("stems")
    film = make_clip(folder / "film.mp4", seconds=6.0, width=160, height=90, color="blue")
    voice = folder / "voice.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=1500:sample_rate=48000:duration=2,volume=0.5,adelay=2000:all=1,"
                "apad=whole_dur=6", "-t", "6", "-ac", "1", "-c:a", "pcm_s16le", str(voice)])  # fmt: skip
    return {"film": film, "voice": voice, "bed": make_audio(folder / "bed.m4a", seconds=2.5, frequency=220)}


@pytest.mark.parametrize("target", [-16.0, -14.0, -23.0])
def test_the_mix_meets_its_loudness_target_and_peak_ceiling(
    stems: dict[str, Path], tmp_path: Path, target: float
) -> None:
    output = tmp_path / "mixed.mp4"
    result = mix_film(stems["film"], output, MixOptions(voice=stems["voice"], music=stems["bed"], loudness_lufs=target))
    measured = measure_loudness(output)
    assert abs(measured.integrated_lufs - target) <= 1.0
    assert measured.true_peak_db <= -1.5
    assert result.loudness.integrated_lufs == measured.integrated_lufs
    info = probe(output)
    assert abs(info.duration_s - 6.0) < 0.1 and info.video_codec == "h264" and info.audio_codec == "aac"


def test_the_bed_is_ducked_under_the_voice_and_loops(stems: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "mixed.mp4"
    mix_film(stems["film"], output, MixOptions(music=stems["bed"]))
    bed_alone = mean_volume_db(output, start=4.5, seconds=1.0)  # the 2.5 s bed looped: still playing at 5 s
    assert sounding_spans(output) == [(0.0, pytest.approx(6.0, abs=0.05))]
    ducked = tmp_path / "ducked.mp4"
    mix_film(stems["film"], ducked, MixOptions(voice=stems["voice"], music=stems["bed"]))
    # The bed sits under the target by its level, lower still while the voice speaks (2-4 s), and comes back after.
    before, during, after = (_band_db(ducked, start, BED) for start in (0.5, 2.5, 5.0))
    assert before < bed_alone - 6
    assert during < before - 6 and after > during + 6
    # The film's own sound is ducked the same way.
    own_before, own_during = (_band_db(ducked, start, OWN) for start in (0.5, 2.5))
    assert own_during < own_before - 6


BED = "lowpass=f=300,lowpass=f=300"
OWN = "bandpass=f=440:width_type=q:width=4,bandpass=f=440:width_type=q:width=4"


def _band_db(path: Path, start: float, band: str) -> float:
    """The mean level over one second of one stem, the others filtered out by pitch."""
    stderr = run_ffmpeg(["-ss", f"{start}", "-t", "1", "-i", str(path), "-map", "0:a:0", "-af",
                         f"{band},volumedetect", "-f", "null", "-"])  # fmt: skip
    return float(stderr.split("mean_volume: ")[1].split(" dB")[0])


def test_nothing_to_mix_is_refused(stems: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to mix"):
        mix_film(stems["film"], tmp_path / "x.mp4", MixOptions())
    silent = tmp_path / "silent.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=sample_rate=48000:channel_layout=mono", "-t", "6", str(silent)])
    with pytest.raises(InputError, match="is silent"):
        mix_film(make_clip(tmp_path / "quiet.mp4", seconds=6.0, width=160, height=90, audio=False),
                 tmp_path / "x.mp4", MixOptions(voice=silent))  # fmt: skip
    assert not (tmp_path / "x.mp4").exists()
