"""Marks on the film, never on its shots: a visible one shows where it is asked for and nowhere else, and a re-cut
with or without it renders no shot; an invisible one survives a re-encode at CRF 28 and `tale verify` reads it back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner
from videos import frame_at

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.media.ffmpeg import input_arg, run_ffmpeg
from tale_cli.run.identity import file_digest

MARKABLE = """
description = "an animatic large enough for the invisible mark (256x256 pixels or more)"
width = 384
height = 192
fps = 12
shots = 3
seconds = 1.0

[video]
backend = "preview"
jobs = 2
"""


def tale(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def changed_where(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(mean change in the corner the mark was asked for, mean change elsewhere) of two frames (top-left quarter
    cut out as the corner by the caller)."""
    difference = np.abs(before.astype(float) - after.astype(float)).mean(axis=2)
    return float(difference.mean()), float(difference.max())


def quadrants(frame_a: np.ndarray, frame_b: np.ndarray) -> dict[str, float]:
    difference = np.abs(frame_a.astype(float) - frame_b.astype(float)).mean(axis=2)
    h, w = difference.shape
    return {
        "top-left": float(difference[: h // 3, : w // 3].mean()),
        "top-right": float(difference[: h // 3, -w // 3 :].mean()),
        "bottom-left": float(difference[-h // 3 :, : w // 3].mean()),
        "bottom-right": float(difference[-h // 3 :, -w // 3 :].mean()),
        "middle": float(difference[h // 3 : -h // 3, w // 3 : -w // 3].mean()),
    }


def test_a_visible_mark_shows_where_asked_and_nowhere_else(story_file, tiny_recipe, tmp_path):
    rendered = tale("render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "out"))
    assert rendered.exit_code == 0, rendered.output[-2000:]
    run_dir = next((tmp_path / "out").iterdir())
    film = run_dir / "film.mp4"
    shots = {path.name: file_digest(path) for path in (run_dir / "shots").glob("shot-*.mp4")}
    plain = frame_at(film, 1.5)

    marked = tale("stitch", str(run_dir), "--watermark", "TALE:top-left:1")
    assert marked.exit_code == 0, marked.output
    corners = quadrants(plain, frame_at(film, 1.5))
    assert corners["top-left"] > 8, corners
    assert all(value < 2 for name, value in corners.items() if name != "top-left"), corners
    # The shots are as they were: the mark is the film's alone.
    assert {path.name: file_digest(path) for path in (run_dir / "shots").glob("shot-*.mp4")} == shots
    report = json.loads(tale("verify", str(film), "--json").stdout)
    assert report["ok"] and report["actions"] == ["c2pa.created", "c2pa.edited"]

    logo = tmp_path / "logo.png"
    Image.new("RGBA", (40, 40), (255, 0, 0, 255)).save(logo)
    imaged = tale("stitch", str(run_dir), "--watermark", f"{logo}:bottom-right:0.9")
    assert imaged.exit_code == 0, imaged.output
    corners = quadrants(plain, frame_at(film, 1.5))
    assert corners["bottom-right"] > 8 and corners["top-left"] < 2, corners

    bad = tale("stitch", str(run_dir), "--watermark", "TALE:top-left:2")
    assert bad.exit_code == ExitCode.INPUT and "opacity" in bad.output
    again = tale("stitch", str(run_dir), "--watermark", "none")
    assert again.exit_code == 0
    assert quadrants(plain, frame_at(film, 1.5))["top-left"] < 2


def test_an_invisible_mark_survives_a_crf_28_reencode_and_verify_reads_it(story_file, tmp_path):
    pytest.importorskip("imwatermark")
    recipe = tmp_path / "markable.toml"
    recipe.write_text(MARKABLE, encoding="utf-8")
    rendered = tale(
        "render", str(story_file), "--recipe", str(recipe), "--out", str(tmp_path / "out"),
        "--invisible-watermark", "T-42",
    )  # fmt: skip
    assert rendered.exit_code == 0, rendered.output[-2000:]
    run_dir = next((tmp_path / "out").iterdir())
    film = run_dir / "film.mp4"
    report = json.loads(tale("verify", str(film), "--json").stdout)
    assert report["ok"] and report["invisible_mark"] == "T-42" and "c2pa.watermarked" in report["actions"]

    copy = tmp_path / "reencoded.mp4"
    run_ffmpeg(["-i", input_arg(film), "-c:v", "libx264", "-crf", "28", "-c:a", "copy", input_arg(copy)])
    checked = tale("verify", str(copy), "--json")
    assert checked.exit_code == ExitCode.CREDENTIALS  # the re-encode dropped the signed manifest …
    found = json.loads(checked.stdout)
    assert found["signed"] is False and found["invisible_mark"] == "T-42"  # … but not the mark in the frames

    unmarked = json.loads(tale("verify", str(run_dir / "shots" / "shot-01.mp4"), "--json").stdout)
    assert unmarked["invisible_mark"] is None


def test_marks_are_checked_before_anything_is_made(story_file, tiny_recipe, tmp_path):
    long_text = tale(
        "render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "a"),
        "--invisible-watermark", "far too long for a mark",
    )  # fmt: skip
    assert long_text.exit_code == ExitCode.INPUT and "bytes of text" in long_text.output
    small = tale(
        "render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "b"),
        "--invisible-watermark", "T-1",
    )  # fmt: skip
    assert small.exit_code == ExitCode.INPUT and "160x96" in small.output
    missing = tale(
        "render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "c"),
        "--watermark", str(Path(tmp_path / "gone.png")),
    )  # fmt: skip
    assert missing.exit_code == ExitCode.INPUT and "not found" in missing.output
    for folder in ("a", "b", "c"):
        assert not list((tmp_path / folder).glob("*/shots/shot-*.mp4"))


def test_the_library_itself_reads_the_mark_and_the_picture_keeps_its_edges():
    pytest.importorskip("imwatermark")
    from imwatermark import WatermarkDecoder

    from tale_cli.film.watermark import MARK_BITS, MARK_METHOD, MARK_SCALES, _encoder, _text_of

    rows, cols = np.mgrid[0:192, 0:384]
    frame = np.stack([(rows + cols) % 256, (rows * 3) % 256, np.where(cols > 190, 200, 40)], axis=2).astype(np.float32)
    marked = np.clip(np.rint(_encoder("T-42")(frame)), 0, 255)
    bits = WatermarkDecoder("bits", MARK_BITS).decode(marked.astype(np.float32), MARK_METHOD, scales=MARK_SCALES)
    assert _text_of(bytes(np.packbits(np.asarray(bits, dtype=np.uint8)))) == "T-42"
    # The hard edge at column 190 stays where it was (the library alone would blur it with swapped details).
    assert np.abs(marked - frame)[:, 186:194].mean() < np.abs(marked - frame).mean() * 3


@pytest.mark.parametrize(
    ("spec", "kind", "value", "position", "opacity"),
    [
        ("Tale", "text", "Tale", "bottom-right", 0.5),
        ("Made with Tale:top-left", "text", "Made with Tale", "top-left", 0.5),
        ("Scene 1: dawn:center:0.25", "text", "Scene 1: dawn", "center", 0.25),
        ("10:30", "text", "10:30", "bottom-right", 0.5),
        ("Note: see", "text", "Note: see", "bottom-right", 0.5),
    ],
)
def test_watermark_specs(spec, kind, value, position, opacity):
    from tale_cli.film.watermark import parse_watermark

    mark = parse_watermark(spec)
    assert (mark.kind, mark.value, mark.position, mark.opacity) == (kind, value, position, opacity)


@pytest.mark.parametrize("spec", ["Tale:middle", "Tale:centre:0.3", "Tale:bottom-rigth"])
def test_a_mistyped_position_is_one_clear_error_before_anything_renders(tmp_path, spec):
    from typer.testing import CliRunner

    from tale_cli.cli.app import app

    story = Path(__file__).resolve().parents[2] / "examples" / "story.md"
    result = CliRunner().invoke(app, ["render", str(story), "--watermark", spec, "--out", str(tmp_path)])

    assert result.exit_code == 3
    assert "is not one of top-left, top-right, bottom-left, bottom-right, center" in result.output
    assert not any(tmp_path.iterdir())  # refused before a run folder was made
