"""Conforming a provider's clip to the film's exact size, rate and length; synthetic clips for fakes."""

from __future__ import annotations

import pytest

from tale_cli.media import ffmpeg as media


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((256, 144, 30, 3.5, True), (320, 180, 24, 4.0)),  # smaller, faster, shorter, with sound: pad and resample
        ((320, 240, 24, 6.0, False), (320, 180, 24, 4.0)),  # other shape, longer: crop and trim
    ],
)
def test_conform_clip_hits_the_exact_format(tmp_path, source, target):
    width, height, fps, seconds, audio = source
    raw = media.synthetic_clip(
        tmp_path / "raw.mp4", width=width, height=height, fps=fps, duration_s=seconds, audio=audio
    )
    out = tmp_path / "shot.mp4.part"

    media.conform_clip(raw, out, width=target[0], height=target[1], fps=target[2], duration_s=target[3])

    info = media.probe(out)
    assert (info.width, info.height, info.fps) == target[:3]
    assert media.count_frames(out) == round(target[2] * target[3])
    assert info.has_audio == audio
    media.check_clip(out, expected_s=target[3], fps=target[2])


def test_synthetic_clip_is_a_real_mp4(tmp_path):
    clip = media.synthetic_clip(tmp_path / "c.mp4", width=160, height=90, fps=12, duration_s=2.0, seed=3)
    info = media.check_clip(clip, expected_s=2.0, fps=12)
    assert (info.width, info.height, info.video_codec, info.has_audio) == (160, 90, "h264", False)


def test_inspect_clip_reads_facts_and_frames_in_one_run(tmp_path):
    clip = media.synthetic_clip(tmp_path / "c.mp4", width=160, height=90, fps=12, duration_s=2.5, audio=True)
    info, frames = media.inspect_clip(clip)
    assert (info.width, info.height, info.fps, info.has_audio, frames) == (160, 90, 12.0, True, 30)
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(media.InputError):
        media.inspect_clip(tmp_path / "bad.mp4")
