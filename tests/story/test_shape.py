"""The film's shape: aspect and resolution from flag, story and recipe, and what the preview makes of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import STORY
from PIL import Image
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.config import Recipe, VideoConfig, load_recipe
from tale_cli.errors import InputError, PlanError
from tale_cli.film.captions import caption_layout, wrap_caption
from tale_cli.film.stitch import Cue, _ass_text
from tale_cli.media.ffmpeg import probe
from tale_cli.story.plan import parse_plan
from tale_cli.story.reader import parse_story
from tale_cli.story.shape import frame_size, nearest_aspect, shaped_recipe, sized, story_shape

# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("aspect", "short", "size"),
    [
        ("16:9", 720, (1280, 720)),
        ("9:16", 720, (720, 1280)),
        ("9:16", 1080, (1080, 1920)),
        ("1:1", 720, (720, 720)),
        ("4:5", 720, (720, 900)),
        ("4:5", 1080, (1080, 1350)),
        ("16:9", 480, (854, 480)),
    ],
)
def test_frame_sizes_are_even_and_keep_the_short_side(aspect: str, short: int, size: tuple[int, int]) -> None:
    assert frame_size(aspect, short) == size


def test_turning_a_frame_swaps_its_sides_exactly() -> None:
    assert sized(832, 480, aspect="9:16", resolution=None) == ("9:16", 480, 832)
    assert sized(832, 480, aspect="16:9", resolution=None) == ("16:9", 832, 480)
    assert sized(832, 480, aspect="1:1", resolution=None) == ("1:1", 480, 480)
    assert sized(1280, 720, aspect="4:5", resolution=None) == ("4:5", 720, 900)
    assert sized(1280, 720, aspect=None, resolution="1080p") == ("16:9", 1920, 1080)


def test_nearest_aspect() -> None:
    assert nearest_aspect(720, 480) == "16:9"
    assert nearest_aspect(480, 832) == "9:16"
    assert nearest_aspect(500, 512) == "1:1"
    assert nearest_aspect(720, 900) == "4:5"


# ---------------------------------------------------------------- precedence


def test_flag_beats_story_beats_recipe_for_each_half() -> None:
    recipe = Recipe(aspect="1:1", resolution="1080p")

    shape = story_shape(recipe, story_aspect="9:16", story_resolution="720p", aspect="16:9")
    assert (shape.aspect, shape.width, shape.height) == ("16:9", 1280, 720)
    assert (shape.aspect_from, shape.resolution_from) == ("flag", "story")

    shape = story_shape(recipe, story_aspect="9:16", story_resolution=None)
    assert (shape.aspect, shape.width, shape.height, shape.resolution_from) == ("9:16", 1080, 1920, "recipe")

    shape = story_shape(recipe, story_aspect=None, story_resolution=None)
    assert (shape.aspect, shape.width, shape.height) == ("1:1", 1080, 1080)

    shape = story_shape(Recipe(), story_aspect=None, story_resolution=None)
    assert (shape.aspect, shape.width, shape.height) == ("16:9", 1280, 720)
    assert shape.aspect_from == "recipe width and height"


def test_a_chosen_resolution_becomes_the_providers_but_the_recipes_own_does_not() -> None:
    veo = load_recipe("veo-3.1-fast")
    assert veo.video.resolution == "720p"

    by_flag = shaped_recipe(veo, story_shape(veo, story_aspect="9:16", story_resolution=None, resolution="1080p"))
    assert (by_flag.width, by_flag.height, by_flag.aspect, by_flag.video.resolution) == (1080, 1920, "9:16", "1080p")

    own = veo.model_copy(update={"resolution": "1080p"})
    by_recipe = shaped_recipe(own, story_shape(own, story_aspect=None, story_resolution=None))
    assert (by_recipe.width, by_recipe.height, by_recipe.video.resolution) == (1920, 1080, "720p")

    local = Recipe(video=VideoConfig(backend="diffusers"))
    shaped = shaped_recipe(local, story_shape(local, story_aspect=None, story_resolution="1080p"))
    assert (shaped.width, shaped.height, shaped.video.resolution) == (1920, 1080, None)


def test_front_matter_takes_only_the_shapes_tale_makes() -> None:
    story = parse_story('---\naspect: "9:16"\nresolution: 1080p\n---\nA cat.\n', Path("s.md"))
    assert (story.meta.aspect, story.meta.resolution) == ("9:16", "1080p")
    with pytest.raises(InputError, match="aspect"):
        parse_story('---\naspect: "3:2"\n---\nA cat.\n', Path("s.md"))
    with pytest.raises(InputError, match="resolution"):
        parse_story("---\nresolution: 480p\n---\nA cat.\n", Path("s.md"))


def test_a_plan_whose_aspect_contradicts_its_frame_is_refused() -> None:
    shot = {"index": 1, "duration_s": 1, "prompt": "a cat"}
    with pytest.raises(PlanError, match="aspect 9:16 is tall but 1280x720 is wide"):
        parse_plan({"title": "T", "slug": "t", "aspect": "9:16", "width": 1280, "height": 720, "shots": [shot]})
    with pytest.raises(PlanError, match="above zero"):
        parse_plan({"title": "T", "slug": "t", "aspect": "0:9", "shots": [shot]})
    plan = parse_plan({"title": "T", "slug": "t", "aspect": "1:1", "width": 720, "height": 720, "shots": [shot]})
    assert (plan.width, plan.height) == (720, 720)


# ---------------------------------------------------------------- captions


def test_captions_in_a_tall_frame_are_sized_by_its_width_and_sit_above_the_bottom_fifth() -> None:
    wide, tall, square = caption_layout(1280, 720), caption_layout(720, 1280), caption_layout(720, 720)
    assert (wide.font_size, wide.margin_v, wide.margin_h) == (36, 36, 64)  # as wide films always had
    assert tall.font_size == wide.font_size == square.font_size
    assert tall.margin_v == 256 and tall.line_chars < wide.line_chars / 1.5
    text = "Mira ran up the spiral stairs with a lantern in her hand, and far out a boat was drifting."
    lines = wrap_caption(text, tall).split("\n")
    assert len(lines) >= 3 and all(len(line) <= tall.line_chars for line in lines)
    script = _ass_text([Cue(0.0, 2.0, text)], 720, 1280)
    assert "PlayResX: 720\nPlayResY: 1280" in script and ",2,50,50,256,1" in script and "\\N" in script


# ---------------------------------------------------------------- the preview, end to end

TALL_STORY = STORY.replace("title: The Small Test\n", 'title: The Small Test\naspect: "9:16"\nshots: 2\n')


def render(tmp_path: Path, source: Path, *args: str) -> dict[str, object]:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('width = 160\nheight = 96\nfps = 12\nseconds = 1.0\n[video]\nbackend = "preview"\n')
    result = CliRunner().invoke(
        app, ["render", str(source), "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--json", *args]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def film_size(report: dict[str, object]) -> tuple[int, int]:
    info = probe(Path(str(report["film"])))
    return info.width, info.height


def test_a_vertical_story_renders_a_vertical_film_and_plan(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(TALL_STORY, encoding="utf-8")

    report = render(tmp_path, story, "--resolution", "720p")

    assert film_size(report) == (720, 1280)
    plan = json.loads((Path(str(report["run_dir"])) / "plan.json").read_text(encoding="utf-8"))
    assert (plan["aspect"], plan["width"], plan["height"]) == ("9:16", 720, 1280)
    with Image.open(str(report["storyboard"])) as board:
        assert board.width == 4 * 300 and board.height > board.width / 2  # tall thumbnails, six caption lines


def test_1080p_and_square(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(TALL_STORY.replace("shots: 2", "shots: 1"), encoding="utf-8")

    assert film_size(render(tmp_path, story, "--resolution", "1080p")) == (1080, 1920)
    assert film_size(render(tmp_path, story, "--aspect", "1:1", "--resolution", "720p")) == (720, 720)
    assert film_size(render(tmp_path, story, "--aspect", "4:5", "--resolution", "720p")) == (720, 900)
    # Without a resolution the recipe's 160x96 keeps its short side: turned, 96x160.
    assert film_size(render(tmp_path, story)) == (96, 160)


def test_changing_the_shape_renders_again_and_changing_it_back_renders_nothing(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(TALL_STORY, encoding="utf-8")

    first = render(tmp_path, story)
    assert film_size(first) == (96, 160)
    wide = render(tmp_path, story, "--aspect", "16:9")
    assert film_size(wide) == (160, 96)
    back = render(tmp_path, story)
    assert film_size(back) == (96, 160)
    assert first["counts"] == {"shots": 2, "cached": 0, "rendered": 2, "failed": 0}
    assert wide["counts"] == {"shots": 2, "cached": 0, "rendered": 2, "failed": 0}
    assert back["counts"] == {"shots": 2, "cached": 2, "rendered": 0, "failed": 0}
    assert str(wide["plan_source"]).endswith("(story unchanged) at 16:9 160x96")  # not planned again


def test_a_plan_json_keeps_its_shape_unless_a_flag_changes_it(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(TALL_STORY, encoding="utf-8")
    plan_file = Path(str(render(tmp_path, story)["run_dir"])) / "plan.json"

    again = render(tmp_path, plan_file)
    assert film_size(again) == (96, 160) and again["counts"]["cached"] == 2  # type: ignore[index]
    square = render(tmp_path, plan_file, "--aspect", "1:1")
    assert film_size(square) == (96, 96)
    assert json.loads(plan_file.read_text(encoding="utf-8"))["aspect"] == "1:1"
    assert json.loads((plan_file.parent / "plan.prev.json").read_text(encoding="utf-8"))["aspect"] == "9:16"


def test_plan_says_where_the_shape_came_from(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(TALL_STORY, encoding="utf-8")

    result = CliRunner().invoke(
        app, ["--debug", "plan", str(story), "--out", str(tmp_path), "--resolution", "1080p", "--json"]
    )

    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert (plan["aspect"], plan["width"], plan["height"]) == ("9:16", 1080, 1920)
    assert "setting aspect = 9:16 (1080x1920) (from story)" in result.stderr
    assert "setting resolution = 1080p (from flag)" in result.stderr


def test_an_unknown_shape_flag_names_the_valid_ones(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(STORY, encoding="utf-8")

    result = CliRunner().invoke(app, ["plan", str(story), "--out", str(tmp_path), "--aspect", "3:2"])

    assert result.exit_code == 2 and "16:9" in result.output and "4:5" in result.output


def test_the_estimate_prices_the_films_own_resolution(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text(TALL_STORY.replace("shots: 2", "shots: 8\nresolution: 1080p"), encoding="utf-8")

    result = CliRunner().invoke(app, ["cost", "estimate", str(story), "--recipe", "veo-3.1-fast", "--json"])

    assert result.exit_code == 0, result.output
    # 8 shots of 8 s on Veo 3.1 Fast at 1080p ($0.12/s in the book), not at the recipe's 720p ($0.10/s).
    assert json.loads(result.stdout)["video_usd"] == pytest.approx(8 * 8 * 0.12)
