"""The README's first command, end to end: the example story becomes a 64-second narrated film, told in the story's
order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.backends.base import ShotRequest
from tale_cli.backends.local.preview import caption_at
from tale_cli.cli.app import app
from tale_cli.film.mix import measure_loudness
from tale_cli.media.ffmpeg import count_frames, probe, run_ffmpeg
from tale_cli.pipeline.shots import spoken_in_shot
from tale_cli.run.folder import Manifest, VoiceRecord
from tale_cli.story.plan import Plan, Shot, load_plan
from tests.captions import shown_caption
from tests.sound import sounding_s
from tests.subtitles import read_srt
from tests.videos import frame_at

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


ORDER_RECIPE = """
description = "the preview recipe, smaller: the examples' speech, subtitles and animatic captions"
width = 640
height = 360
fps = 12
shots = 8
seconds = 8.0

[video]
backend = "preview"

[voice]
backend = "espeak"
"""


@pytest.mark.parametrize(
    ("story", "slug"), [("story.md", "the-lighthouse-keeper-s-cat"), ("story.ko.md", "달빛-우체부")]
)
def test_each_shot_is_told_in_story_order_and_its_captions_show_what_is_said(
    tmp_path: Path, story: str, slug: str
) -> None:
    recipe = tmp_path / "order.toml"
    recipe.write_text(ORDER_RECIPE, encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(EXAMPLES / story), "-r", str(recipe), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / slug
    plan = load_plan(run_dir / "plan.json")
    data = Manifest.read(run_dir / "manifest.json")
    voice = data.voice if data is not None else None
    cues = read_srt(run_dir / "film.srt")
    # No cue is too short to read.
    assert all(cue.end_s - cue.start_s >= 0.999 for cue in cues), [c for c in cues if c.end_s - c.start_s < 0.999]
    start = 0.0
    for shot in plan.shots:
        # Every shot's cues say its speech, in the order the story tells it.
        shown = [cue for cue in cues if start <= (cue.start_s + cue.end_s) / 2 < start + shot.duration_s]
        assert " ".join(" ".join(cue.text.split()) for cue in shown) == " ".join(item.text for item in shot.speech)
        request = _shot_request(plan, shot, run_dir, voice)
        for item in shot.speech:
            if item.narrated:
                continue
            # During a line, the animatic's caption is that line, under its speaker's name: chosen for that time,
            # and drawn in the frame.
            (cue,) = [cue for cue in shown if " ".join(cue.text.split()) == item.text]
            middle = (cue.start_s + cue.end_s) / 2 - start
            caption = caption_at(request, middle)
            assert caption is not None and (caption.speaker, caption.text) == (plan.character(item.who).name, item.text)
            assert shown_caption(frame_at(run_dir / "shots" / f"shot-{shot.index:02d}.mp4", middle), request) == caption
        start += shot.duration_s
    assert any(not item.narrated for shot in plan.shots for item in shot.speech) == (story == "story.md")


def _shot_request(plan: Plan, shot: Shot, run_dir: Path, voice: VoiceRecord | None) -> ShotRequest:
    return ShotRequest(plan=plan, shot=shot, prompt=shot.prompt, negative_prompt=shot.negative_prompt,
                       width=plan.width, height=plan.height, fps=plan.fps, duration_s=shot.duration_s, seed=0,
                       output=run_dir / "unused.mp4", journal=None,  # type: ignore[arg-type]
                       speech_times=spoken_in_shot(plan, shot, voice))  # fmt: skip
