"""`tale render` with a cloud recipe end to end (the fake provider server stands in for the providers)."""

from __future__ import annotations

import json

import pytest
from cloudrender import EXAMPLE_STORY, SMALL_VEO, shrunk
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.media.ffmpeg import probe


def test_render_with_a_cloud_recipe(fake_providers, tmp_path):
    recipe = tmp_path / "veo-small.toml"
    recipe.write_text(SMALL_VEO, encoding="utf-8")
    out = tmp_path / "out"

    result = CliRunner().invoke(
        app, ["render", str(EXAMPLE_STORY), "--recipe", str(recipe), "--out", str(out), "--jobs", "8", "--json"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["counts"] == {"shots": 8, "cached": 0, "rendered": 8, "failed": 0}
    assert abs(probe(out / "the-lighthouse-keeper-s-cat" / "film.mp4").duration_s - 64.0) < 0.1
    assert fake_providers.creates["veo"] == 8


def test_a_refused_shot_ends_the_run_with_a_summary(fake_providers, tmp_path):
    recipe = tmp_path / "veo-small.toml"
    recipe.write_text(SMALL_VEO, encoding="utf-8")
    fake_providers.refuse_word = "shot 5:"

    result = CliRunner().invoke(app, ["render", str(EXAMPLE_STORY), "--recipe", str(recipe), "--out", str(tmp_path)])

    assert result.exit_code == ExitCode.SHOTS_FAILED
    assert "1 of 8 shots failed (shot 5: Veo refused shot 5" in " ".join(result.output.split())
    assert "run the same command again" in result.output


# Each shipped cloud recipe and the fake server's create counter its video jobs go to.
CLOUD_RECIPES = {
    "veo-3.1-fast": "veo",
    "veo-3.1-lite": "veo",
    "gemini-omni": "omni",
    "runway-gen4-turbo": "runway",
    "runway-gen4.5": "runway",
}


@pytest.mark.parametrize("name", list(CLOUD_RECIPES))
def test_each_cloud_recipe_renders_the_example_story(fake_providers, tmp_path, name):
    out = tmp_path / "out"

    result = CliRunner().invoke(
        app, ["render", str(EXAMPLE_STORY), "--recipe", shrunk(name, tmp_path), "--out", str(out), "--yes"]
    )

    assert result.exit_code == 0, result.output
    film = out / "the-lighthouse-keeper-s-cat" / "film.mp4"
    assert film.is_file() and abs(probe(film).duration_s - 64.0) < 0.1
    assert fake_providers.creates[CLOUD_RECIPES[name]] == 8


@pytest.mark.parametrize("planner", ["gemini", "openai"])
def test_a_dry_run_never_calls_a_paid_planner(fake_providers, tmp_path, planner):
    recipe = tmp_path / "veo-small.toml"
    recipe.write_text(SMALL_VEO, encoding="utf-8")
    out = tmp_path / "out"
    dry_run = ["render", str(EXAMPLE_STORY), "--recipe", str(recipe), "--out", str(out), "--planner", planner]
    dry_run.append("--dry-run")

    result = CliRunner().invoke(app, [*dry_run, "--json"])

    assert result.exit_code == 0, result.output
    assert fake_providers.requests == []  # the planner was not asked, nor anything else
    report = json.loads(result.stdout)
    # The price book's high end for that planner, on today's prices (Gemini's double on 2027-01-01).
    from tale_cli.pricing.book import default_book
    from tale_cli.pricing.rates import _best

    planning = _best(default_book().planner, planner, "").usd_per_plan.high
    assert report["planning_usd"] == planning
    assert report["plan_source"].startswith(f"not planned: a dry run does not call {planner}")
    assert report["counts"] == {"shots": 8, "cached": 0, "rendered": 0, "failed": 0}
    assert not out.exists()

    # A plan already in the run folder is the one shown.
    planned = CliRunner().invoke(
        app, ["plan", str(EXAMPLE_STORY), "--recipe", str(recipe), "--planner", "offline", "--out", str(out)]
    )
    assert planned.exit_code == 0, planned.output
    plan_file = out / "the-lighthouse-keeper-s-cat" / "plan.json"
    edited = json.loads(plan_file.read_text(encoding="utf-8"))
    edited["title"] = "The Keeper, Edited"
    plan_file.write_text(json.dumps(edited), encoding="utf-8")

    shown = CliRunner().invoke(app, dry_run)

    assert shown.exit_code == 0, shown.output
    assert fake_providers.requests == []
    text = " ".join(shown.stdout.split())
    assert "The Keeper, Edited" in text and f"showing {plan_file}" in text
    assert f"planning would cost about ${planning:.2f}" in text and "8 shots would render" in text


def shape_asked(fake, kind: str) -> set[str]:
    """The shapes the video creates of one provider asked for, as each provider names them."""
    if kind == "veo":
        bodies = [r["json"] for r in fake.requests if r["path"].endswith(":predictLongRunning")]
        return {body["parameters"]["aspectRatio"] for body in bodies}
    if kind == "omni":
        bodies = [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"].endswith("/interactions")]
        return {body["response_format"]["aspect_ratio"] for body in bodies}
    bodies = [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"].endswith("_to_video")]
    return {body["ratio"] for body in bodies}


# What each recipe's provider is asked for a tall film and a square one: a tall film is tall at the provider;
# a square one is square where the model has a square ratio (gen4_turbo, and gen4.5 from an image), else 16:9.
SHAPES_ASKED = {
    "veo-3.1-fast": ({"9:16"}, {"16:9"}),
    "veo-3.1-lite": ({"9:16"}, {"16:9"}),
    "gemini-omni": ({"9:16"}, {"16:9"}),
    "runway-gen4-turbo": ({"720:1280"}, {"960:960"}),
    "runway-gen4.5": ({"720:1280"}, {"1280:720", "960:960"}),
}


@pytest.mark.parametrize("name", list(CLOUD_RECIPES))
@pytest.mark.parametrize(("aspect", "size"), [("9:16", (720, 1280)), ("1:1", (720, 720))])
def test_each_cloud_recipe_renders_tall_and_square_films(fake_providers, tmp_path, name, aspect, size):
    story = tmp_path / "story.md"
    text = EXAMPLE_STORY.read_text(encoding="utf-8").replace("shots: 8\nseconds: 8\n", "shots: 2\nseconds: 4\n")
    story.write_text(text.replace("---\ntitle:", f'---\naspect: "{aspect}"\nresolution: 720p\ntitle:', 1))
    out = tmp_path / "out"

    result = CliRunner().invoke(app, ["render", str(story), "--recipe", shrunk(name, tmp_path), "--out", str(out)])

    assert result.exit_code == 0, result.output
    film = probe(out / "the-lighthouse-keeper-s-cat" / "film.mp4")
    assert (film.width, film.height) == size
    kind = CLOUD_RECIPES[name]
    assert fake_providers.creates[kind] == 2
    tall, square = SHAPES_ASKED[name]
    assert shape_asked(fake_providers, kind) <= (tall if aspect == "9:16" else square)
    said = " ".join(result.output.split())
    if name.startswith(("veo", "gemini")):
        assert ("renders 16:9 and 9:16 only: this 1:1 film's shots are rendered 16:9" in said) == (aspect == "1:1")


def test_a_1080p_vertical_film_is_rendered_at_1080p_by_veo(fake_providers, tmp_path):
    story = tmp_path / "story.md"
    text = EXAMPLE_STORY.read_text(encoding="utf-8").replace("shots: 8\nseconds: 8\n", "shots: 1\nseconds: 4\n")
    story.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    recipe = shrunk("veo-3.1-fast", tmp_path)

    result = CliRunner().invoke(
        app, ["render", str(story), "-r", recipe, "-o", str(out), "--aspect", "9:16", "--resolution", "1080p", "--yes"]
    )

    assert result.exit_code == 0, result.output
    film = probe(out / "the-lighthouse-keeper-s-cat" / "film.mp4")
    assert (film.width, film.height) == (1080, 1920)
    bodies = [r["json"] for r in fake_providers.requests if r["path"].endswith(":predictLongRunning")]
    assert [(b["parameters"]["aspectRatio"], b["parameters"]["resolution"]) for b in bodies] == [("9:16", "1080p")]
