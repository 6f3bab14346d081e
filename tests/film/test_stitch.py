"""Stitching clips into a film with the real ffmpeg: stream copy, normalising, captions, fades, music."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tale_cli.errors import ExitCode, InputError, OutputError
from tale_cli.film.stitch import (
    Cue,
    StitchOptions,
    cues_for,
    parse_transition,
    resolve_inputs,
    srt_text,
    stitch,
    write_srt,
)
from tale_cli.media.ffmpeg import ClipCheckError, FFmpegError, count_frames, probe
from tests.videos import describe, frame_at, make_audio, make_clip, mean_volume_db

W, H, FPS = 160, 90, 24
FRAME = 1 / FPS


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Matching clips (Tale's size and codec settings) and odd ones (other sizes, fps, no sound)."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "red": make_clip(folder / "red.mp4", seconds=1.0, width=W, height=H, color="red"),
        "blue": make_clip(folder / "blue.mp4", seconds=1.5, width=W, height=H, color="blue"),
        "green": make_clip(folder / "green.mp4", seconds=1.0, width=W, height=H, color="green"),
        "big_silent": make_clip(
            folder / "big silent.mp4", seconds=1.0, width=320, height=240, fps=30, audio=False, color="testsrc"
        ),
        "portrait": make_clip(folder / "portrait.mp4", seconds=1.0, width=90, height=160, fps=25, color="white"),
        "silent": make_clip(folder / "silent.mp4", seconds=1.0, width=W, height=H, audio=False, color="gray"),
    }


def _moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


# ----------------------------------------------------------------------------------------------
# The fast path: stream copy


def test_matching_clips_join_by_stream_copy(clips: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "film.mp4"
    result = stitch([clips["red"], clips["blue"], clips["green"]], output, StitchOptions(width=W, height=H, fps=FPS))

    assert result.fast_path is True
    assert result.clips == 3
    assert result.duration_s == pytest.approx(3.5)
    assert result.srt is None
    info = probe(output)
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert abs(info.duration_s - 3.5) <= 2 * FRAME
    assert count_frames(output) == 84
    assert _moov_before_mdat(output), "+faststart must put the index before the media data"
    assert not list(tmp_path.glob("*.part"))


def test_fast_path_is_refused_when_clips_differ_from_the_target(clips: dict[str, Path], tmp_path: Path) -> None:
    result = stitch([clips["red"], clips["blue"]], tmp_path / "film.mp4", StitchOptions(width=320, height=180))

    assert result.fast_path is False
    info = probe(result.output)
    assert (info.width, info.height, info.fps) == (320, 180, 24)


def test_fast_path_with_captions_adds_soft_subtitles(clips: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "film.mp4"
    captions = ["The fox: \"quick\" and 'brown'", "", "여우가 달린다 100%"]
    result = stitch(
        [clips["red"], clips["blue"], clips["green"]],
        output,
        StitchOptions(width=W, height=H, fps=FPS, captions=captions),
    )

    assert result.fast_path is True
    assert result.srt == tmp_path / "film.srt"
    assert result.srt.read_text(encoding="utf-8") == (
        "1\n00:00:00,000 --> 00:00:01,000\nThe fox: \"quick\" and 'brown'\n\n"
        "2\n00:00:02,500 --> 00:00:03,500\n여우가 달린다 100%\n"
    )
    assert "Subtitle: mov_text" in describe(output)


# ----------------------------------------------------------------------------------------------
# The slow path: one filter graph


def test_heterogeneous_clips_become_one_film(clips: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "film.mp4"
    parts = [clips["red"], clips["big_silent"], clips["portrait"]]
    result = stitch(parts, output, StitchOptions(width=W, height=H, fps=FPS))

    assert result.fast_path is False
    assert result.duration_s == pytest.approx(3.0)
    info = probe(output)
    assert (info.width, info.height, info.fps, info.pixel_format) == (W, H, FPS, "yuv420p")
    assert (info.video_codec, info.audio_codec, info.audio_rate, info.audio_channels) == (
        "h264",
        "aac",
        48000,
        "stereo",
    )
    assert abs(info.duration_s - 3.0) <= 2 * FRAME
    assert count_frames(output) == 72
    assert _moov_before_mdat(output)
    # The portrait clip is scaled to fit and padded: black bars left and right, white in the middle.
    portrait = frame_at(output, 2.5).astype(int)
    assert portrait[H // 2, 3].max() < 40
    assert portrait[H // 2, W // 2].min() > 200
    # The silent clip got a silent track; the others keep their tone.
    assert mean_volume_db(output, start=1.1, seconds=0.8) < -80
    assert mean_volume_db(output, start=0.1, seconds=0.8) > -40


def test_fade_transition_shortens_the_film_honestly(clips: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "film.mp4"
    captions = ["one", "two", "three"]
    result = stitch(
        [clips["red"], clips["blue"], clips["green"]],
        output,
        StitchOptions(width=W, height=H, fps=FPS, transition="fade:0.25", captions=captions),
    )

    expected = 1.0 + 1.5 + 1.0 - 2 * 0.25
    assert result.fast_path is False
    assert result.duration_s == pytest.approx(expected)
    assert abs(probe(output).duration_s - expected) <= 2 * FRAME
    assert count_frames(output) == round(expected * FPS)
    # Half-way through the first fade the picture is a blend of red and blue.
    blend = frame_at(output, 0.875)[H // 2, W // 2].astype(int)
    assert blend[0] > 60 and blend[2] > 60
    # Cues change half-way through each fade.
    assert result.srt is not None
    assert "00:00:00,875 --> 00:00:02,125\ntwo" in result.srt.read_text(encoding="utf-8")


def test_fade_longer_than_a_clip_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="too short"):
        stitch(
            [clips["red"], clips["blue"], clips["green"]],
            tmp_path / "film.mp4",
            StitchOptions(width=W, height=H, transition="fade:0.8"),
        )
    assert not (tmp_path / "film.mp4").exists()


def test_audio_bed_is_mixed_and_looped_to_the_film_length(clips: dict[str, Path], tmp_path: Path) -> None:
    bed = make_audio(tmp_path / "music bed.m4a", seconds=0.7)
    silent = [clips["silent"], clips["silent"]]
    without = stitch(silent, tmp_path / "plain.mp4", StitchOptions(width=W, height=H))
    result = stitch(silent, tmp_path / "music.mp4", StitchOptions(width=W, height=H, audio=bed, audio_volume=0.5))

    assert result.fast_path is False
    assert mean_volume_db(without.output) < -80
    assert mean_volume_db(result.output, start=0.1, seconds=0.5) > -40
    assert mean_volume_db(result.output, start=1.3, seconds=0.5) > -40, "the bed must loop past its own 0.7 s"
    assert abs(probe(result.output).duration_s - 2.0) <= 2 * FRAME


def test_audio_bed_without_sound_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"silent\.mp4 has no audio"):
        stitch([clips["red"]], tmp_path / "film.mp4", StitchOptions(width=W, height=H, audio=clips["silent"]))


# ----------------------------------------------------------------------------------------------
# Burned captions


def test_burned_captions_keep_quotes_colons_backslashes_braces_and_hangul(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    # One clip per caption; pairs that would look the same if escaping were wrong must differ.
    captions = [
        "x\\ny",  # a backslash before n: shown, not a line break
        "x y",
        "{b}x",  # braces: shown, not an override block
        "x",
        "가나다",  # Hangul drawn as glyphs, not identical boxes
        "라마바",
        'He said "it\'s 100%": C:\\new\\path; [ok], done',  # everything at once still renders
    ]
    output = tmp_path / "film.mp4"
    result = stitch(
        [clips["silent"]] * len(captions),
        output,
        StitchOptions(width=W, height=H, captions=captions, burn_subtitles=True),
    )

    assert result.fast_path is False
    assert "Subtitle" not in describe(output), "burned captions are pixels, not a subtitle stream"
    # In the SRT, an invisible word joiner after each backslash keeps readers from taking `\n` as a line break.
    assert result.srt is not None and "C:\\new\\path" in result.srt.read_text(encoding="utf-8").replace("\u2060", "")
    band = [frame_at(output, index + 0.5)[H // 2 :].astype(int) for index in range(len(captions))]
    plain = frame_at(clips["silent"], 0.5)[H // 2 :].astype(int)
    for index, picture in enumerate(band):
        assert np.abs(picture - plain).max() > 100, f"caption {index} was not drawn"
    assert np.abs(band[0] - band[1]).sum() > 0, "a backslash sequence was swallowed"
    assert np.abs(band[2] - band[3]).sum() > 0, "braces were swallowed"
    assert np.abs(band[4] - band[5]).sum() > 0, "Hangul is drawn as boxes"


def test_burned_captions_bring_their_own_font(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a fontconfig that knows no fonts at all, only the font Tale hands to libass can draw.
    empty = tmp_path / "fonts.conf"
    empty.write_text('<?xml version="1.0"?>\n<fontconfig></fontconfig>\n', encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(empty))
    output = tmp_path / "film.mp4"
    stitch(
        [clips["silent"]] * 2,
        output,
        StitchOptions(width=W, height=H, captions=["가나다", "라마바"], burn_subtitles=True),
    )

    plain = frame_at(clips["silent"], 0.5)[H // 2 :].astype(int)
    first, second = (frame_at(output, at)[H // 2 :].astype(int) for at in (0.5, 1.5))
    assert np.abs(first - plain).max() > 100
    assert np.abs(first - second).sum() > 0


def test_burning_needs_captions(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs captions"):
        stitch([clips["red"]], tmp_path / "film.mp4", StitchOptions(width=W, height=H, burn_subtitles=True))


# ----------------------------------------------------------------------------------------------
# Cues and SRT


def test_cues_follow_the_clips_and_skip_empty_captions() -> None:
    assert cues_for([2.0, 3.0, 1.5], ["a", "", "c"]) == [Cue(0.0, 2.0, "a"), Cue(5.0, 6.5, "c")]


def test_cues_change_half_way_through_crossfades() -> None:
    cues = cues_for([2.0, 2.0, 2.0], ["a", "b", "c"], transition_s=0.5)
    assert cues == [Cue(0.0, 1.75, "a"), Cue(1.75, 3.25, "b"), Cue(3.25, 5.0, "c")]


def test_cues_need_one_caption_per_clip() -> None:
    with pytest.raises(InputError, match="2 captions for 3 clips"):
        cues_for([1.0, 1.0, 1.0], ["a", "b"])


def test_srt_times_and_multiline_text(tmp_path: Path) -> None:
    cues = cues_for([3661.25, 1.0], ["first line\r\n\r\n  second line  ", "끝"])
    path = write_srt(cues, tmp_path / "sub" / "film.srt")

    assert path.read_text(encoding="utf-8") == srt_text(cues)
    assert path.read_text(encoding="utf-8") == (
        "1\n00:00:00,000 --> 01:01:01,250\nfirst line\nsecond line\n\n2\n01:01:01,250 --> 01:01:02,250\n끝\n"
    )


@pytest.mark.parametrize(
    ("spec", "seconds"), [(None, 0.0), ("cut", 0.0), ("fade", 0.5), ("fade:1.25", 1.25), ("FADE:.5", 0.5)]
)
def test_transition_specs(spec: str | None, seconds: float) -> None:
    assert parse_transition(spec) == seconds


@pytest.mark.parametrize("spec", ["wipe", "fade:0", "fade:-1", "fade:abc", "fade:11"])
def test_bad_transition_specs_are_refused(spec: str) -> None:
    with pytest.raises(InputError, match="transition"):
        parse_transition(spec)


def test_stale_srt_is_removed_when_no_clip_has_narration(clips: dict[str, Path], tmp_path: Path) -> None:
    old = tmp_path / "film.srt"
    old.write_text("1\n00:00:00,000 --> 00:00:01,000\nold words\n", encoding="utf-8")
    result = stitch([clips["red"]], tmp_path / "film.mp4", StitchOptions(width=W, height=H, captions=[""]))
    assert result.srt is None
    assert not old.exists()


# ----------------------------------------------------------------------------------------------
# Names and bad inputs


@pytest.mark.parametrize("transition", [None, "fade:0.25"])
def test_awkward_file_names(clips: dict[str, Path], tmp_path: Path, transition: str | None) -> None:
    folder = tmp_path / "my 'clips' 폴더"
    folder.mkdir()
    names = ["with space.mp4", "-leading-dash.mp4", 'it\'s "quoted".mp4', "장면 1.mp4"]
    copies = []
    for name, source in zip(names, [clips["red"], clips["blue"], clips["green"], clips["red"]], strict=True):
        copy = folder / name
        copy.write_bytes(source.read_bytes())
        copies.append(copy)
    output = folder / "-film 'final' 영화.mp4"
    result = stitch(copies, output, StitchOptions(width=W, height=H, transition=transition, captions=["a"] * 4))

    assert result.fast_path is (transition is None)
    assert abs(probe(output).duration_s - result.duration_s) <= 2 * FRAME
    assert result.srt == folder / "-film 'final' 영화.srt"
    assert result.srt.is_file()


@pytest.fixture(scope="module")
def cut_short(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A whole clip with its index first, as Tale writes shots, and a copy of its first 60 % of bytes.

    The copy's index still promises the whole 2 s; only about half of its frames are in the file.
    """
    folder = tmp_path_factory.mktemp("cut")
    whole = make_clip(folder / "whole.mp4", seconds=2.0, width=W, height=H, color="testsrc", faststart=True)
    cut = folder / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    return {"whole": whole, "cut": cut}


@pytest.mark.parametrize("transition", [None, "fade:0.25"])
def test_a_clip_cut_short_is_measured_not_believed(
    cut_short: dict[str, Path], tmp_path: Path, transition: str | None
) -> None:
    output = tmp_path / "film.mp4"
    options = StitchOptions(width=W, height=H, fps=FPS, transition=transition)
    promised = r"cut\.mp4 is cut short: its index promises 2\.00 s, the file holds 1\.\d\d s"
    with pytest.raises(InputError, match=promised):
        stitch([cut_short["whole"], cut_short["cut"]], output, options)
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_non_video_clip_is_named_and_nothing_is_written(clips: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("these are not frames", encoding="utf-8")
    output = tmp_path / "film.mp4"
    output.write_bytes(b"an earlier film")

    with pytest.raises(InputError, match=r"notes\.mp4 is not a video"):
        stitch([clips["red"], bad], output, StitchOptions(width=W, height=H, captions=["a", "b"]))

    assert output.read_bytes() == b"an earlier film"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4", "notes.mp4"]


def test_a_failing_encode_leaves_the_earlier_film(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "film.mp4"
    output.write_bytes(b"an earlier film")

    def dies_half_way(args: list[str]) -> str:
        Path(args[-1]).write_bytes(b"half a film")
        raise FFmpegError("ffmpeg failed: No space left on device")

    monkeypatch.setattr("tale_cli.film.stitch.run_ffmpeg", dies_half_way)
    with pytest.raises(FFmpegError, match="No space left"):
        stitch([clips["red"], clips["big_silent"]], output, StitchOptions(width=W, height=H, captions=["a", "b"]))

    assert output.read_bytes() == b"an earlier film"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


@pytest.fixture(scope="module")
def patterns(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Matching clips whose pictures change every frame, so most of a film's bytes are video."""
    folder = tmp_path_factory.mktemp("patterns")
    return [make_clip(folder / f"p{n}.mp4", seconds=1.0, width=W, height=H, color="testsrc") for n in range(3)]


@pytest.mark.parametrize("transition", [None, "fade:0.25"])
@pytest.mark.parametrize("damage", ["cut short", "zeroed"])
def test_a_film_that_fails_its_check_never_replaces_the_earlier_one(
    patterns: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transition: str | None, damage: str
) -> None:
    """ffmpeg says it succeeded, but the film it left is not whole (as when another writer shared the file)."""
    from tale_cli.film import stitch as stitch_module

    output = tmp_path / "film.mp4"
    output.write_bytes(b"an earlier film")
    real = stitch_module.run_ffmpeg

    def damaging(args: list[str]) -> str:
        stderr = real(args)
        part = Path(args[-1])
        data = bytearray(part.read_bytes())
        if damage == "cut short":
            del data[len(data) * 2 // 3 :]
        else:
            third = len(data) // 3
            data[third : 2 * third] = bytes(third)
        part.write_bytes(bytes(data))
        return stderr

    monkeypatch.setattr(stitch_module, "run_ffmpeg", damaging)
    with pytest.raises(ClipCheckError, match=r"the stitched film failed its check .*film\.mp4 was left as it was"):
        stitch(patterns, output, StitchOptions(width=W, height=H, fps=FPS, transition=transition))

    assert output.read_bytes() == b"an earlier film"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_missing_clip_is_named(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere\.mp4"):
        stitch([clips["red"], tmp_path / "nowhere.mp4"], tmp_path / "film.mp4", StitchOptions())


def test_output_problems_are_refused_before_any_work(clips: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="is a folder"):
        stitch([clips["red"]], tmp_path, StitchOptions())
    with pytest.raises(OutputError, match="is a file"):
        stitch([clips["red"]], blocker / "film.mp4", StitchOptions())
    with pytest.raises(OutputError, match="one of the clips"):
        stitch([clips["red"]], clips["red"], StitchOptions())
    with pytest.raises(OutputError, match=r"\.mp4"):
        stitch([clips["red"]], tmp_path / "film.avi", StitchOptions())


def test_bad_sizes_are_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="even"):
        stitch([clips["red"]], tmp_path / "film.mp4", StitchOptions(width=161))
    with pytest.raises(InputError, match="captions for"):
        stitch([clips["red"]], tmp_path / "film.mp4", StitchOptions(captions=["a", "b"]))


# ----------------------------------------------------------------------------------------------
# Run folders and the command line


def _run_folder(root: Path, clips: dict[str, Path]) -> Path:
    from tale_cli.story.plan import Plan, Shot

    plan = Plan(
        title="Two Shots",
        slug="two-shots",
        width=W,
        height=H,
        fps=FPS,
        shots=[
            Shot(index=1, duration_s=1.0, prompt="a red room", narration="The room was red."),
            Shot(index=2, duration_s=1.5, prompt="a blue sea", narration="바다는 파랬다."),
        ],
    )
    (root / "shots").mkdir(parents=True)
    (root / "plan.json").write_text(plan.to_json(), encoding="utf-8")
    (root / "shots" / "shot-01.mp4").write_bytes(clips["red"].read_bytes())
    (root / "shots" / "shot-02.mp4").write_bytes(clips["blue"].read_bytes())
    return root


def test_resolve_inputs_takes_loose_clips_not_folders(clips: dict[str, Path], tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "run", clips)
    with pytest.raises(InputError, match="is a folder"):
        resolve_inputs([clips["red"], run])
    with pytest.raises(InputError, match="is a folder"):
        resolve_inputs([run])


@pytest.fixture(scope="module")
def cli() -> Callable[..., Any]:
    from typer.testing import CliRunner

    from tale_cli.cli.app import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["stitch", *map(str, args)])


def test_cli_stitches_a_run_folder_with_its_narration(
    cli: Callable[..., Any], clips: dict[str, Path], tmp_path: Path
) -> None:
    run = _run_folder(tmp_path / "run", clips)
    result = cli(run, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["film"] == str(run / "film.mp4")
    assert data["srt"] == str(run / "film.srt")
    assert data["fast_path"] is True
    assert (data["width"], data["height"], data["fps"], data["clips"]) == (W, H, FPS, 2)
    assert abs(probe(run / "film.mp4").duration_s - 2.5) <= 2 * FRAME
    assert "바다는 파랬다." in (run / "film.srt").read_text(encoding="utf-8")
    assert "Subtitle: mov_text" in describe(run / "film.mp4")


def test_cli_joins_the_users_own_clips(
    cli: Callable[..., Any], clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(clips["big_silent"], clips["portrait"], clips["red"], "--width", 320, "--height", 180, "--fps", 25)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("film film.mp4: 3.00 s from 3 clips, 320x180 25 fps, re-encoded")
    info = probe(tmp_path / "film.mp4")
    assert (info.width, info.height, info.fps, info.has_audio) == (320, 180, 25, True)
    assert abs(info.duration_s - 3.0) <= 0.08


def test_cli_says_one_clip_in_the_singular(
    cli: Callable[..., Any], clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(clips["red"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("film film.mp4: 1.00 s from 1 clip, "), result.stdout


def test_cli_transition_burn_and_music(cli: Callable[..., Any], clips: dict[str, Path], tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "run", clips)
    bed = make_audio(tmp_path / "bed.m4a", seconds=3.0)
    out = tmp_path / "cut" / "burned.mp4"
    result = cli(run, "--out", out, "--transition", "fade:0.5", "--burn-subtitles", "--audio", bed, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fast_path"] is False
    assert data["duration_s"] == pytest.approx(2.0)
    assert abs(probe(out).duration_s - 2.0) <= 2 * FRAME
    assert "Subtitle" not in describe(out)
    assert (tmp_path / "cut" / "burned.srt").is_file()


def test_cli_bad_clip_exits_with_the_input_code(
    cli: Callable[..., Any], clips: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "song.txt"
    bad.write_text("la la la", encoding="utf-8")
    out = tmp_path / "film.mp4"
    result = cli(clips["red"], bad, "--out", out)

    assert result.exit_code == int(ExitCode.INPUT)
    assert "song.txt is not a video" in " ".join(result.stderr.split())
    assert not out.exists()


def test_cli_does_not_report_a_cut_clip_as_whole(
    cli: Callable[..., Any], cut_short: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "film.mp4"
    result = cli(cut_short["whole"], cut_short["cut"], "-o", out, "--width", W, "--height", H, "--fps", FPS, "--json")

    assert result.exit_code == int(ExitCode.INPUT), result.output
    assert result.stdout == ""
    assert "cut.mp4 is cut short" in " ".join(result.stderr.split())
    assert not out.exists()


def _full_disk_ffmpeg(folder: Path) -> Path:
    """An ffmpeg that fails as the real one does when the disk fills while it writes the film."""
    from tale_cli.media.ffmpeg import ffmpeg_exe

    script = folder / "full-disk-ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *.mp4.part*) echo "[out#0/mp4 @ 0x1] Error writing trailer: No space left on device" >&2;\n'
        '  echo "Conversion failed!" >&2; exit 228;; esac\n'
        f'exec {ffmpeg_exe()} "$@"\n'
    )
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("where", ["ffmpeg", "subtitles"])
def test_cli_a_full_disk_names_the_folder_and_the_space_needed(
    cli: Callable[..., Any], clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    run = _run_folder(tmp_path / "run", clips)
    (run / "film.mp4").write_bytes(b"an earlier film")
    if where == "ffmpeg":
        full_disk = str(_full_disk_ffmpeg(tmp_path))
        monkeypatch.setattr("tale_cli.media.ffmpeg.ffmpeg_exe", lambda: full_disk)
    else:
        write_text = Path.write_text

        def full(path: Path, *args: Any, **kwargs: Any) -> int:
            if path.name.endswith(".srt.part"):
                raise OSError(28, "No space left on device", str(path))
            return write_text(path, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", full)
    result = cli(run)

    assert result.exit_code == int(ExitCode.OUTPUT), result.output
    line = " ".join(result.stderr.split())
    assert f"error: no space left on device: {run} has " in line and " free; the film needs about " in line
    assert "Conversion failed" not in line and "Errno" not in line and "unexpected" not in line
    assert (run / "film.mp4").read_bytes() == b"an earlier film"
    assert sorted(p.name for p in run.glob("film*")) == ["film.mp4"]


def test_cli_refuses_a_bad_transition(cli: Callable[..., Any], clips: dict[str, Path], tmp_path: Path) -> None:
    result = cli(clips["red"], "--transition", "spin", "--out", tmp_path / "film.mp4")
    assert result.exit_code == int(ExitCode.INPUT)
    assert "unknown transition 'spin'" in " ".join(result.stderr.split())
    assert not (tmp_path / "film.mp4").exists()
