"""The one cut (tale_cli.run.cut): after every command the film keeps its voice, loudness and speech cues; damaged
files are found again or made again and never leave a silent film; an unchanged cut writes nothing; the budget is the
library's; the soft subtitles are default only where the picture does not draw the words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cloudrender import EXAMPLE_STORY, small
from sound import sounding_s
from typer.testing import CliRunner
from videos import describe, make_audio

import tale_cli
from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.errors import BudgetError, ExitCode
from tale_cli.film.mix import measure_loudness
from tale_cli.media.ffmpeg import run_ffmpeg
from tale_cli.media.mp4 import set_subtitles_default
from tale_cli.run.identity import file_digest

VOICED = """
description = "small animatic with a scratch voice"
width = 160
height = 96
fps = 12
shots = 3
seconds = 4.0

[video]
backend = "preview"
jobs = 2

[voice]
backend = "espeak"
"""


def tale(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output[-2000:]
    return json.loads(result.stdout[result.stdout.index("{") :])


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def audit_lines(run_dir: Path) -> int:
    audit = run_dir / "audit.jsonl"
    return audit.read_text(encoding="utf-8").count("\n") if audit.exists() else 0


def voiced(run_dir: Path) -> None:
    """The film speaks every clip of its voice track, at -14 LUFS, and its mix record says what ffmpeg measures."""
    film = run_dir / "film.mp4"
    data = manifest(run_dir)
    for clip in data["voice"]["clips"]:
        start, seconds = clip["start_s"], clip["seconds"]
        assert sounding_s(film, start, start + seconds) > 0.6 * seconds, clip
    measured = measure_loudness(film).integrated_lufs
    assert abs(measured - -14.0) <= 1.0
    assert abs(data["mix"]["integrated_lufs"] - measured) <= 0.2


@pytest.fixture
def run(tmp_path: Path, story_file: Path) -> tuple[Path, Path]:
    recipe = tmp_path / "voiced.toml"
    recipe.write_text(VOICED, encoding="utf-8")
    report = tale("render", str(story_file), "-r", str(recipe), "-o", str(tmp_path / "out"))
    return Path(report["run_dir"]), recipe


def test_every_edit_keeps_the_voice_and_a_cached_render_writes_nothing(run: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir, recipe = run
    voiced(run_dir)
    first = measure_loudness(run_dir / "film.mp4").integrated_lufs
    retaken = tale("retake", str(run_dir), "2", "--new-seed", "--yes", "-r", str(recipe))
    assert retaken["film"] and not retaken["unchanged"] and abs(retaken["loudness_lufs"] - first) <= 1.0
    voiced(run_dir)
    tale("pick", str(run_dir), "2", "1")
    voiced(run_dir)
    tale("lock", str(run_dir), "2")
    clip = tmp_path / "mine.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=12:duration=2", "-pix_fmt", "yuv420p", str(clip)])
    tale("replace", str(run_dir), "3", str(clip))
    voiced(run_dir)
    film = file_digest(run_dir / "film.mp4")
    again = tale("render", str(run_dir / "plan.json"), "-r", str(recipe))
    assert again["film_unchanged"] and again["counts"]["rendered"] == 0
    assert file_digest(run_dir / "film.mp4") == film
    stitched = tale("stitch", str(run_dir))
    assert stitched["unchanged"] and file_digest(run_dir / "film.mp4") == film


def test_damaged_voice_files_are_made_again_and_never_leave_a_silent_film(run: tuple[Path, Path]) -> None:
    run_dir, recipe = run
    clips = manifest(run_dir)["voice"]["clips"]
    # A spoken clip cut to a third: spoken again (not trusted as cached), and the film speaks all of it.
    damaged = run_dir / clips[0]["path"]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 3])
    result = CliRunner().invoke(app, ["render", str(run_dir / "plan.json"), "-r", str(recipe)])
    assert (
        result.exit_code == 0 and "again (its clip was damaged)" in result.output and "1 clip spoken" in result.output
    )
    voiced(run_dir)
    # The voice track cut short, then gone: laid again from its clips by the next pick or stitch, paying nothing.
    track = run_dir / "voice" / "track.wav"
    track.write_bytes(track.read_bytes()[:1000])
    before = audit_lines(run_dir)
    tale("pick", str(run_dir), "1", "1")
    voiced(run_dir)
    track.unlink()
    tale("stitch", str(run_dir))
    voiced(run_dir)
    assert track.is_file() and audit_lines(run_dir) == before
    # shots/by-hash deleted by hand: the clips are found again in shots/ and shots/takes/, none rendered again.
    for path in (run_dir / "shots" / "by-hash").iterdir():
        path.unlink()
    again = tale("render", str(run_dir / "plan.json"), "-r", str(recipe))
    assert again["counts"]["rendered"] == 0 and again["film_unchanged"] and audit_lines(run_dir) == before


def test_a_film_is_replaced_only_by_a_film_that_passed_its_checks(run: tuple[Path, Path]) -> None:
    run_dir, _ = run
    film = file_digest(run_dir / "film.mp4")
    # Every copy of shot 2's clip gone: no cut, and the film stays as it was.
    for path in [run_dir / "shots" / "shot-02.mp4", *(run_dir / "shots").glob("*/*")]:
        if "shot-02" in path.name or path.parent.name == "by-hash":
            path.unlink()
    result = CliRunner().invoke(app, ["stitch", str(run_dir)])
    assert result.exit_code == ExitCode.OUTPUT and "shot 2's clip" in result.output
    assert file_digest(run_dir / "film.mp4") == film


def test_render_and_stitch_lay_one_music_bed_the_same_way(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    bed = make_audio(tmp_path / "bed.m4a", seconds=2.0, frequency=220)
    rendered = tale("render", str(story_file), "-r", str(tiny_recipe), "-o", str(tmp_path / "a"), "--music", str(bed))
    plain = tale("render", str(story_file), "-r", str(tiny_recipe), "-o", str(tmp_path / "b"), "--no-voice")
    stitched = tale("stitch", plain["run_dir"], "--music", str(bed))
    with_bed = measure_loudness(Path(rendered["film"])).integrated_lufs
    assert abs(with_bed - -14.0) <= 1.0
    assert abs(stitched["loudness_lufs"] - with_bed) <= 0.5
    assert abs(measure_loudness(Path(plain["run_dir"]) / "film.mp4").integrated_lufs - with_bed) <= 0.5
    # The next pick keeps the bed tale stitch laid.
    picked = tale("pick", plain["run_dir"], "1", "1")
    assert picked["unchanged"]


def test_clean_keeps_what_the_film_is_made_of_and_all_says_what_a_render_pays(run: tuple[Path, Path]) -> None:
    run_dir, recipe = run
    tale("retake", str(run_dir), "1", "--new-seed", "--yes", "-r", str(recipe))
    cleaned = tale("clean", str(run_dir))
    assert cleaned["files_removed"] >= 1 and cleaned["rerender_shots"] == []
    assert tale("stitch", str(run_dir))["unchanged"]
    everything = CliRunner().invoke(app, ["clean", str(run_dir), "--all"])
    assert everything.exit_code == 0 and "renders them again, about $0.00" in everything.output
    # The spoken clips the film plays stay: the next render speaks nothing again.
    again = CliRunner().invoke(app, ["render", str(run_dir / "plan.json"), "-r", str(recipe)])
    assert again.exit_code == 0 and "0 clips spoken" in again.output
    voiced(run_dir)


def test_the_soft_track_is_default_only_where_the_picture_draws_no_words(
    tmp_path: Path, story_file: Path, tiny_recipe: Path, fake_providers: object
) -> None:
    preview = tale("render", str(story_file), "-r", str(tiny_recipe), "-o", str(tmp_path / "p"))
    described = describe(Path(preview["film"]))
    subtitle = next(line for line in described.splitlines() if "Subtitle:" in line)
    assert "(default)" not in subtitle
    assert 'src="data:text/vtt;base64,' in Path(preview["review"]).read_text(encoding="utf-8")
    assert "default>" not in Path(preview["review"]).read_text(encoding="utf-8")
    # Veo's clips draw no words: its film shows the subtitles by default, and so does its review page.
    report = tale_cli.render(EXAMPLE_STORY, recipe=small(load_recipe("veo-3.1-fast")), out=tmp_path / "v", yes=True)
    assert report.film is not None
    described = describe(Path(str(report.film)))
    subtitle = next(line for line in described.splitlines() if "Subtitle:" in line)
    assert "(default)" in subtitle
    assert "default>" in (report.run_dir / "review.html").read_text(encoding="utf-8")


def test_set_subtitles_default_flips_only_the_subtitle_tracks_flag(tmp_path: Path, story_file: Path) -> None:
    film = tmp_path / "f.mp4"
    srt = tmp_path / "f.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n", encoding="utf-8")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=12:duration=1", "-i", str(srt),
                "-map", "0", "-map", "1", "-c:s", "mov_text", "-pix_fmt", "yuv420p", str(film)])  # fmt: skip
    size = film.stat().st_size
    assert set_subtitles_default(film, False) == 1 and film.stat().st_size == size
    described = describe(Path(str(film)))
    assert "(default)" not in next(line for line in described.splitlines() if "Subtitle:" in line)
    assert set_subtitles_default(film, True) == 1
    described = describe(Path(str(film)))
    assert "(default)" in next(line for line in described.splitlines() if "Subtitle:" in line)


def test_the_python_api_holds_the_recipes_budget_and_pays_nothing_over_it(
    tmp_path: Path, fake_providers: object
) -> None:
    recipe = small(load_recipe("runway-gen4.5")).model_copy(update={"budget_usd": 0.01})
    with pytest.raises(BudgetError, match="exceeds the budget"):
        tale_cli.render(EXAMPLE_STORY, recipe=recipe, out=tmp_path, yes=True, planner="offline")
    assert fake_providers.creates["runway"] == 0  # type: ignore[attr-defined]
    assert fake_providers.requests == []  # type: ignore[attr-defined]  # no reference drawn, no plan asked for
    # The confirmation is the caller's: a script that says no spends nothing either.
    asked: list[str] = []
    with pytest.raises(BudgetError, match="not confirmed"):
        tale_cli.render(
            EXAMPLE_STORY,
            recipe=small(load_recipe("runway-gen4.5")),
            out=tmp_path,
            planner="offline",
            confirm=lambda question: asked.append(question) is not None,
        )
    assert asked and asked[0].startswith("Spend about $") and fake_providers.creates["runway"] == 0  # type: ignore[attr-defined]
    assert fake_providers.requests == []  # type: ignore[attr-defined]
