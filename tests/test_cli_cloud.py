"""`tale render` with a cloud recipe end to end (the fake provider server stands in for the providers)."""

from __future__ import annotations

import json

from cloudrender import EXAMPLE_STORY
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.media import probe

SMALL_VEO = """
description = "veo-3.1-fast, shrunk for tests"
width = 320
height = 180
continuity = "references"
[planner]
backend = "gemini"
[image]
backend = "gemini"
[video]
backend = "veo"
model = "veo-3.1-fast-generate-001"
audio = true
poll_interval_s = 0.02
"""


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
