"""Tests of `tale render` shows its estimate first, holds the budget, and bills what it estimated."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from costs import make_plan, runner
from providers import register

from tale_cli import cost
from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend, VideoCapabilities
from tale_cli.cli.cost import app as cost_app
from tale_cli.config import Recipe
from tale_cli.errors import BudgetError, ExitCode
from tale_cli.registry import Role

# ── `tale render`: the estimate first, the budget held, what was billed equal to the estimate ──────


class FakePaidVideo(VideoBackend):
    """A paid provider for tests: bills $0.05 per started second (5 credits), draws real clips offline."""

    name = "fakepaid"
    calls: ClassVar[list[int]] = []

    def __init__(self, recipe: Recipe) -> None:
        from tale_cli.backends.local.preview import PreviewVideo

        self.model = recipe.video.model
        self._clips = PreviewVideo(recipe)

    def capabilities(self) -> VideoCapabilities:
        return VideoCapabilities(min_duration_s=1, max_duration_s=10)

    def fingerprint(self) -> dict[str, Any]:
        return {"model": self.model}

    def render_shot(self, request: ShotRequest) -> RenderResult:
        FakePaidVideo.calls.append(request.shot.index)
        self._clips.render_shot(request)
        billed = math.ceil(request.duration_s)
        return RenderResult(
            model=self.model,
            provider_job_id=f"job-{request.shot.index}",
            billed_seconds=billed,
            billed_credits=billed * 5,
            cost_usd=round(billed * 5 * 0.01, 2),
        )

    def close(self) -> None:
        return None


PAID_RECIPE = """
width = 160
height = 96
fps = 12
shots = 3
seconds = 1.5
{budget}
[video]
backend = "fakepaid"
model = "fake-1"
"""

FAKE_BOOK = """
extends = "2026-11"
id = "fake-provider"

[[video]]
id = "fake-1"
label = "Fake paid video"
backends = ["fakepaid"]
models = ["fake-1"]
resolution = "96p"
usd_per_second = 0.05
credits_per_second = 5
source = "the fake provider's price list"
as_of = 2026-11-26
verified = true
"""


def tale_render(args: list[str], **kwargs: Any) -> Any:
    """`tale render` on its own, as the root app registers it."""
    from tale_cli.cli.render import render

    command = typer.Typer()
    command.command()(render)
    return runner.invoke(command, args, **kwargs)


@pytest.fixture
def paid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    register(monkeypatch, "fakepaid", Role.VIDEO, FakePaidVideo)
    FakePaidVideo.calls.clear()
    recipe_file = tmp_path / "paid.toml"
    recipe_file.write_text(PAID_RECIPE.format(budget=""), encoding="utf-8")
    book = tmp_path / "fake-book.toml"
    book.write_text(FAKE_BOOK, encoding="utf-8")
    return {"recipe": recipe_file, "book": book, "out": tmp_path / "out"}


def test_render_spends_what_it_estimated(paid: dict[str, Path], story_file: Path) -> None:
    args = [str(story_file), "-r", str(paid["recipe"]), "-o", str(paid["out"]), "--prices", str(paid["book"]), "--yes"]
    result = tale_render(args)
    assert result.exit_code == 0, result.output
    assert "estimate $0.30 (3 shots on fakepaid" in result.output
    assert sorted(FakePaidVideo.calls) == [1, 2, 3]
    run = paid["out"] / "the-small-test"
    from tale_cli.config import load_recipe
    from tale_cli.story.plan import load_plan

    estimate = cost.estimate_render(
        load_plan(run / "plan.json"),
        load_recipe(str(paid["recipe"])),
        book=cost.load_book(str(paid["book"])),
        include_planner=False,
    )
    report = cost.spent([run])
    assert report.total_usd == pytest.approx(estimate.total_usd) == pytest.approx(0.30)
    shots = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["shots"]
    for shot in estimate.shots:
        recorded = shots[str(shot.index)]
        assert recorded["billed_seconds"] == shot.billed_seconds and recorded["cost_usd"] == pytest.approx(shot.usd)
        assert recorded["billed_credits"] == shot.credits
    by_backend = {line.key: line.usd for line in report.by_backend}
    assert by_backend.pop("fakepaid") == pytest.approx(0.30) and set(by_backend.values()) == {0.0}


def test_resumed_render_is_estimated_for_the_shots_left(paid: dict[str, Path], story_file: Path) -> None:
    args = [str(story_file), "-r", str(paid["recipe"]), "-o", str(paid["out"]), "--prices", str(paid["book"]), "--yes"]
    assert tale_render(args).exit_code == 0
    plan_file = paid["out"] / "the-small-test" / "plan.json"
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    data["shots"][2]["prompt"] = "Only this shot changes."
    plan_file.write_text(json.dumps(data), encoding="utf-8")
    FakePaidVideo.calls.clear()
    again = tale_render([str(plan_file), *args[1:], "--max-cost", "0.15"])
    assert again.exit_code == 0, again.output
    assert "estimate $0.10 (1 shot on fakepaid" in again.output
    assert FakePaidVideo.calls == [3]


@pytest.mark.parametrize("how", ["flag", "recipe"])
def test_render_over_budget_refuses_with_nothing_spent(paid: dict[str, Path], story_file: Path, how: str) -> None:
    args = [str(story_file), "-r", str(paid["recipe"]), "-o", str(paid["out"]), "--prices", str(paid["book"]), "--yes"]
    if how == "flag":
        args += ["--max-cost", "0.25"]
    else:
        paid["recipe"].write_text(PAID_RECIPE.format(budget="budget_usd = 0.25"), encoding="utf-8")
    result = tale_render(args)
    assert result.exit_code == ExitCode.BUDGET, result.output
    assert "$0.30 exceeds the budget $0.25" in result.output and "nothing was spent" in result.output
    assert FakePaidVideo.calls == []
    run = paid["out"] / "the-small-test"
    assert sorted(path.name for path in run.iterdir()) == ["plan.json"]


def test_render_unpriced_model_cannot_be_held_to_a_budget(paid: dict[str, Path], story_file: Path) -> None:
    result = tale_render([str(story_file), "-r", str(paid["recipe"]), "-o", str(paid["out"]), "--max-cost", "100"])
    assert result.exit_code == ExitCode.BUDGET and "fakepaid/fake-1" in result.output
    assert FakePaidVideo.calls == []


def test_render_asks_on_a_terminal(paid: dict[str, Path], story_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tale_cli.cost.guard as guard

    monkeypatch.setattr(guard, "interactive", lambda: True)
    args = [str(story_file), "-r", str(paid["recipe"]), "-o", str(paid["out"]), "--prices", str(paid["book"])]
    declined = tale_render(args, input="n\n")
    assert declined.exit_code == ExitCode.BUDGET and "Spend about $0.30?" in declined.output
    assert "not confirmed" in declined.output and FakePaidVideo.calls == []
    accepted = tale_render(args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert sorted(FakePaidVideo.calls) == [1, 2, 3]


def test_spend_guard_holds_the_budget_and_asks_through_its_callback(
    paid: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tale_cli.config import load_recipe
    from tale_cli.cost import guard
    from tale_cli.run.folder import RunFolder

    plan, folder = make_plan(shots=3, seconds=1.5), RunFolder(paid["out"] / "budget-test")
    budgeted = load_recipe(str(paid["recipe"])).model_copy(update={"budget_usd": 0.25, "prices": str(paid["book"])})
    # The recipe's budget always holds: --max-cost can only lower it.
    assert guard.budget_for(None, budgeted) == 0.25 and guard.budget_for(1.0, budgeted) == 0.25
    assert guard.budget_for(0.1, budgeted) == 0.1
    chosen = budgeted.model_copy(update={"budget_usd": None})
    assert guard.budget_for(None, chosen) is None
    asked: list[str] = []
    shown: list[guard.SpendCheck] = []

    def check(
        max_cost: float | None, *, yes: bool = False, reply: bool = True, pending: list[int] | None = None
    ) -> None:
        def confirm(question: str) -> bool:
            asked.append(question)
            return reply

        before = guard.spend_guard(max_cost=max_cost, yes=yes, confirm=confirm, show=shown.append)
        before(plan, chosen, folder, [1, 2, 3] if pending is None else pending)

    # Held to --max-cost; the estimate is shown and the question asked.
    with pytest.raises(BudgetError, match="exceeds the budget"):
        check(0.1)
    assert asked == [] and shown[-1].budget == 0.1 and folder.plan.is_file()
    check(1.0)
    assert shown[-1].budget == 1.0 and asked == ["Spend about $0.30?"]
    with pytest.raises(BudgetError, match=r"exceeds the budget \$0\.25"):
        before = guard.spend_guard(max_cost=1.0, yes=True, confirm=None, show=shown.append)
        before(plan, budgeted, folder, [1, 2, 3])
    # Only the shots left are priced; --yes does not ask; a refusal to confirm is a BudgetError.
    check(None, pending=[1], yes=True)
    assert shown[-1].estimate.total_usd == pytest.approx(0.10) and len(asked) == 1
    with pytest.raises(BudgetError, match="not confirmed"):
        check(1.0, reply=False)
    assert len(asked) == 2
    # Where no one can answer (--json), nothing is asked.
    unattended = guard.spend_guard(max_cost=1.0, yes=False, confirm=None, show=shown.append)
    unattended(plan, chosen, folder, [1, 2, 3])
    assert len(asked) == 2 and shown[-1].estimate.paid


def test_preview_render_estimates_and_spends_nothing(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    out = tmp_path / "out"
    result = tale_render([str(story_file), "-r", str(tiny_recipe), "-o", str(out), "--max-cost", "0"])
    assert result.exit_code == 0, result.output
    assert "estimate $0.00" in result.output
    run = out / "the-small-test"
    from tale_cli.config import load_recipe
    from tale_cli.story.plan import load_plan

    estimate = cost.estimate_render(load_plan(run / "plan.json"), load_recipe(str(tiny_recipe)), include_planner=False)
    report = cost.spent([run])
    assert estimate.total_usd == report.total_usd == 0 and not estimate.paid
    assert report.runs[0].items >= 3 + 1  # three shots, one reference (and the planner when recorded)


def test_the_fleet_room_follows_a_few_step_bench_file(tmp_path: Path) -> None:
    """`tale bench` records of a 50-step recipe and its few-step twin, read by `tale cost compare --benchmark`."""
    from tale_cli.pipeline.bench import BenchResult, record_bench

    bench = tmp_path / "bench.json"
    for recipe, seconds, steps in (("local-wan2.1-14b", 520.0, 50), ("local-wan2.1-14b-fast", 30.0, 4)):
        record_bench(BenchResult(
            recipe=recipe, backend="diffusers", model=recipe, device="NVIDIA H200", clip_seconds=5.0625,
            seconds_per_clip=seconds, seconds_per_step=None, steps=steps, native="1280x720@16", peak_vram_gb=None,
            load_s=None, memory=None), bench)  # fmt: skip
    result = runner.invoke(cost_app, ["compare", "--json", "--volumes", "45000", "--benchmark", str(bench)])
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(result.stdout)["capacity"]}
    slow, fast = rows["local-wan2.1-14b"], rows["local-wan2.1-14b-fast"]
    assert fast["videos_capacity"] == pytest.approx(slow["videos_capacity"] * 520 / 30, rel=0.01)
    assert fast["videos_capacity"] == int(fast["gpu_hours_available"] * 3600 // (8 * 30.0))
    assert fast["gpu_hours_needed"] == pytest.approx(45000 * 8 * 30 / 3600, abs=0.1)
    table = runner.invoke(cost_app, ["compare", "--volumes", "45000", "--benchmark", str(bench)])
    assert table.exit_code == 0 and " room" in table.stdout


# ── Only what a command newly pays is priced, and a budget is compared in cents ─────────────────────


def tale(*args: str, code: int = 0) -> Any:
    from tale_cli.cli.app import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


@pytest.fixture
def veo(tmp_path: Path) -> Path:
    from cloudrender import SMALL_VEO

    path = tmp_path / "veo.toml"
    text = SMALL_VEO.replace("continuity", "shots = 3\ncontinuity").replace(
        "audio = true", 'audio = true\nresolution = "720p"'
    )
    path.write_text(text, encoding="utf-8")
    return path


def _made(fake_providers: Any, story_file: Path, veo: Path, tmp_path: Path) -> Path:
    made = tale("render", str(story_file), "--recipe", str(veo), "--out", str(tmp_path / "out"), "--yes", "--json")
    assert fake_providers.creates["veo"] == 3
    return Path(made["run_dir"])


def test_a_cached_render_pays_nothing_and_fits_any_budget(fake_providers, tmp_path, story_file, veo) -> None:
    run_dir = _made(fake_providers, story_file, veo, tmp_path)
    before = dict(fake_providers.creates)

    again = tale("render", str(run_dir / "plan.json"), "--recipe", str(veo), "--max-cost", "0.01", "--json")

    assert again["counts"]["rendered"] == 0 and dict(fake_providers.creates) == before, "references drawn are not owed"


def test_a_retake_is_priced_for_its_clip_alone(fake_providers, tmp_path, story_file, veo) -> None:
    run_dir = _made(fake_providers, story_file, veo, tmp_path)
    clip = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["shots"]["1"]["cost_usd"]

    tale("retake", str(run_dir), "1", "--seed", "7", "--max-cost", f"{clip + 0.01:.2f}")
    assert fake_providers.creates["veo"] == 4, "no reference is drawn again for a retake"

    tale("pick", str(run_dir), "1", "1")
    tale("retake", str(run_dir), "1", "--seed", "7", "--max-cost", "0.01")
    assert fake_providers.creates["veo"] == 4, "the take of seed 7 is found again, for nothing"


def test_a_job_already_paid_for_is_resumed_whatever_the_budget(fake_providers, tmp_path, story_file, veo) -> None:
    veo.write_text(veo.read_text(encoding="utf-8") + "poll_timeout_s = 0.3\n", encoding="utf-8")
    from tale_cli.cli.app import app

    fake_providers.never_finish = True
    failed = runner.invoke(
        app, ["render", str(story_file), "--recipe", str(veo), "--out", str(tmp_path / "out"), "--yes", "--json"]
    )
    assert failed.exit_code != 0 and fake_providers.creates["veo"] == 3
    fake_providers.never_finish = False
    plan = next((tmp_path / "out").glob("*/plan.json"))

    again = tale("render", str(plan), "--recipe", str(veo), "--max-cost", "0.01", "--json")

    assert again["counts"]["rendered"] == 3 and fake_providers.creates["veo"] == 3, "the paid jobs are polled, not made"


def test_the_budget_and_the_estimate_are_compared_in_cents() -> None:
    from tale_cli.cost.estimate import RenderEstimate, VideoChoice, check_budget

    def estimate(usd: float) -> RenderEstimate:
        return RenderEstimate(price_book="b", recipe="r", video=VideoChoice(backend="v", model="m"), shots=[],
                              planner_usd=usd, references=0, references_usd=0.0, paid=True)  # fmt: skip

    check_budget(estimate(1.001), 1.00)
    check_budget(estimate(0.999), 1.00)
    with pytest.raises(BudgetError, match=r"the estimate \$1\.01 exceeds the budget \$1\.00"):
        check_budget(estimate(1.006), 1.00)


def test_a_budget_too_small_for_the_render_refuses_before_the_planner_is_paid(
    fake_providers, tmp_path, story_file, veo
) -> None:
    refused = tale("render", str(story_file), "--recipe", str(veo), "--out", str(tmp_path / "out"), "--yes",
                   "--max-cost", "0.05", code=ExitCode.BUDGET)  # fmt: skip

    assert "exceeds the budget $0.05; nothing was spent" in refused.output
    assert fake_providers.creates["plan"] == 0 and not list((tmp_path / "out").glob("*/manifest.json"))


CAT_STORY = """---
title: The Small Test
characters:
  - name: Mira
    description: a keeper in a yellow coat
---

Mira walked to the harbour at dawn with Pip the cat. Pip found a bottle. Mira read the letter twice.
"""


def test_a_plan_paid_for_then_refused_is_in_the_ledger(fake_providers, tmp_path, veo) -> None:
    from tale_cli.config import load_recipe
    from tale_cli.planners import plan_story
    from tale_cli.story.reader import read_story

    story_file = tmp_path / "cat.md"
    story_file.write_text(CAT_STORY, encoding="utf-8")
    # The offline planner's sketch draws Mira alone; the planner's own plan draws Pip too, one reference more than
    # the budget agreed before planning allows.
    sketch = cost.estimate_render(plan_story(read_story(story_file), load_recipe(str(veo)), planner_name="offline"),
                                  load_recipe(str(veo)))  # fmt: skip
    budget = f"{sketch.total_usd + 0.005:.2f}"
    refused = tale("render", str(story_file), "--recipe", str(veo), "--out", str(tmp_path / "out"), "--yes",
                   "--max-cost", budget, code=ExitCode.BUDGET)  # fmt: skip

    assert fake_providers.creates["plan"] == 1 and fake_providers.creates["veo"] == 0
    assert "only the plan was paid (about $" in refused.output and "nothing was spent" not in refused.output
    run_dir = next((tmp_path / "out").glob("*/plan.json")).parent
    spent = tale("cost", "spent", str(run_dir), "--json")
    assert spent["total_usd"] == pytest.approx(sketch.planner_usd, abs=0.01) and spent["total_usd"] > 0
