"""Reading an MP4's index in Python must agree with ffmpeg's probe, and step aside for what it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tale_cli.media.ffmpeg import EncodeSettings, input_arg, probe, run_ffmpeg
from tale_cli.media.mp4 import Extent, mp4_extent, mp4_facts
from tests.videos import make_clip


@pytest.mark.parametrize(
    ("width", "height", "fps", "audio", "seconds"),
    [(160, 90, 24, True, 1.0), (320, 240, 30, False, 0.5), (90, 160, 25, True, 1.5)],
)
def test_facts_match_ffmpegs_probe(
    tmp_path: Path, width: int, height: int, fps: int, audio: bool, seconds: float
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=seconds, width=width, height=height, fps=fps, audio=audio)
    facts = mp4_facts(clip)
    assert facts is not None
    ffmpeg = probe(clip)
    assert facts.info.stream_signature() == ffmpeg.stream_signature()
    assert facts.info.duration_s == pytest.approx(ffmpeg.duration_s, abs=0.011)
    assert (facts.info.width, facts.info.height, facts.info.fps, facts.info.has_audio) == (width, height, fps, audio)
    assert facts.video_config[0] == 1 and facts.video_config[1] == 100  # avcC version 1, High profile


def test_same_settings_give_the_same_decoder_configuration(tmp_path: Path) -> None:
    first = mp4_facts(make_clip(tmp_path / "a.mp4", seconds=0.5, width=160, height=90, color="red"))
    second = mp4_facts(make_clip(tmp_path / "b.mp4", seconds=1.0, width=160, height=90, color="testsrc"))
    other = mp4_facts(make_clip(tmp_path / "c.mp4", seconds=0.5, width=320, height=180, color="red"))
    assert first is not None and second is not None and other is not None
    assert first.video_config == second.video_config
    assert first.video_config != other.video_config


def _encode(path: Path, *codec: str) -> Path:
    sources = ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=0.5",
               "-f", "lavfi", "-i", "sine=duration=0.5:sample_rate=48000"]  # fmt: skip
    run_ffmpeg([*sources, *codec, input_arg(path)])
    return path


def test_other_codecs_are_left_to_ffmpeg(tmp_path: Path) -> None:
    audio = EncodeSettings().audio_args()
    assert mp4_facts(_encode(tmp_path / "mpeg4.mp4", "-c:v", "mpeg4", *audio)) is None
    assert mp4_facts(_encode(tmp_path / "444.mp4", "-c:v", "libx264", "-pix_fmt", "yuv444p", *audio)) is None
    assert mp4_facts(_encode(tmp_path / "mp3.mp4", "-c:v", "libx264", "-c:a", "libmp3lame")) is None
    assert probe(tmp_path / "mpeg4.mp4").video_codec == "mpeg4"


def test_non_mp4_files_are_left_to_ffmpeg(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a film", encoding="utf-8")
    truncated = tmp_path / "truncated.mp4"
    data = make_clip(tmp_path / "whole.mp4", seconds=0.5, width=160, height=90).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    assert mp4_facts(text) is None
    assert mp4_facts(truncated) is None
    assert mp4_facts(tmp_path / "missing.mp4") is None
    assert mp4_facts(tmp_path) is None


def test_extent_measures_what_the_file_holds_not_what_its_index_promises(tmp_path: Path) -> None:
    whole = make_clip(tmp_path / "whole.mp4", seconds=2.0, width=160, height=90, color="testsrc", faststart=True)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert mp4_extent(whole) == Extent(promised_s=2.0, held_s=2.0, complete=True)
    extent = mp4_extent(cut)
    assert extent is not None and not extent.complete
    assert extent.promised_s == 2.0 and 0.5 < extent.held_s < 1.5
    assert mp4_extent(tmp_path / "missing.mp4") is None
