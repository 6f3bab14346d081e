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


@pytest.mark.parametrize("sound_s", [0.6, 1.7])
def test_encoded_frames_take_their_sound_cut_or_padded_to_the_clip(tmp_path, sound_s):
    import numpy as np

    from tale_cli.media.wav import write_wav
    from tests.sound import audio_seconds

    rate = 24_000
    wave = 0.3 * np.sin(2 * np.pi * 220 * np.arange(round(sound_s * rate)) / rate)
    stereo = (np.stack([wave, wave], axis=1) * 32767).astype("<i2")
    write_wav(tmp_path / "sound.wav", stereo.tobytes(), rate, channels=2)
    out = tmp_path / "shot.mp4.part"

    media.encode_frames(bytes(32 * 32 * 3 * 9), source_size=(32, 32), source_fps=8, output=out, width=48, height=32,
                        fps=12, duration_s=1.25, audio=tmp_path / "sound.wav")  # fmt: skip

    info = media.check_clip(out, expected_s=1.25, fps=12)
    assert (info.has_audio, info.audio_codec, info.audio_rate) == (True, "aac", 48_000)
    assert audio_seconds(out) == pytest.approx(1.25, abs=1 / 12)


def test_a_still_comes_back_from_h264_the_same_size_and_nearly_the_same(tmp_path):
    from PIL import Image, ImageChops, ImageStat

    source = tmp_path / "still.png"
    picture = Image.linear_gradient("L").resize((64, 32)).convert("RGB")
    picture.save(source)

    out = media.h264_still(source, tmp_path / "compressed.png", crf=33)

    with Image.open(out) as compressed:
        assert compressed.size == (64, 32)
        difference = ImageStat.Stat(ImageChops.difference(compressed.convert("RGB"), picture)).mean
    assert max(difference) < 12 and not (tmp_path / "compressed.png.mp4").exists()
