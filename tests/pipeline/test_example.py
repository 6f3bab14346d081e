"""The README's first command, end to end: the example story becomes a 64-second narrated film."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.film.mix import measure_loudness
from tale_cli.media.ffmpeg import count_frames, probe, run_ffmpeg
from tests.sound import sounding_s

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_story_renders_the_promised_film(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(EXAMPLES / "story.md"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "the-lighthouse-keeper-s-cat"
    film = run_dir / "film.mp4"
    info = probe(film)
    assert abs(info.duration_s - 64.0) <= 0.1
    assert (info.width, info.height, info.fps) == (1280, 720, 24.0)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert count_frames(film) == 64 * 24
    streams = run_ffmpeg(["-i", str(film), "-f", "null", "-t", "0", "-"])
    assert re.search(r"Subtitle: mov_text", streams)
    cues = (run_dir / "film.srt").read_text(encoding="utf-8").strip().split("\n\n")
    # Subtitles follow the speech: at least a cue per spoken clip, the last inside the last shot.
    assert len(cues) >= 9 and " --> 00:01:0" in cues[-1] and "From then on" in "".join(cues[-3:])
    for name in ("storyboard.png", "plan.json", "manifest.json", "refs/mira.png", "refs/pip.png"):
        assert (run_dir / name).is_file()
    assert sorted(p.name for p in (run_dir / "shots").glob("shot-*.mp4")) == [f"shot-{i:02d}.mp4" for i in range(1, 9)]
    # The preview recipe's scratch voice speaks the narration in every shot, at -14 LUFS.
    loudness = measure_loudness(film)
    assert abs(loudness.integrated_lufs - -14.0) <= 1.0 and loudness.true_peak_db <= -1.5
    # Every shot speaks for seconds, not moments: shot 7, the shortest, measures 4.0 s, a few milliseconds either
    # side of it with the order the tests run in, so the bar sits below it.
    for index in range(8):
        assert sounding_s(film, index * 8.0, index * 8.0 + 8.0) > 3.0, f"shot {index + 1} is silent"


def test_korean_story_renders_with_hangul_subtitles(tmp_path: Path, tiny_recipe: Path) -> None:
    result = CliRunner().invoke(
        app, ["render", str(EXAMPLES / "story.ko.md"), "--recipe", str(tiny_recipe), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "달빛-우체부"
    srt = (run_dir / "film.srt").read_text(encoding="utf-8")
    assert "산골 마을에는" in srt and "달빛 우체부라고" in srt
    assert abs(probe(run_dir / "film.mp4").duration_s - 64.0) <= 0.1
