"""Subtitles: cues of at most two lines of at most 42 characters, on screen while their words are spoken;
and `tale stitch --voice-dir`, which lays recordings on the film as its voice."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.film.stitch import srt_text
from tale_cli.film.subtitles import LINE_CHARS, Cue, speech_cues, split_caption, timed_cues
from tale_cli.story.pace import TAIL_S
from tests.sound import sounding_s
from tests.subtitles import read_srt, shown, soft_track
from tests.videos import make_audio, make_clip

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_long_caption_becomes_cues_of_two_short_lines_broken_at_sentences() -> None:
    text = (
        "Mira ran up the spiral stairs. The gears were jammed, and far out in the dark a small fishing boat "
        "was drifting toward the reef."
    )
    parts = split_caption(text)
    assert parts[0] == "Mira ran up the spiral stairs."  # a sentence that fits stays a cue of its own
    assert all(len(part.split("\n")) <= 2 for part in parts)
    assert all(len(line) <= LINE_CHARS for part in parts for line in part.split("\n"))
    assert " ".join(part.replace("\n", " ") for part in parts) == text  # every word, in order


def test_hangul_lines_are_shorter() -> None:
    text = "그날 이후 하늘과 토리는 달이 뜨는 밤마다 함께 편지를 배달했다. 마을 사람들은 그들을 달빛 우체부라고 불렀다."
    parts = split_caption(text)
    lines = [line for part in parts for line in part.split("\n")]
    assert len(parts) >= 2 and all(len(line) <= 23 for line in lines)
    assert "".join(text.split()) == "".join("".join(parts).split())


def test_timed_cues_tile_their_span_and_speech_cues_follow_each_clip() -> None:
    cues = timed_cues(2.0, 8.0, "One short line. " + "A much longer sentence that needs a cue of its own here. " * 2)
    assert cues[0].start_s == 2.0 and cues[-1].end_s == 8.0
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(cues))
    spoken = speech_cues([(10.0, 2.0, "Mira: Hold on.\nPip: Never."), (0.5, 3.0, "The lamp went dark.")])
    assert (spoken[0].start_s, spoken[0].text) == (0.5, "The lamp went dark.")
    # "Pip: Never." has 0.8 s of the dialogue: its cue stays up a second, into the quiet after the clip.
    assert spoken[0].end_s == 3.5 and spoken[1].start_s == 10.0 and spoken[-1].end_s == 12.2
    assert [c.text for c in spoken[1:]] == ["Mira: Hold on.", "Pip: Never."]
    assert timed_cues(1.0, 1.0, "nothing to show") == [] and timed_cues(0.0, 2.0, "  \n ") == []


def test_no_cue_is_on_screen_for_less_than_a_second() -> None:
    # A one-word line of 0.3 s between two narrations: it stays up into the quiet after it, then before it.
    spoken = speech_cues([(0.15, 2.0, "The lamp went dark."), (2.6, 0.3, "Yes!"), (3.5, 2.0, "The boat turned.")])
    assert [c.text for c in spoken] == ["The lamp went dark.", "Yes!", "The boat turned."]
    assert (spoken[1].start_s, spoken[1].end_s) == (2.15, 3.15)
    assert all(c.end_s - c.start_s >= 1.0 for c in spoken)
    # With no quiet to grow into, it shares the cue of its nearer neighbour, in order.
    crowded = speech_cues([(0.15, 2.0, "The lamp went dark."), (2.2, 0.3, "Yes!"), (2.6, 2.0, "The boat turned.")])
    assert [c.text for c in crowded] == ["The lamp went dark.\nYes!", "The boat turned."]
    assert all(c.end_s - c.start_s >= 1.0 for c in crowded) and crowded[0].end_s == 2.5
    # A shot's last words stay up at most TAIL_S past their clip: never into the next shot's picture.
    last = speech_cues([(7.0, 0.4, "Done.")])
    assert (last[0].start_s, last[0].end_s) == (6.65, 7.65)
    # Subtitles without a voice tile each shot, none shorter than a second either.
    tiled = timed_cues(0.0, 2.0, "Go. " + "A sentence that takes much longer to say than the first one. " * 2)
    assert all(c.end_s - c.start_s >= 1.0 for c in tiled) and tiled[-1].end_s == 2.0


def test_the_examples_subtitles_follow_its_speech(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(EXAMPLES / "story.md"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "the-lighthouse-keeper-s-cat"
    clips = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["voice"]["clips"]
    assert len(clips) == 9 and clips[7]["text"] == "Pip is the real keeper of the light."
    cues = read_srt(run_dir / "film.srt")
    spans = [(clip["start_s"], clip["start_s"] + clip["seconds"]) for clip in clips]
    for cue in cues:
        # On screen while its words are spoken; one too short to read stays up a second, at most TAIL_S past its clip.
        assert any(start - 0.002 <= cue.start_s < cue.end_s <= end + 0.002 for start, end in spans) or (
            cue.end_s - cue.start_s == pytest.approx(1.0)
            and any(start < cue.end_s <= end + TAIL_S + 0.002 for start, end in spans)
        ), cue
        assert all(len(line) <= LINE_CHARS for line in cue.text.split("\n")) and cue.text.count("\n") <= 1
    assert any(cue.text == "Pip is the real keeper of the light." for cue in cues)
    page = (run_dir / "review.html").read_text(encoding="utf-8")
    assert "<b>Mira</b> “Pip is the real keeper of the light.”" in page
    words = " ".join(cue.text.replace("\n", " ") for cue in cues)
    assert words == " ".join(clip["text"] for clip in clips)

    # `tale stitch RUN_DIR` makes the same subtitles from the manifest; without the voice, one run per shot.
    again = CliRunner().invoke(app, ["stitch", str(run_dir), "--json"])
    assert again.exit_code == 0, again.output
    assert read_srt(run_dir / "film.srt") == cues
    silent = CliRunner().invoke(app, ["stitch", str(run_dir), "--no-voice", "--json"])
    assert silent.exit_code == 0, silent.output
    unvoiced = read_srt(run_dir / "film.srt")
    assert unvoiced[0].start_s == 0.0 and unvoiced[-1].end_s == 64.0


def test_stitch_lays_a_folder_of_recordings_on_the_film(tmp_path: Path) -> None:
    clips = [
        make_clip(tmp_path / f"c{n}.mp4", seconds=3.0, audio=False, color=c)
        for n, c in enumerate(("red", "green", "blue"))
    ]
    voices = tmp_path / "voices"
    make_audio(voices / "shot-02.m4a", seconds=1.0, frequency=440)
    make_audio(voices / "shot-02-2.m4a", seconds=0.8, frequency=550)
    make_audio(voices / "03.m4a", seconds=1.5, frequency=330)
    out = tmp_path / "film.mp4"
    result = CliRunner().invoke(app, ["stitch", *map(str, clips), "-o", str(out), "--voice-dir", str(voices), "--json"])
    assert result.exit_code == 0, result.output
    assert sounding_s(out, 0.0, 3.0) < 0.3  # shot 1 has no recording
    assert sounding_s(out, 3.15, 5.1) > 1.5  # shot 2: two recordings one after the other
    assert sounding_s(out, 6.15, 7.65) > 1.2

    make_audio(voices / "shot-01.m4a", seconds=4.0)
    refused = CliRunner().invoke(app, ["stitch", *map(str, clips), "-o", str(out), "--voice-dir", str(voices)])
    assert refused.exit_code == ExitCode.INPUT
    assert "shot-01.m4a lasts 4.0 s and runs past the end of shot 1" in refused.output
    both = CliRunner().invoke(app, ["stitch", *map(str, clips), "--voice-dir", str(voices), "--no-voice"])
    assert both.exit_code == ExitCode.INPUT and "contradict" in both.output
    missing = CliRunner().invoke(app, ["stitch", *map(str, clips), "--voice-dir", str(tmp_path / "none")])
    assert missing.exit_code == ExitCode.INPUT and "voice folder not found" in missing.output


def test_burning_subtitles_onto_the_previews_own_captions_is_refused(
    tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    made = CliRunner().invoke(app, ["render", str(story_file), "-r", str(tiny_recipe), "-o", str(tmp_path), "--json"])
    assert made.exit_code == 0, made.output
    run_dir = Path(json.loads(made.stdout)["run_dir"])
    film = (run_dir / "film.mp4").read_bytes()
    twice = CliRunner().invoke(app, ["stitch", str(run_dir), "--burn-subtitles"])
    assert twice.exit_code == ExitCode.INPUT and "would show it twice" in twice.output
    assert "tale render PLAN --burn-subtitles" in twice.output and (run_dir / "film.mp4").read_bytes() == film
    # Rendered with --burn-subtitles, the animatic has no caption of its own: stitching it burned again is fine.
    burned = CliRunner().invoke(app, ["render", str(run_dir / "plan.json"), "-r", str(tiny_recipe), "--burn-subtitles"])
    assert burned.exit_code == 0, burned.output
    again = CliRunner().invoke(app, ["stitch", str(run_dir), "--burn-subtitles", "--transition", "fade:0.2"])
    assert again.exit_code == 0, again.output


# ---------------------------------------------------------------- text that looks like markup or timing

WRITTEN = [
    "00:00:05,000 --> 00:00:06,000",
    "Bob <img src=x> walks.",
    "<script>alert(4)</script>",
    "{\\an8}Up here, {\\b1}bold{\\b0} and a\\Nb.",
    "a < b > c & d &lt; e <b>bold</b> <i>it</i>",
    "2\n00:00:01,000 --> 00:00:02,000",
]


def test_srt_text_that_looks_like_markup_or_timing_reads_back_as_written() -> None:
    cues = [Cue(n, n + 1.0, text) for n, text in enumerate(WRITTEN)]
    text = srt_text(cues)
    assert "-->" not in "".join(block.split("\n", 2)[2] for block in text.split("\n\n"))
    blocks = text.strip().split("\n\n")
    assert len(blocks) == len(WRITTEN)
    assert [shown(block.split("\n", 2)[2]) for block in blocks] == WRITTEN
    assert srt_text([Cue(0.0, 1.0, "tab\there, bell\x07 and escape\x1b[2J")]).endswith(
        "tab here, bell  and escape [2J\n"
    )


def test_the_soft_track_and_film_srt_show_markup_and_timing_as_written(tmp_path: Path) -> None:
    plan = {
        "title": "Markup",
        "slug": "markup",
        "width": 160,
        "height": 96,
        "fps": 12,
        "shots": [
            {"index": n, "duration_s": 1.0, "prompt": f"shot {n}", "narration": text}
            for n, text in enumerate(WRITTEN, start=1)
        ],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('width = 160\nheight = 96\nfps = 12\n[video]\nbackend = "preview"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(tmp_path / "plan.json"), "-r", str(recipe), "--no-voice"])
    assert result.exit_code == 0, result.output

    from_file = read_srt(tmp_path / "film.srt")
    from_film = soft_track(tmp_path / "film.mp4")
    assert [shown(cue.text) for cue in from_file] == WRITTEN
    assert [shown(cue.text) for cue in from_film] == WRITTEN
    assert [(cue.start_s, cue.end_s) for cue in from_film] == [(n, n + 1.0) for n in range(len(WRITTEN))]
