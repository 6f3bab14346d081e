from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tale_cli.backends.base import ReferenceRequest, ShotRequest
from tale_cli.backends.local.preview import PreviewImage, PreviewVideo, palette
from tale_cli.config import Recipe
from tale_cli.media.drawing import text_font
from tale_cli.media.ffmpeg import check_clip, extract_frame
from tale_cli.media.fonts import cjk_font, font_for
from tale_cli.story.plan import Character, Plan, Shot, Speech


class NoJournal:
    def existing_job(self) -> None:
        return None

    def record_job(self, job: dict[str, object]) -> None:
        raise AssertionError("the preview backend never records provider jobs")


def make_plan(narration: str = "Ada walks.", prompt: str = "A harbour at dawn") -> Plan:
    return Plan(
        title="T",
        slug="t",
        width=192,
        height=108,
        fps=12,
        characters=[Character(id="ada", name="Ada", description="green coat")],
        shots=[
            Shot(index=1, duration_s=1.5, prompt=prompt, camera="pan left", characters=["ada"], narration=narration)
        ],
    )


def render(tmp_path: Path, plan: Plan, name: str = "clip") -> Path:
    shot = plan.shots[0]
    output = tmp_path / f"{name}.mp4.part"
    PreviewVideo(Recipe()).render_shot(
        ShotRequest(
            plan=plan,
            shot=shot,
            prompt=shot.prompt,
            negative_prompt="",
            width=plan.width,
            height=plan.height,
            fps=plan.fps,
            duration_s=shot.duration_s,
            seed=1,
            output=output,
            journal=NoJournal(),
        )
    )
    return output


def frame(clip: Path, at: str, tmp_path: Path) -> np.ndarray:
    path = extract_frame(clip, tmp_path / f"{clip.stem}-{at}.png", at=at)
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_clip_lasts_exactly_the_shot_and_moves(tmp_path: Path) -> None:
    clip = render(tmp_path, make_plan())
    info = check_clip(clip, expected_s=1.5, fps=12)
    assert (info.width, info.height, info.has_audio) == (192, 108, True)
    first, last = frame(clip, "first", tmp_path), frame(clip, "last", tmp_path)
    assert np.abs(first - last).mean() > 1.0  # the camera moved


def test_colour_comes_from_the_content(tmp_path: Path) -> None:
    assert palette("a storm at sea") == palette("a storm at sea")
    assert palette("a storm at sea") != palette("a sunny meadow")
    one = frame(render(tmp_path, make_plan(prompt="a storm at sea"), "a"), "first", tmp_path)
    two = frame(render(tmp_path, make_plan(prompt="a sunny meadow"), "b"), "first", tmp_path)
    assert np.abs(one.mean(axis=(0, 1)) - two.mean(axis=(0, 1))).max() > 5


def glyph(text: str) -> np.ndarray:
    image = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(image).text((4, 4), text, font=text_font(text, 48), fill=255)
    return np.asarray(image)


@pytest.mark.skipif(cjk_font() is None, reason="no CJK font on this machine (install fonts-nanum)")
def test_hangul_renders_as_hangul() -> None:
    assert font_for("하늘") == cjk_font()
    # With no Hangul glyphs every syllable draws the same "missing" box.
    assert not np.array_equal(glyph("가"), glyph("나"))
    assert glyph("가").sum() > 0


def test_missing_cjk_font_is_reported_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import tale_cli.media.fonts as fonts

    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    fonts._warn_once.cache_clear()
    with caplog.at_level("WARNING", logger="tale"):
        fonts.font_for("하늘")
        fonts.font_for("토리")
    assert [r.getMessage() for r in caplog.records].count(fonts.INSTALL_HINT) == 1
    assert "fonts-nanum" in fonts.INSTALL_HINT


def test_reference_card(tmp_path: Path) -> None:
    plan = make_plan()
    output = tmp_path / "ada.png"
    PreviewImage(Recipe()).render_reference(
        ReferenceRequest(plan=plan, character=plan.characters[0], prompt="", seed=3, output=output, journal=NoJournal())
    )
    with Image.open(output) as card:
        assert card.size == (768, 768) and card.format == "PNG"


def _white_in_bottom_quarter(path: Path, at: float) -> int:
    """Near-white pixels (caption text) in the lowest quarter of the frame shown at `at` seconds."""
    from tests.videos import frame_at

    frame = frame_at(path, at)
    band = frame[frame.shape[0] * 3 // 4 :]
    return int((band.min(axis=2) >= 200).sum())


def test_burned_subtitles_are_the_only_caption_on_the_animatic(tmp_path: Path) -> None:
    """With --burn-subtitles the narration is drawn once, by the stitch: the animatic leaves its own caption out."""
    from tale_cli.pipeline import RenderOptions
    from tale_cli.pipeline import render as render_film

    plan = make_plan(narration="Ada walks to the harbour.").model_copy(update={"width": 480, "height": 272})
    (tmp_path / "plan.json").write_text(plan.model_dump_json(), encoding="utf-8")
    recipe = Recipe(width=480, height=272, fps=12)
    plain = render_film(tmp_path / "plan.json", RenderOptions(recipe=recipe, run_dir=tmp_path / "plain"))
    burned = render_film(
        tmp_path / "plan.json", RenderOptions(recipe=recipe, run_dir=tmp_path / "burned", burn_subtitles=True)
    )
    assert plain.film is not None and burned.film is not None

    assert _white_in_bottom_quarter(tmp_path / "plain" / "shots" / "shot-01.mp4", 0.75) > 50  # the animatic's caption
    assert _white_in_bottom_quarter(tmp_path / "burned" / "shots" / "shot-01.mp4", 0.75) == 0  # left to the stitch
    assert _white_in_bottom_quarter(burned.film, 0.75) > 50  # drawn once, burned into the film


def _request(plan: Plan, output: Path, speech_times: tuple[tuple[float, float], ...] | None = None) -> ShotRequest:
    shot = plan.shots[0]
    return ShotRequest(plan=plan, shot=shot, prompt=shot.prompt, negative_prompt="", width=plan.width,
                       height=plan.height, fps=plan.fps, duration_s=shot.duration_s, seed=1, output=output,
                       journal=NoJournal(), speech_times=speech_times)  # fmt: skip


def test_the_caption_shows_what_is_said_at_each_moment_with_the_speakers_name(tmp_path: Path) -> None:
    from tale_cli.backends.local.preview import caption_at, captions
    from tests.captions import shown_caption
    from tests.videos import frame_at

    speech = [{"who": "narrator", "text": "The lamp went dark."}, {"who": "ada", "text": "Who is there?"},
              {"who": "narrator", "text": "Only the wind."}]  # fmt: skip
    plan = Plan.model_validate({
        "title": "T", "slug": "t", "width": 640, "height": 360, "fps": 12,
        "characters": [{"id": "ada", "name": "Ada"}],
        "shots": [{"index": 1, "duration_s": 6, "prompt": "A lighthouse at night", "speech": speech}],
    })  # fmt: skip
    # Where the voice track says them: each caption from the middle of the pause before it to the middle of the next.
    request = _request(plan, tmp_path / "clip.mp4.part", ((0.15, 1.6), (1.9, 3.1), (3.4, 4.4)))
    shown = captions(request)
    assert [(c.speaker, c.text) for c in shown] == [("", "The lamp went dark."), ("Ada", "Who is there?"),
                                                     ("", "Only the wind.")]  # fmt: skip
    assert [(c.start_s, c.end_s) for c in shown] == [(0.0, 1.75), (1.75, 3.25), (3.25, 6.0)]
    assert caption_at(request, 2.5) == shown[1] and caption_at(request, 5.9) == shown[2]
    # Before the voice has spoken, where a natural pace says them: still in order, covering the shot.
    estimated = captions(_request(plan, tmp_path / "x"))
    assert [c.text for c in estimated] == [c.text for c in shown] and estimated[-1].end_s == 6.0
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(estimated))

    PreviewVideo(Recipe()).render_shot(request)
    check_clip(request.output, expected_s=6.0)
    for caption in shown:
        middle = (caption.start_s + caption.end_s) / 2
        assert shown_caption(frame_at(request.output, middle), request) == caption, caption


def test_a_shot_that_only_narrates_keeps_its_cache_key(tmp_path: Path) -> None:
    plan = make_plan(narration="Ada walks.")
    key = PreviewVideo(Recipe()).request_fingerprint(_request(plan, tmp_path / "x"))
    assert key["narration"] == "Ada walks." and "speech" not in key  # as the animatic has always keyed it
    spoken = plan.model_copy(
        update={"shots": [plan.shots[0].model_copy(update={"speech": [*plan.shots[0].speech,
                                                                     Speech(who="ada", text="Hello.")]})]}
    )  # fmt: skip
    timed = PreviewVideo(Recipe()).request_fingerprint(_request(spoken, tmp_path / "x", ((0.15, 0.6), (0.9, 1.2))))
    assert "narration" not in timed and [row[:2] for row in timed["speech"]] == [["", "Ada walks."], ["Ada", "Hello."]]
    later = PreviewVideo(Recipe()).request_fingerprint(_request(spoken, tmp_path / "x", ((0.15, 0.8), (1.1, 1.4))))
    assert later != timed  # the caption changes later: other pixels
