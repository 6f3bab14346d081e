"""One price book per run: the book chosen by --prices reaches the estimate, the guard, every backend and the ledger.

Priced through the real Veo and Gemini backends against the fake provider servers, not a backend that prices itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cloudrender import EXAMPLE_STORY
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.cost import pricing_dir
from tale_cli.run.folder import Manifest

RUN = "the-lighthouse-keeper-s-cat"


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    recipe = (Path(__file__).parents[2] / "recipes" / "veo-3.1-fast.toml").read_text(encoding="utf-8")
    # The shipped recipe, shrunk in pixels (not in billed resolution) and polled fast for the fake server.
    recipe = recipe.replace("width = 1280", "width = 320").replace("height = 720", "height = 180")
    recipe = re.sub(r"poll_interval_s = [0-9.]+", "poll_interval_s = 0.02", recipe)
    (tmp_path / "veo-3.1-fast.toml").write_text(recipe, encoding="utf-8")
    book = (pricing_dir() / "2026-11.toml").read_text(encoding="utf-8")
    fast = book.index('id = "veo-3.1-fast"')
    start = book.index("usd_per_second = ", fast)
    end = book.index("\n", start)
    book = book[:start] + "usd_per_second = 1.00" + book[end:]
    (tmp_path / "dear.toml").write_text(book.replace('id = "2026-11"', 'id = "dear"', 1), encoding="utf-8")
    return {"recipe": tmp_path / "veo-3.1-fast.toml", "book": tmp_path / "dear.toml", "out": tmp_path / "out"}


def test_render_records_and_spends_what_the_chosen_book_estimates(fake_providers, setup, tmp_path) -> None:
    runner = CliRunner()
    planned = runner.invoke(app, ["plan", str(EXAMPLE_STORY), "-r", str(setup["recipe"]), "-o", str(setup["out"])])
    assert planned.exit_code == 0, planned.output
    plan = setup["out"] / RUN / "plan.json"

    estimate = runner.invoke(
        app, ["cost", "estimate", str(plan), "--recipe", str(setup["recipe"]), "--prices", str(setup["book"]), "--json"]
    )
    assert estimate.exit_code == 0, estimate.output
    estimated = json.loads(estimate.stdout)
    assert estimated["price_book"] == "dear"

    rendered = runner.invoke(
        app, ["render", str(plan), "--recipe", str(setup["recipe"]), "--prices", str(setup["book"]), "--yes"]
    )
    assert rendered.exit_code == 0, rendered.output
    assert fake_providers.creates["veo"] == 8

    manifest = Manifest.read(setup["out"] / RUN / "manifest.json")
    assert manifest is not None
    shot_costs = [shot.cost_usd for shot in manifest.shots.values()]
    assert len(shot_costs) == 8 and sum(c or 0.0 for c in shot_costs) == pytest.approx(64.00)
    assert all(ref.cost_usd is not None for ref in manifest.refs.values())

    spent = runner.invoke(app, ["cost", "spent", str(setup["out"] / RUN), "--json"])
    assert spent.exit_code == 0, spent.output
    assert round(json.loads(spent.stdout)["total_usd"], 2) == round(estimated["total_usd"], 2)
    assert json.loads(spent.stdout)["unrecorded"] == 0


def test_a_self_hosted_planner_on_this_machine_is_free_in_the_estimate_and_the_manifest(
    fake_providers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    # The fake OpenAI server stands in for a vLLM server on this machine (127.0.0.1).
    monkeypatch.setenv("TALE_PLANNER_BASE_URL", os.environ["OPENAI_BASE_URL"])
    monkeypatch.setenv("TALE_PLANNER_API_KEY", os.environ["TALE_OPENAI_API_KEY"])
    recipe = tmp_path / "self-hosted.toml"
    recipe.write_text(
        'width = 160\nheight = 96\nfps = 12\n[planner]\nbackend = "openai-compatible"\nmodel = "qwen2.5"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    estimate = runner.invoke(app, ["cost", "estimate", str(EXAMPLE_STORY), "-r", str(recipe), "--json"])
    assert estimate.exit_code == 0, estimate.output
    assert json.loads(estimate.stdout)["planner_usd"] == 0

    rendered = runner.invoke(app, ["render", str(EXAMPLE_STORY), "-r", str(recipe), "-o", str(tmp_path / "out")])
    assert rendered.exit_code == 0, rendered.output
    manifest = Manifest.read(tmp_path / "out" / RUN / "manifest.json")
    assert manifest is not None and manifest.planner is not None
    assert manifest.planner.backend == "openai-compatible" and manifest.planner.cost_usd == 0

    # The same planner at an outside address is billed by the book.
    monkeypatch.setenv("TALE_PLANNER_BASE_URL", "https://llm.example.com/v1")
    outside = runner.invoke(app, ["cost", "estimate", str(EXAMPLE_STORY), "-r", str(recipe), "--json"])
    assert json.loads(outside.stdout)["planner_usd"] > 0
