"""Tests of per-render estimates and the budget check."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from costs import DOCUMENT, make_plan, recipe, runner

from tale_cli import cost
from tale_cli.cli.cost import app as cost_app
from tale_cli.config import Recipe
from tale_cli.errors import BudgetError, ExitCode, RecipeError
from tale_cli.pricing.rates import priced_on
from tale_cli.story.plan import Plan

# ── Estimates ───────────────────────────────────────────────────────────────────────────────────────


def test_estimate_api_recipe_per_shot_planner_and_references() -> None:
    today = cost.load_book("2026-11")
    veo = Recipe(
        name="veo",
        video={"backend": "veo", "model": "veo-3.1-fast-generate-001", "audio": True},
        image={"backend": "openai", "model": "gpt-image-2", "quality": "medium"},
        planner={"backend": "gemini", "model": "gemini-3.8-flash"},
    )
    with priced_on(date(2026, 12, 15)):  # the Gemini planner's price doubles on 2027-01-01
        estimate = cost.estimate_render(make_plan(), veo, book=today)
    assert [shot.billed_seconds for shot in estimate.shots] == [8.0] * 8
    assert estimate.shots[0].usd == pytest.approx(0.80) and estimate.shots[0].price == "veo-3.1-fast"
    assert estimate.references == 2 and estimate.references_usd == pytest.approx(0.14)
    assert estimate.planner_usd == pytest.approx(0.04)
    assert estimate.total_usd == pytest.approx(6.40 + 0.14 + 0.04)
    assert estimate.paid and not estimate.unpriced
    data = estimate.to_json()
    assert {"shots", "planner_usd", "references_usd", "total_usd", "paid"} <= set(data)
    assert {"index", "billed_seconds", "usd"} <= set(data["shots"][0])
    # A plan that already exists costs no planning; 1080p has its own price.
    hd = veo.model_copy(update={"video": veo.video.model_copy(update={"resolution": "1080p"})})
    planned = cost.estimate_render(make_plan(), hd, book=today, include_planner=False)
    assert planned.planner_usd == 0 and planned.shots[0].usd == pytest.approx(0.96)


@pytest.mark.parametrize(
    ("video", "model", "image", "image_model", "planner", "planner_model"),
    [
        ("veo", "veo-3.1-fast-generate-001", "gemini", "gemini-nano-banana-2.1", "gemini", "gemini-3.8-flash"),
        ("veo", "veo-3.1-lite-generate-001", "gemini", "gemini-nano-banana-2.1", "gemini", "gemini-3.8-flash"),
        ("veo", "veo-3.1-generate-001", "gemini", "gemini-nano-banana-2.1", "gemini", "gemini-3.8-flash"),
        ("runway", "gen4_turbo", "openai", "gpt-image-2", "openai", "gpt-5.4-mini"),
        ("runway", "gen4.5", "openai", "gpt-image-2", "openai", "gpt-5.4-mini"),
        ("runway", "veo3.1_fast", "openai", "gpt-image-2", "openai", "gpt-5.4-mini"),
    ],
)
def test_todays_book_prices_every_cloud_recipe(
    video: str, model: str, image: str, image_model: str, planner: str, planner_model: str
) -> None:
    cloud = Recipe(
        name="cloud",
        video={"backend": video, "model": model, "resolution": "720p", "audio": True},
        image={"backend": image, "model": image_model},
        planner={"backend": planner, "model": planner_model},
    )
    estimate = cost.estimate_render(make_plan(), cloud, book=cost.load_book("2026-11"))
    assert not estimate.unpriced and estimate.paid
    assert estimate.video_usd > 0 and estimate.references_usd > 0 and estimate.planner_usd > 0


def test_billed_seconds_follow_the_provider_steps() -> None:
    today = cost.load_book("2026-11")
    veo = cost.price_shot("veo", "veo-3.1-generate-001", 5.0, audio=True, book=today)
    assert veo is not None and veo.billed_seconds == 6 and veo.usd == pytest.approx(2.40)
    runway = cost.price_shot("runway", "gen4_turbo", 1.2, book=today)
    assert runway is not None and runway.billed_seconds == 2 and runway.credits == 10
    assert cost.price_shot("runway", "gen4_turbo", 7.3, book=today).billed_seconds == 8  # type: ignore[union-attr]
    audio = cost.price_shot("runway", "veo3.1", 8, audio=True, book=today)
    assert audio is not None and audio.usd == pytest.approx(3.20) and audio.credits == pytest.approx(320)
    assert audio.usd_per_credit == pytest.approx(0.01)  # a credit costs the same with or without audio
    assert cost.price_shot("veo", "veo-9-ultra", 8, book=today) is None


def test_veo_is_priced_with_and_without_audio_and_only_first_hand_prices_are_verified() -> None:
    today = cost.load_book("2026-11")
    silent_rates = {"veo-3.1-generate-001": 0.20, "veo-3.1-fast-generate-001": 0.08, "veo-3.1-lite-generate-001": 0.03}
    for model, rate in silent_rates.items():
        with_audio = cost.price_shot("veo", model, 8, audio=True, book=today)
        silent = cost.price_shot("veo", model, 8, audio=False, book=today)
        assert with_audio is not None and silent is not None
        assert silent.usd == pytest.approx(8 * rate) and silent.usd < with_audio.usd
    hd = cost.price_shot("veo", "veo-3.1-fast-generate-001", 8, resolution="1080p", audio=False, book=today)
    assert hd is not None and hd.usd == pytest.approx(0.80)
    silent_recipe = Recipe(
        name="silent", video={"backend": "veo", "model": "veo-3.1-lite-generate-001", "audio": False}
    )
    estimate = cost.estimate_render(make_plan(), silent_recipe, book=today, include_planner=False)
    assert estimate.paid and estimate.video_usd == pytest.approx(8 * 8 * 0.03) and estimate.unpriced == []
    # The 2026-02 book knows no video-only rate: a silent Veo clip is unpriced there, never free.
    old = cost.price_shot("veo", "veo-3.1-generate-001", 8, audio=False, book=cost.load_book("2026-02"))
    assert old is None or old.usd > 0
    first_hand = {entry.id for entry in today.video if entry.verified}
    assert first_hand == {"veo-3.1", "runway-gen4-turbo"}
    assert not any(entry.verified for entry in today.image)


def test_preview_is_free_and_unknown_paid_models_are_flagged_not_zero() -> None:
    free = cost.estimate_render(make_plan(), recipe())
    assert free.total_usd == 0 and not free.paid and not free.unpriced
    cost.check_budget(free, 0.0)
    omni = cost.estimate_render(make_plan(), recipe("gemini-omni", "gemini-omni-9-ultra"))
    assert omni.paid and omni.unpriced and "gemini-omni" in omni.unpriced[0]
    priced = cost.estimate_render(make_plan(), recipe("gemini-omni", "gemini-omni-1.1-flash"))
    assert priced.paid and not priced.unpriced and priced.total_usd > 0
    # A recipe that names no model renders with its backend's default (the registry's first): priced as that one.
    nameless = cost.estimate_render(make_plan(), recipe("veo"))
    named = cost.estimate_render(make_plan(), recipe("veo", "veo-3.1-fast-generate-001"))
    assert not nameless.unpriced and nameless.total_usd == named.total_usd > 0
    with pytest.raises(BudgetError) as error:
        cost.check_budget(omni, 100.0)
    assert error.value.exit_code == ExitCode.BUDGET and "gemini-omni" in error.value.message
    cost.check_budget(omni, None)


def test_local_recipes_cost_gpu_time() -> None:
    today = cost.load_book("2026-11")
    local = recipe("diffusers", "THUDM/CogVideoX-5b")
    estimate = cost.estimate_render(make_plan(), local, book=today)
    assert not estimate.paid
    assert estimate.shots[0].gpu_seconds == 180 and estimate.shots[0].billed_seconds is None
    assert estimate.total_usd == pytest.approx(8 * 180 / 3600 * 11 / 3)
    fewer_steps = recipe("diffusers", "THUDM/CogVideoX-5b")
    fewer_steps.video.steps = 25
    assert cost.estimate_render(make_plan(), fewer_steps, book=today).shots[0].gpu_seconds == 90
    runpod = cost.estimate_render(make_plan(), local, book=today, gpu="runpod-a100-80gb")
    assert runpod.total_usd == pytest.approx(8 * 180 / 3600 * 1.19)
    unknown = cost.estimate_render(make_plan(), recipe("diffusers", "Wan-AI/Wan2.1-T2V-14B"), book=today)
    assert unknown.unpriced and "Wan2.1" in unknown.unpriced[0]
    with pytest.raises(RecipeError):
        cost.estimate_render(make_plan(), local, book=today, gpu="tpu-v9")


def test_self_hosted_planner_is_not_billed() -> None:
    private = Recipe(
        name="p",
        planner={"backend": "openai-compatible", "model": "qwen2.5-72b", "base_url": "http://10.0.0.5:8000/v1"},
    )
    assert cost.estimate_render(make_plan(), private).planner_usd == 0
    hosted = Recipe(
        name="h",
        planner={"backend": "openai-compatible", "model": "qwen2.5-72b", "base_url": "https://api.example.com/v1"},
    )
    assert cost.estimate_render(make_plan(), hosted).planner_usd == pytest.approx(0.20)


def test_only_shots_limits_the_estimate() -> None:
    veo = recipe("veo", "veo-3.1-fast-generate-001")
    estimate = cost.estimate_render(make_plan(), veo, only_shots=[2, 5], include_planner=False)
    assert [shot.index for shot in estimate.shots] == [2, 5]
    assert estimate.video_usd == pytest.approx(1.60)


def test_check_budget_refuses_over_and_allows_at_the_limit() -> None:
    estimate = cost.estimate_render(make_plan(), recipe("veo", "veo-3.1-fast-generate-001"), include_planner=False)
    cost.check_budget(estimate, estimate.total_usd)
    cost.check_budget(estimate, None)
    with pytest.raises(BudgetError) as error:
        cost.check_budget(estimate, 1.0)
    assert error.value.exit_code == 9 and "$6.40" in error.value.message and "$1.00" in error.value.message


def test_estimate_command_from_a_story_and_a_plan(
    tmp_path: Path, story_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    veo = tmp_path / "veo.toml"
    veo.write_text(
        'shots = 3\nseconds = 8.0\n[video]\nbackend = "veo"\nmodel = "veo-3.1-fast-generate-001"\naudio = true\n',
        encoding="utf-8",
    )
    result = runner.invoke(cost_app, ["estimate", str(story_file), "--recipe", str(veo), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["shots"]) == 3 and data["total_usd"] == pytest.approx(2.40) and data["paid"] is True
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(make_plan(shots=2).to_json(), encoding="utf-8")
    table = runner.invoke(cost_app, ["estimate", str(plan_file), "-r", str(veo), "--prices", "2026-02"])
    assert table.exit_code == 0 and "total        $2.40" in table.stdout and "veo-3.1-fast" in table.stdout
    refused = runner.invoke(cost_app, ["estimate", str(plan_file), "-r", str(veo), "--max-cost", "1"])
    assert refused.exit_code == ExitCode.BUDGET and "exceeds the budget" in refused.output
    free = runner.invoke(cost_app, ["estimate", str(plan_file), "--json"])
    assert free.exit_code == 0 and json.loads(free.stdout)["recipe"] == "preview"
    monkeypatch.setenv("TALE_RECIPE", str(veo))
    from_env = runner.invoke(cost_app, ["estimate", str(plan_file), "--json"])
    assert from_env.exit_code == 0 and json.loads(from_env.stdout)["total_usd"] == pytest.approx(1.60)


def test_estimate_shows_both_tiers_of_a_recipe_with_a_draft() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "story.md"
    result = runner.invoke(cost_app, ["estimate", str(example), "-r", "veo-3.1-fast", "--prices", "2026-11", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # The render as it is without --draft, then the two tiers: Lite for the drafts, Fast for what finalize renders.
    assert (data["tier"], data["video_usd"]) == ("final", 6.40)
    tiers = data["tiers"]
    assert (tiers["draft"]["tier"], tiers["draft"]["video"]["model"]) == ("draft", "veo-3.1-lite-generate-001")
    assert tiers["draft"]["video_usd"] == 3.20 and tiers["draft"]["references"] == 2
    assert tiers["draft"]["total_usd"] == pytest.approx(data["total_usd"] - 6.40 + 3.20)
    # Finalize pays for the final clips alone: the plan, references and sound are the draft's.
    final = tiers["final"]
    assert (final["total_usd"], final["video_usd"], final["references_usd"], final["planner_usd"]) == (6.40, 6.40, 0, 0)
    assert tiers["total_usd"] == pytest.approx(tiers["draft"]["total_usd"] + 6.40)
    assert (tiers["draft_retake_usd"], tiers["final_retake_usd"]) == (0.40, 0.80)
    table = runner.invoke(cost_app, ["estimate", str(example), "-r", "veo-3.1-fast", "--prices", "2026-11"])
    assert "Drafts first, then the final film" in table.stdout and "tale finalize" in table.stdout
    assert "a retake of one shot: $0.40 as a draft, $0.80 at the final tier" in table.stdout
    single = runner.invoke(cost_app, ["estimate", str(example), "-r", "preview", "--json"])
    assert not {"tier", "tiers"} & set(json.loads(single.stdout))


def test_compare_options(tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(
        json.dumps({"model": "cogvideox-5b", "gpu": "a100-80gb", "seconds_per_clip": 40}), encoding="utf-8"
    )
    result = runner.invoke(
        cost_app,
        ["compare", "--prices", "2026-02", "--json", "--volumes", "20000", "--api", "runway-gen4-turbo",
         "--shots", "6", "--seconds", "5", "--users", "500", "--plan", "pro=49:20", "--benchmark", str(bench)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [row["videos_per_month"] for row in data["comparison"]] == [20000]
    assert data["a1"][0]["api"] == pytest.approx(20000 * (6 * 5 * 0.05 + 0.11 + 0.12))
    assert data["capacity"] == [
        {
            **data["capacity"][0],
            "seconds_per_clip": 40,
            "gpu_hours_needed": pytest.approx(20000 * 6 * 40 / 3600, abs=0.1),
        }
    ]
    assert data["unit_economics"][0]["plan"] == "pro" and data["unit_economics"][0]["users"] == 500
    assert data["unit_economics"][0]["videos_per_month"] == 10000
    for bad, hint in (("--volumes", "x,y"), ("--plan", "cheap")):
        refused = runner.invoke(cost_app, ["compare", bad, hint])
        assert refused.exit_code == ExitCode.USAGE, refused.output


def test_unit_economics_margins() -> None:
    result = cost.compare(DOCUMENT, plans=[cost.SubscriptionPlan(name="paid", usd_per_month=49, videos_per_month=20)])
    row = result.unit_economics[0]
    costs = cost.scenario_costs(DOCUMENT, 20000)
    assert row.videos_per_month == 20000
    assert row.margin_per_user["A-2"] == pytest.approx(49 - costs["A-2"] / 1000)
    assert row.margin_per_user["A-1"] < 0 < row.margin_per_user["B"] < row.margin_per_user["A-2"]


def test_cost_cli_module_imports_no_library() -> None:
    code = (
        "import sys, tale_cli.cli.cost\n"
        "print(sorted(m for m in ('pydantic', 'tale_cli.cost', 'rich') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_entity_references_are_estimated_like_characters() -> None:
    data = make_plan(characters=1).model_dump()
    data["entities"] = [
        {"id": "lantern", "kind": "prop", "name": "lantern"},
        {"id": "quay", "kind": "place", "name": "quay", "reference_image": "refs/quay.png"},
    ]
    plan = Plan.model_validate(data)
    veo = Recipe(video={"backend": "veo", "model": "veo-3.1-fast-generate-001", "audio": True},
                 image={"backend": "openai", "model": "gpt-image-2", "quality": "medium"})  # fmt: skip
    estimate = cost.estimate_render(plan, veo, book=cost.load_book("2026-11"), include_planner=False)
    # One character and the lantern are drawn; the quay has its own picture.
    assert estimate.references == 2 and estimate.references_usd == pytest.approx(0.14)
