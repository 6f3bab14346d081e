"""`tale export`: the cut as an editorial timeline, read back with OpenTimelineIO and its adapters."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import STORY
from typer.testing import CliRunner
from videos import make_audio

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode

otio = pytest.importorskip("opentimelineio")

SHOTS, SECONDS, FPS = 8, 1.5, 24
# What each format is read back with, and whether it carries the audio tracks (an EDL is the picture cut).
FORMATS = {"otio": ("film.otio", True), "fcpxml": ("film.fcpxml", True), "premiere": ("film.xml", True),
           "edl": ("film.edl", False)}  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8-shot preview run with two voice files (for shots 2 and 5) and a music bed."""
    root = tmp_path_factory.mktemp("export")
    story = root / "story.md"
    story.write_text(STORY.replace("title: The Small Test\n", f"title: The Small Test\nshots: {SHOTS}\n"))
    recipe = root / "tiny.toml"
    recipe.write_text(f'width = 160\nheight = 96\nfps = {FPS}\nseconds = {SECONDS}\n[video]\nbackend = "preview"\n')
    result = CliRunner().invoke(app, ["render", str(story), "-r", str(recipe), "-o", str(root / "out"), "--json"])
    assert result.exit_code == 0, result.output
    run = Path(json.loads(result.stdout)["run_dir"])
    make_audio(run / "voice" / "shot-02.wav", seconds=1.0)
    make_audio(run / "voice" / "shot-05.wav", seconds=2.0, frequency=440)
    make_audio(run / "music.m4a", seconds=30.0, frequency=220)
    return run


def export(run: Path, fmt: str, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["export", str(run), "--format", fmt, "--json", *args])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def read_back(path: Path) -> object:
    if path.suffix == ".edl":
        return otio.adapters.read_from_file(str(path), rate=FPS)
    return otio.adapters.read_from_file(str(path))


def check_timeline(path: Path, *, audio: bool) -> None:
    timeline = read_back(path)
    video = [track for track in timeline.tracks if track.kind == otio.schema.TrackKind.Video]
    clips = list(video[0].find_clips())
    assert len(video) == 1 and len(clips) == SHOTS
    frames = round(SECONDS * FPS)
    cuts = [video[0].range_of_child(clip).start_time.rescaled_to(FPS).value for clip in clips]
    assert cuts == [n * frames for n in range(SHOTS)]
    assert timeline.duration().rescaled_to(FPS).value == SHOTS * frames
    assert sum(len(clip.markers) for clip in clips) == SHOTS  # every shot narrates
    named = [unquote(clip.media_reference.target_url) for clip in timeline.find_clips()]
    assert all(not Path(name).is_absolute() for name in named)
    assert all((path.parent / name).is_file() for name in named), named
    assert [Path(unquote(clip.media_reference.target_url)).name for clip in clips] == [
        f"shot-{n:02d}.mp4" for n in range(1, SHOTS + 1)
    ]
    sounds = [
        Path(unquote(clip.media_reference.target_url)).name
        for track in timeline.tracks
        if track.kind == otio.schema.TrackKind.Audio
        for clip in track.find_clips()
    ]
    assert sorted(sounds) == (["music.m4a", "shot-02.wav", "shot-05.wav"] if audio else [])


def well_formed_xml(path: Path) -> None:
    import xml.etree.ElementTree as ElementTree

    ElementTree.parse(path)  # expat: what the adapters read back with
    if shutil.which("xmllint"):
        lint = subprocess.run(["xmllint", "--noout", str(path)], capture_output=True, text=True, check=False)
        assert lint.returncode == 0, lint.stderr


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_reads_back_as_the_cut(run_dir: Path, fmt: str) -> None:
    name, audio = FORMATS[fmt]

    report = export(run_dir, fmt)

    assert report["timeline"] == str(run_dir / name) and report["clips"] == SHOTS
    assert report["srt"] == str(run_dir / "film.srt") and report["markers"] == SHOTS
    check_timeline(run_dir / name, audio=audio)
    if name.endswith("xml"):
        well_formed_xml(run_dir / name)


def test_voice_starts_with_its_shot(run_dir: Path) -> None:
    export(run_dir, "otio")
    timeline = read_back(run_dir / "film.otio")
    voice = next(track for track in timeline.tracks if track.name == "Voice")
    starts = {clip.name: voice.range_of_child(clip).start_time.to_seconds() for clip in voice.find_clips()}
    assert starts == {"shot-02": pytest.approx(SECONDS), "shot-05": pytest.approx(4 * SECONDS)}
    music = next(track for track in timeline.tracks if track.name == "Music")
    assert music.duration().to_seconds() == pytest.approx(SHOTS * SECONDS)  # the bed is cut at the film's end


def test_a_vertical_film_exports_its_frame_size(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(STORY.replace("title: The Small Test\n", 'title: The Small Test\naspect: "9:16"\nshots: 2\n'))
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('width = 160\nheight = 96\nfps = 24\nseconds = 1\n[video]\nbackend = "preview"\n')
    result = CliRunner().invoke(app, ["render", str(story), "-r", str(recipe), "-o", str(tmp_path), "--json"])
    run = Path(json.loads(result.stdout)["run_dir"])

    export(run, "fcpxml")
    export(run, "premiere")

    assert 'width="96" height="160"' in (run / "film.fcpxml").read_text(encoding="utf-8")
    assert "<width>96</width><height>160</height>" in (run / "film.xml").read_text(encoding="utf-8")


def test_a_one_shot_film_counts_its_clip_and_marker_in_the_singular(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text("---\ntitle: One\nshots: 1\n---\n\nAda walked to the harbour at dawn.\n")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        'width = 160\nheight = 96\nfps = 24\nseconds = 4\n[video]\nbackend = "preview"\n[voice]\nbackend = "espeak"\n'
    )
    rendered = CliRunner().invoke(app, ["render", str(story), "-r", str(recipe), "-o", str(tmp_path / "out")])
    assert rendered.exit_code == 0, rendered.output
    assert "voice: 1 clip spoken, 0 cached" in rendered.output

    result = CliRunner().invoke(app, ["export", str(tmp_path / "out" / "one"), "--format", "otio"])

    assert result.exit_code == 0, result.output
    line = " ".join(result.stdout.split())
    assert ": 1 clip, 4 s, 1 marker, " in line and "1 clips" not in line and "1 markers" not in line


def test_a_timeline_elsewhere_names_the_run_by_relative_paths_and_moves_with_it(run_dir: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(run_dir, project / "run")
    out = project / "cuts" / "cut.xml"

    report = export(project / "run", "premiere", "--out", str(out))

    assert report["srt"] == str(project / "cuts" / "cut.srt") and (project / "cuts" / "cut.srt").is_file()
    moved = tmp_path / "moved"
    shutil.move(str(project), str(moved))
    check_timeline(moved / "cuts" / "cut.xml", audio=True)


def test_a_run_without_a_film_still_exports_with_its_subtitles(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "film.srt").unlink()

    report = export(copy, "edl")

    assert report["srt"] == str(copy / "film.srt")
    first = json.loads((copy / "plan.json").read_text(encoding="utf-8"))["shots"][0]["narration"]
    assert first.startswith("Ada walked") and first in (copy / "film.srt").read_text(encoding="utf-8")


def test_final_cut_xml_refuses_a_rate_final_cut_has_no_project_for(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "film.fcpxml").unlink(missing_ok=True)
    plan = json.loads((copy / "plan.json").read_text(encoding="utf-8"))
    (copy / "plan.json").write_text(json.dumps({**plan, "fps": 12}), encoding="utf-8")

    result = CliRunner().invoke(app, ["export", str(copy), "--format", "fcpxml"])

    assert result.exit_code == ExitCode.INPUT and "this film is 12 fps" in result.output
    assert not (copy / "film.fcpxml").exists()


def test_not_a_run_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--format", "otio"])
    assert result.exit_code == ExitCode.INPUT and "not a run folder" in result.output


def test_without_the_extra_one_line_says_what_to_install(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentimelineio", None)

    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", "premiere"])

    assert result.exit_code == ExitCode.MISSING_DEPENDENCY
    assert "opentimelineio is not installed" in result.output and "pip install 'tale-cli[export]'" in result.output


FADE = 0.5


@pytest.fixture(scope="module")
def faded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 8-shot preview run stitched with half-second crossfades, with a voice file for shot 2 and a bed."""
    root = tmp_path_factory.mktemp("export-fade")
    story = root / "story.md"
    story.write_text(STORY.replace("title: The Small Test\n", f"title: The Small Test\nshots: {SHOTS}\n"))
    recipe = root / "tiny.toml"
    recipe.write_text(f'width = 160\nheight = 96\nfps = {FPS}\nseconds = {SECONDS}\n[video]\nbackend = "preview"\n')
    result = CliRunner().invoke(app, ["render", str(story), "-r", str(recipe), "-o", str(root / "out"),
                                      "--transition", f"fade:{FADE}", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = Path(json.loads(result.stdout)["run_dir"])
    make_audio(run / "voice" / "shot-02.wav", seconds=0.5)
    make_audio(run / "music.m4a", seconds=30.0, frequency=220)
    return run


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_crossfaded_film_exports_as_long_as_it_plays_with_its_dissolves(faded_run: Path, fmt: str) -> None:
    name, _ = FORMATS[fmt]
    film_s = SHOTS * SECONDS - (SHOTS - 1) * FADE
    report = export(faded_run, fmt)
    assert report["duration_s"] == pytest.approx(film_s)
    timeline = read_back(faded_run / name)
    assert timeline.duration().to_seconds() == pytest.approx(film_s)
    video = next(track for track in timeline.tracks if track.kind == otio.schema.TrackKind.Video)
    # The second shot comes in during the first fade: at its middle, where the film's picture changes (OTIO), or
    # where the dissolve starts (how some adapters read a dissolve back).
    cuts = [video.range_of_child(clip).start_time.to_seconds() for clip in video.find_clips()]
    assert SECONDS - FADE - 1 / FPS <= cuts[1] <= SECONDS - FADE / 2 + 1 / FPS
    if fmt == "otio":
        assert cuts[1] == pytest.approx(SECONDS - FADE / 2, abs=1 / FPS)
    dissolves = [item for item in video if isinstance(item, otio.schema.Transition)]
    if fmt != "fcpxml":  # the FCP X adapter reads its own dissolves back as plain cuts
        assert len(dissolves) == SHOTS - 1
        assert all(d.in_offset.to_seconds() + d.out_offset.to_seconds() == pytest.approx(FADE) for d in dissolves)
    if fmt == "otio":
        voice = next(track for track in timeline.tracks if track.name == "Voice")
        assert voice.range_of_child(voice.find_clips()[0]).start_time.to_seconds() == pytest.approx(
            SECONDS - FADE / 2, abs=1 / FPS
        )
        music = next(track for track in timeline.tracks if track.name == "Music")
        assert music.duration().to_seconds() == pytest.approx(film_s, abs=1 / FPS)


def test_a_full_disk_names_the_timelines_folder_and_its_free_space(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full_disk: Callable[[str], list[Path]]
) -> None:
    out = tmp_path / "edit" / "film.otio"
    monkeypatch.chdir(run_dir)  # the working folder is not where the timeline goes
    asked = full_disk(".otio")

    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", "otio", "--out", str(out)])

    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert " ".join(result.stderr.split()).startswith(f"error: no space left on device: {out.parent} has ")
    assert asked == [out.parent]
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_a_timeline_that_cannot_be_written_is_one_line_naming_it(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "film.otio"
    (tmp_path / "film.otio.part").mkdir()  # something in the way of the timeline's temporary file

    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", "otio", "--out", str(out)])

    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert " ".join(result.stderr.split()).startswith(f"error: cannot write {out}: ")
    assert "unexpected" not in result.output and not out.exists()


# ---------------------------------------------------------------- hostile text in a hand-edited plan.json

INJECTED_TITLE = "Nice\n\n999  evil  V  C  00:00:00:00 00:00:01:00 00:00:00:00 00:00:01:00\n* FROM CLIP: /etc/passwd"
CONTROLS = "\x1b[2J\x1b]0;pwned\x07\x9b31m\x00\ufffe"
CONTROL_CHARS = "\x1b\x07\x9b\x00\ufffe"


def edited_copy(run_dir: Path, tmp_path: Path, *, title: str, narration: str, prompt: str = "") -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    plan = json.loads((copy / "plan.json").read_text(encoding="utf-8"))
    plan["title"] = title
    for shot in plan["shots"]:
        shot["narration"] = narration.replace("N", str(shot["index"]))
        shot["prompt"] = prompt or shot["prompt"]
        shot["camera"] = f"pan{CONTROLS}\nright"
    (copy / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    return copy


def test_a_title_with_line_breaks_injects_no_edl_event(run_dir: Path, tmp_path: Path) -> None:
    copy = edited_copy(run_dir, tmp_path, title=INJECTED_TITLE, narration="Shot N.\n\n999  evil  V  C\n* FROM CLIP: x")

    export(copy, "edl")

    text = (copy / "film.edl").read_text(encoding="utf-8")
    events = [line for line in text.splitlines() if line[:1].isdigit()]
    assert [event[:3] for event in events] == [f"{n:03d}" for n in range(1, SHOTS + 1)]
    assert "/etc/passwd" not in text.split("\n", 1)[1]
    assert text.startswith("TITLE: Nice 999 evil V C 00:00:00:00 00:00:01:00 00:00:00:00 00:00:01:00 *…\n")
    timeline = read_back(copy / "film.edl")
    clips = list(timeline.find_clips())
    assert len(clips) == SHOTS and [clip.markers[0].name for clip in clips][:2] == [
        "SHOT 1. 999 EVIL V C * FROM CLIP: X",
        "SHOT 2. 999 EVIL V C * FROM CLIP: X",
    ]
    assert all(len(line.encode("utf-8")) <= 80 for line in text.splitlines())


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_control_characters_in_a_hand_edited_plan_stay_out_of_every_export(
    run_dir: Path, tmp_path: Path, fmt: str
) -> None:
    copy = edited_copy(
        run_dir, tmp_path, title=f"Lamp{CONTROLS}", narration=f"Shot N {CONTROLS}walks.", prompt=f"A{CONTROLS}lamp"
    )
    name, audio = FORMATS[fmt]

    report = export(copy, fmt)

    assert report["markers"] == SHOTS
    text = (copy / name).read_text(encoding="utf-8")
    assert not any(char in text for char in CONTROL_CHARS), repr(text[:300])
    if fmt in ("fcpxml", "premiere"):
        well_formed_xml(copy / name)
    check_timeline(copy / name, audio=audio)
    markers = [marker.name for clip in read_back(copy / name).find_clips() for marker in clip.markers]
    shown = "SHOT 1 [2J ]0;PWNED 31M WALKS." if fmt == "edl" else "Shot 1 [2J ]0;pwned 31m walks."
    assert markers[0] == shown


def test_an_edl_has_clean_reels_locators_at_their_record_time_and_its_frame_mode(run_dir: Path) -> None:
    export(run_dir, "edl")

    lines = (run_dir / "film.edl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "TITLE: The Small Test" and lines[1] == "FCM: NON-DROP FRAME"
    events = [line.split() for line in lines if line[:3].isdigit()]
    assert [event[1] for event in events] == [f"SHOT{n:02d}" for n in range(1, SHOTS + 1)]
    record_in = [event[6] for event in events]
    locators = [line.split()[2] for line in lines if line.startswith("* LOC:")]
    assert locators == record_in and len(set(locators)) == SHOTS
    assert not any("TRUNCATED" in line for line in lines)
    assert all(len(line.encode("utf-8")) <= 80 for line in lines)


def test_an_edl_export_names_no_audio_file(run_dir: Path) -> None:
    """An EDL is the picture cut: the voice and music files the run has are not in it, and the summary says so."""
    assert export(run_dir, "edl")["audio"] == []
    summary = CliRunner().invoke(app, ["export", str(run_dir), "--format", "edl"])
    assert summary.exit_code == 0 and "film.edl: 8 clips" in summary.output and "audio" not in summary.output
    assert len(export(run_dir, "otio")["audio"]) == 3  # music.m4a, shot-02.wav, shot-05.wav


def test_markers_follow_what_a_shot_says_in_its_order(tmp_path: Path) -> None:
    speech = [{"who": "narrator", "text": "The door creaked open."}, {"who": "ada", "text": "Who is there?"},
              {"who": "narrator", "text": "Only the wind answered."}]  # fmt: skip
    plan = {"title": "Asked", "slug": "asked", "width": 160, "height": 96, "fps": 24,
            "characters": [{"id": "ada", "name": "Ada"}],
            "shots": [{"index": 1, "duration_s": 8, "prompt": "A door at night", "speech": speech}]}  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('[video]\nbackend = "preview"\n[voice]\nbackend = "espeak"\n')
    rendered = CliRunner().invoke(app, ["render", str(tmp_path / "plan.json"), "-r", str(recipe), "-o", str(tmp_path)])
    assert rendered.exit_code == 0, rendered.output
    run = tmp_path / "asked"

    report = export(run, "otio")

    (clip,) = read_back(run / "film.otio").tracks[0].find_clips()
    markers = [(m.name, m.marked_range.start_time.to_seconds(), m.marked_range.end_time_exclusive().to_seconds())
               for m in clip.markers]  # fmt: skip
    assert report["markers"] == 3
    assert [name for name, _, _ in markers] == [
        "The door creaked open.",
        "Ada: Who is there?",
        "Only the wind answered.",
    ]
    assert markers[0][1] == 0 and markers[-1][2] == pytest.approx(8.0, abs=1 / 24)
    assert all(a[2] == b[1] for a, b in itertools.pairwise(markers))  # one after another
    # Ada's marker spans the part of the shot where the voice says her line.
    spoken = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["voice"]["clips"][1]
    assert spoken["text"] == "Who is there?"
    assert markers[1][1] <= spoken["start_s"] and spoken["start_s"] + spoken["seconds"] <= markers[1][2]
