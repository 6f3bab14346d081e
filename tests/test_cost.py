"""Tests for tale_cli/cost/ and `tale cost`: the source document's figures, estimates, budgets, spend."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from providers import register
from typer.testing import CliRunner

from tale_cli import cost
from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend, VideoCapabilities
from tale_cli.cli.cost import app as cost_app
from tale_cli.config import Recipe
from tale_cli.errors import BudgetError, ExitCode, InputError, RecipeError
from tale_cli.registry import Role
from tale_cli.story.plan import Plan

runner = CliRunner()
DOCUMENT = cost.load_book("2026-02")


def within(value: float, printed: float, tolerance: float = 0.02) -> bool:
    """The document's own rounding: a figure matches when it is within 2 % of what it prints."""
    return abs(value - printed) <= tolerance * abs(printed)


@pytest.fixture(autouse=True)
def _no_price_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cost.PRICES_ENV, raising=False)


@pytest.fixture(scope="module")
def compared() -> dict[str, Any]:
    """`tale cost compare --prices 2026-02 --json`, run once for the figure tests."""
    result = runner.invoke(cost_app, ["compare", "--prices", "2026-02", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def make_plan(shots: int = 8, seconds: float = 8.0, characters: int = 2) -> Plan:
    return Plan(
        title="Budget test",
        slug="budget-test",
        characters=[{"id": f"c{i}", "name": f"Person {i}"} for i in range(characters)],
        shots=[{"index": i, "duration_s": seconds, "prompt": f"shot {i}"} for i in range(1, shots + 1)],
    )


def recipe(video: str = "preview", model: str = "", **extra: Any) -> Recipe:
    # With audio: Google prices Veo clips with audio, and today's book has no rate without.
    return Recipe(name="test", video={"backend": video, "model": model, "audio": True}, **extra)


# ── The source document's figures, recomputed from the 2026-02 book ─────────────────────────────────


PER_SECOND = {
    "runway-gen4-turbo": (0.05, 3.20),
    "runway-gen4": (0.10, 6.40),
    "veo-3.1-fast": (0.15, 9.60),
    "veo-2": (0.35, 22.40),
    "veo-3.1": (0.40, 25.60),
}
SHOT_LENGTHS = {
    "runway-gen4-turbo": (2.00, 3.20, 4.00),
    "veo-3.1-fast": (6.00, 9.60, 12.00),
    "veo-2": (14.00, 22.40, 28.00),
    "veo-3.1": (16.00, 25.60, 32.00),
}
A1_TOTALS = {5000: 50_000, 15000: 148_000, 30000: 294_000, 45000: 442_000}
A1_API = {5000: 49_000, 15000: 147_000, 30000: 293_000, 45000: 440_000}
A2 = {5000: 800, 15000: 1_000, 30000: 1_200, 45000: 1_500}
B = {5000: 6_000, 15000: 14_000, 30000: 17_000, 45000: 19_500}


def test_per_second_table_and_one_video(compared: dict[str, Any]) -> None:
    rows = {row["api"]: row for row in compared["per_video"]}
    assert set(PER_SECOND) <= set(rows)
    for api, (per_second, one_video) in PER_SECOND.items():
        assert rows[api]["usd_per_second"] == per_second
        assert within(rows[api]["usd_per_video"], one_video), api
        assert within(rows[api]["by_shot_seconds"]["8"], one_video), api


def test_shot_length_table(compared: dict[str, Any]) -> None:
    rows = {row["api"]: row["by_shot_seconds"] for row in compared["per_video"]}
    for api, (five, eight, ten) in SHOT_LENGTHS.items():
        assert within(rows[api]["5"], five) and within(rows[api]["8"], eight) and within(rows[api]["10"], ten), api


def test_scenario_a_tables(compared: dict[str, Any]) -> None:
    a1 = {row["videos_per_month"]: row for row in compared["a1"]}
    for videos, total in A1_TOTALS.items():
        assert within(a1[videos]["total"], total), videos
        assert within(a1[videos]["api"], A1_API[videos]), videos
        assert a1[videos]["infra"] == A2[videos]
    a2 = {row["videos_per_month"]: row for row in compared["a2"]}
    for videos, infra in A2.items():
        assert a2[videos]["total"] == infra and a2[videos]["api"] == 0
    fixed = compared["fixed_infra"]["total"]
    assert within(fixed[0], 700) and within(fixed[1], 1750)


def test_scenario_b_tables(compared: dict[str, Any]) -> None:
    assert compared["b_gpu_monthly"] == {"24x7": 31840, "12h": 15920}
    pools = {pool["label"]: pool for pool in compared["b_gpu_pools"]}
    assert pools["LLM inference"]["24x7"] == 5280 and pools["LLM inference"]["12h"] == 2640
    assert pools["Video generation"]["24x7"] == 21120 and pools["Video generation"]["12h"] == 10560
    assert pools["Image generation"]["24x7"] == 1440 and pools["Image generation"]["12h"] == 720
    strategies = {s["name"]: s["usd"] for s in compared["b_strategies"]}
    assert strategies["24x7"] == [31840, 31840] and strategies["12h"] == [15920, 15920]
    assert within(strategies["spot-video"][0], 13_000)
    assert strategies["mixed"] == [12_000, 18_000]
    low, high = compared["b_total"]["usd"]
    assert within(low, 13_500) and within(high, 19_500)


def test_comparison_rows(compared: dict[str, Any]) -> None:
    rows = {row["videos_per_month"]: row for row in compared["comparison"]}
    assert sorted(rows) == [5000, 15000, 30000, 45000]
    for videos in rows:
        assert within(rows[videos]["A-1"], A1_TOTALS[videos]), videos
        assert rows[videos]["A-2"] == A2[videos]
        assert within(rows[videos]["B"], B[videos]), videos
        assert rows[videos]["cheapest"] == "A-2"


def test_json_has_the_documented_keys(compared: dict[str, Any]) -> None:
    assert compared["price_book"] == "2026-02"
    first = compared["per_video"][0]
    assert {"api", "usd_per_second", "by_shot_seconds"} <= set(first)
    assert set(first["by_shot_seconds"]) == {"5", "8", "10"}
    assert set(compared["b_gpu_monthly"]) == {"24x7", "12h"}
    assert {"videos_per_month", "A-1", "A-2", "B", "cheapest"} <= set(compared["comparison"][0])
    assert "B_vs_A-1_videos_per_month" in compared["break_even"]
    assert {"videos_per_month", "gpu_hours_needed", "gpu_hours_available", "enough"} <= set(compared["capacity"][0])
    assert {"plan", "margin_per_user", "cost_per_user"} <= set(compared["unit_economics"][0])


def key_orders(
    value: Any, path: str = "", found: dict[str, tuple[str, ...]] | None = None
) -> dict[str, tuple[str, ...]]:
    """Every object's keys, in order, by where it sits (`a1[]` for the items of `a1`); items of one list agree."""
    found = {} if found is None else found
    if isinstance(value, dict):
        keys = tuple(value)
        assert found.setdefault(path, keys) == keys, path
        for key, item in value.items():
            key_orders(item, f"{path}.{key}" if path else key, found)
    elif isinstance(value, list):
        for item in value:
            key_orders(item, f"{path}[]", found)
    return found


COMPARE_KEYS = {
    "": ("price_book", "inputs", "per_video", "fixed_infra", "a1", "a2", "b_gpu_pools", "b_gpu_monthly",
         "b_strategies", "b_extras", "b_total", "b_tiers", "comparison", "break_even", "capacity", "unit_economics",
         "notes", "warnings"),
    "inputs": ("api", "shots", "seconds", "volumes", "users"),
    "per_video[]": ("api", "label", "resolution", "usd_per_second", "usd_per_video", "by_shot_seconds", "verified",
                    "source"),
    "per_video[].by_shot_seconds": ("5", "8", "10"),
    "fixed_infra": ("items", "total"),
    "fixed_infra.items[]": ("item", "service", "usd"),
    "a1[]": ("videos_per_month", "infra", "api", "total", "document"),
    "a1[].document": ("infra", "api", "total"),
    "a2[]": ("videos_per_month", "infra", "api", "total"),
    "b_gpu_pools[]": ("role", "label", "gpu", "count", "usd_per_hour", "rate", "24x7", "12h"),
    "b_gpu_monthly": ("24x7", "12h"),
    "b_strategies[]": ("name", "label", "usd", "stated_by_document"),
    "b_extras": ("items", "security"),
    "b_extras.items[]": ("item", "service", "usd"),
    "b_extras.security[]": ("item", "service", "usd"),
    "b_total": ("lines", "usd"),
    "b_total.lines[]": ("item", "usd"),
    "b_tiers[]": ("videos_per_month", "tier", "infra", "extras", "gpu", "total", "fleet"),
    "comparison[]": ("videos_per_month", "A-1", "A-2", "B", "cheapest", "document"),
    "comparison[].document": ("A-1", "A-2", "B", "cheapest"),
    "break_even": ("B_vs_A-1_videos_per_month", "A-1_usd_per_video", "B_first_tier_fixed_usd",
                   "A-2_cheaper_than_B_at_every_volume", "fixed_B_vs_A-1_videos_per_month"),
    "capacity[]": ("videos_per_month", "model", "gpu", "seconds_per_clip", "source", "gpu_hours_needed",
                   "gpu_hours_available", "gpu_hours_autoscaled", "enough", "enough_with_autoscaled", "videos_capacity"),
    "unit_economics[]": ("plan", "usd_per_month", "videos_per_user", "users", "videos_per_month", "cost_per_user",
                         "margin_per_user", "byok_user_api_usd"),
    "unit_economics[].cost_per_user": ("A-1", "A-2", "B"),
    "unit_economics[].margin_per_user": ("A-1", "A-2", "B"),
    "notes": ("per_video", "b_gpu", "shot_seconds", "fixed_infra", "a1", "a2", "strategies", "b_extras", "b_total",
              "comparison"),
}  # fmt: skip
ESTIMATE_KEYS = {
    "": ("price_book", "recipe", "video", "shots", "video_usd", "planner_usd", "references", "references_usd",
         "voice_seconds", "voice_usd", "music_usd", "judge_usd", "retakes", "retakes_usd", "total_usd", "paid", "unpriced",
         "notes"),
    "video": ("backend", "model"),
    "shots[]": ("index", "seconds", "billed_seconds", "usd", "price", "credits", "gpu_seconds"),
}  # fmt: skip
SPENT_LINE = ("items", "usd", "billed_seconds", "billed_credits", "gpu_seconds", "unrecorded")
SPENT_KEYS = {
    "": ("runs", "by_backend", "by_day", "total_usd", "unrecorded"),
    "runs[]": ("run", *SPENT_LINE),
    "by_backend[]": ("backend", *SPENT_LINE),
    "by_day[]": ("day", *SPENT_LINE),
}


def test_compare_json_keeps_its_keys_and_their_order(compared: dict[str, Any]) -> None:
    assert key_orders(compared) == COMPARE_KEYS
    # A book without the document's printed figures has no "document" columns and only its own notes.
    today = runner.invoke(cost_app, ["compare", "--json"])
    assert today.exit_code == 0, today.output
    without_document = {
        path: tuple(key for key in keys if key != "document")
        for path, keys in COMPARE_KEYS.items()
        if not path.endswith(".document") and path != "notes"
    }
    shape = key_orders(json.loads(today.stdout))
    assert set(shape.pop("notes")) <= set(COMPARE_KEYS["notes"])
    assert shape == without_document


def test_estimate_and_spent_json_keep_their_keys_and_their_order(
    tmp_path: Path, story_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    veo = tmp_path / "veo.toml"
    veo.write_text(
        'shots = 2\n[video]\nbackend = "veo"\nmodel = "veo-3.1-fast-generate-001"\naudio = true\n', encoding="utf-8"
    )
    estimated = runner.invoke(cost_app, ["estimate", str(story_file), "-r", str(veo), "--json"])
    assert estimated.exit_code == 0, estimated.output
    assert key_orders(json.loads(estimated.stdout)) == ESTIMATE_KEYS
    write_manifest(tmp_path / "out" / "a", {"1": shot(1, "veo", 0.8, "2026-11-03")})
    monkeypatch.chdir(tmp_path)
    report = runner.invoke(cost_app, ["spent", "--json"])
    assert report.exit_code == 0, report.output
    assert key_orders(json.loads(report.stdout)) == SPENT_KEYS


def test_capacity_at_45000_is_short(compared: dict[str, Any]) -> None:
    rows = [r for r in compared["capacity"] if r["videos_per_month"] == 45000 and r["seconds_per_clip"] == 90]
    assert len(rows) == 1
    assert rows[0]["gpu_hours_needed"] == 9000 and rows[0]["gpu_hours_available"] == 5760
    assert rows[0]["enough"] is False
    # The book carries the model card's slower figure too, with its source.
    slow = [r for r in compared["capacity"] if r["videos_per_month"] == 45000 and r["seconds_per_clip"] == 180]
    assert slow and slow[0]["gpu_hours_needed"] == 18000 and "huggingface.co" in slow[0]["source"]
    assert any("45,000 videos a month need 9,000 GPU-hours" in w and "5,760" in w for w in compared["warnings"])


def test_free_autoscaled_gpus_give_endless_hours_in_json() -> None:
    gpus = dict(DOCUMENT.gpus)
    gpus["a100-80gb"] = gpus["a100-80gb"].model_copy(update={"spot_usd_per_hour": 0.0})
    data = cost.compare(DOCUMENT.model_copy(update={"gpus": gpus}), volumes=[45000]).to_json()
    assert data["capacity"][0]["gpu_hours_autoscaled"] == math.inf
    assert "Infinity" in json.dumps(data)


def test_break_even_matches_a_hand_computation(compared: dict[str, Any]) -> None:
    # A-1 pays 8 × 8 s × $0.15 + midpoints of $0.02–0.20 planning and $0.08–0.16 references per video.
    per_video = 8 * 8 * 0.15 + (0.02 + 0.20) / 2 + (0.08 + 0.16) / 2
    # B's first tier beyond the shared infrastructure: extras' midpoint, security, one A100 at $11/3,
    # two spot A100s at $1.10 and one A10G half the day, over 720 hours.
    extras = (380 + 580) / 2 + 150
    fleet = 11 / 3 * 720 + 2 * 1.10 * 720 + 1.00 * 360
    by_hand = math.floor((extras + fleet) / per_video) + 1
    assert by_hand == 531
    assert compared["break_even"]["B_vs_A-1_videos_per_month"] == by_hand
    below = cost.scenario_costs(DOCUMENT, by_hand - 1)
    at = cost.scenario_costs(DOCUMENT, by_hand)
    assert below["B"] >= below["A-1"] and at["B"] < at["A-1"]
    assert compared["break_even"]["A-2_cheaper_than_B_at_every_volume"] is True


def test_notes_say_where_the_document_disagrees_with_itself(compared: dict[str, Any]) -> None:
    notes = compared["notes"]
    assert any("11/3" in note for note in notes["b_gpu"])
    assert any("$695–$1,745" in note and "$700–$1,750" in note for note in notes["fixed_infra"])
    assert any("fixed cost" in note for note in notes["comparison"])
    assert any("$13,300–$19,300" in note and "$13,500–$19,500" in note for note in notes["b_total"])
    assert any("$380–$580" in note for note in notes["b_extras"])
    assert notes["shot_seconds"] == ["The document's shot-length table leaves out Runway Gen-4; Tale prints every API."]


def test_compare_prints_tables_notes_and_the_capacity_warning() -> None:
    result = runner.invoke(cost_app, ["compare", "--prices", "2026-02"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    for heading in (
        "Video APIs",
        "One video by shot length",
        "A-1",
        "A-2",
        "GPU subtotal",
        "Comparison per month",
        "Break-even",
    ):
        assert heading in text, heading
    assert "$31,840" in text and "$15,920" in text
    assert "note:" in text and "11/3" in text
    assert "warning:" in text and "45,000 videos a month need 9,000 GPU-hours" in text
    assert "B costs less than A-1 from 531 videos a month" in text


# ── Properties ──────────────────────────────────────────────────────────────────────────────────────


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=500_000), st.integers(min_value=1, max_value=100_000))
def test_a1_and_b_grow_with_volume(volume: int, more: int) -> None:
    low, high = cost.scenario_costs(DOCUMENT, volume), cost.scenario_costs(DOCUMENT, volume + more)
    assert high["A-1"] > low["A-1"]
    assert high["B"] >= low["B"] and high["A-2"] >= low["A-2"]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=500_000), st.floats(min_value=0.01, max_value=20))
def test_a2_does_not_depend_on_api_prices(volume: int, factor: float) -> None:
    scaled = DOCUMENT.model_copy(
        update={"video": [v.model_copy(update={"usd_per_second": v.usd_per_second * factor}) for v in DOCUMENT.video]}
    )
    assert cost.scenario_costs(scaled, volume)["A-2"] == cost.scenario_costs(DOCUMENT, volume)["A-2"]
    if factor > 1:
        assert cost.scenario_costs(scaled, volume)["A-1"] > cost.scenario_costs(DOCUMENT, volume)["A-1"]


def test_break_even_is_none_when_the_api_is_free() -> None:
    free = DOCUMENT.model_copy(
        update={
            "video": [v.model_copy(update={"usd_per_second": 0.0}) for v in DOCUMENT.video],
            "scenario_a": DOCUMENT.scenario_a.model_copy(
                update={
                    "planning": DOCUMENT.scenario_a.planning.model_copy(update={"usd": cost.Range(low=0, high=0)}),
                    "references": DOCUMENT.scenario_a.references.model_copy(update={"usd": cost.Range(low=0, high=0)}),
                }
            ),
        }
    )
    assert cost.break_even_b_vs_a1(free) is None


# ── Price books ─────────────────────────────────────────────────────────────────────────────────────


def test_books_validate_and_today_is_the_default() -> None:
    assert cost.book_ids() == ["2026-02", "2026-11"]
    today = cost.default_book()
    assert today.id == "2026-11"
    fast = today.video_price("veo-3.1-fast")
    assert fast.usd_per_second == 0.10 and fast.by_resolution["1080p"] == 0.12 and fast.verified is False
    assert "gpt-image-2" in {entry.id for entry in today.image}
    assert today.video_price("runway-gen4.5").verified is False
    for book in (DOCUMENT, today):
        for entry in [*book.video, *book.image, *book.planner, *book.gpus.values(), *book.gpu_time]:
            assert entry.source and entry.as_of, entry
    assert DOCUMENT.gpus["a100-80gb"].usd_per_hour == pytest.approx(11 / 3)


def test_prices_env_chooses_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cost.PRICES_ENV, "2026-02")
    assert cost.default_book().id == "2026-02"


def test_unknown_book_and_api_list_the_valid_names() -> None:
    with pytest.raises(RecipeError) as error:
        cost.load_book("1999-01")
    assert error.value.hint is not None and "2026-02" in error.value.hint
    result = runner.invoke(cost_app, ["compare", "--api", "sora-2"])
    assert result.exit_code == ExitCode.RECIPE
    assert "sora-2" in result.output and "veo-3.1-fast" in result.output


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('extends = "2026-11"\n[gpus.a100-80gb]\nusd_per_hour = -1\n', "usd_per_hour"),
        ('extends = "2026-11"\nsurprise = 1\n', "unknown key 'surprise'"),
        ('extends = "2026-11"\n[scenario_a]\napi = "nope"\n', "scenario_a.api"),
        (
            'extends = "2026-11"\n[[scenario_b.tiers]]\nvideos = 10\n'
            'pools = [{ role = "video", gpu = "h200", count = 1, hours_per_day = 24 }]\n',
            "h200",
        ),
        ('extends = "2026-11"\n[infra]\ntiers = [{ videos = 100, usd = 1 }, { videos = 50, usd = 2 }]\n', "increasing"),
        ('extends = "mine.toml"\n', "loops back"),
        ("id = [", "not valid TOML"),
    ],
)
def test_bad_books_are_refused_with_the_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RecipeError) as error:
        cost.load_book(str(path))
    assert message in error.value.message and "mine.toml" in error.value.message


RUNPOD = """
extends = "2026-11"
id = "runpod-deal"
title = "Our RunPod deal"

[gpus.a100-80gb]
label = "A100 80GB (RunPod deal)"
usd_per_hour = 1.19
spot_usd_per_hour = 0.79
source = "RunPod quote"
as_of = 2026-11-20
verified = true

[[video]]
id = "veo-3.1-fast"
usd_per_second = 0.09
source = "negotiated"
as_of = 2026-11-20
verified = true
"""


def test_a_runpod_deal_reprices_the_fleet_and_local_renders(tmp_path: Path) -> None:
    path = tmp_path / "runpod.toml"
    path.write_text(RUNPOD, encoding="utf-8")
    deal = cost.load_book(str(path))
    today = cost.load_book("2026-11")
    assert deal.id == "runpod-deal" and deal.gpus["a100-80gb"].usd_per_hour == 1.19
    # Entries with an id merge into the base book: the other video APIs stay, the one named changes.
    assert deal.video_price("veo-3.1-fast").usd_per_second == 0.09 and deal.video_price("veo-3.1-fast").billed_durations
    assert {v.id for v in deal.video} == {v.id for v in today.video}
    assert cost.scenario_costs(deal, 45000)["B"] < cost.scenario_costs(today, 45000)["B"]
    local = recipe("diffusers", "THUDM/CogVideoX-5b")
    estimate = cost.estimate_render(make_plan(), local, book=deal)
    assert estimate.shots[0].usd == pytest.approx(180 / 3600 * 1.19)
    result = runner.invoke(cost_app, ["compare", "--prices", str(path), "--json", "--volumes", "45000"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["price_book"] == "runpod-deal" and "document" not in data["comparison"][0]


# ── Estimates ───────────────────────────────────────────────────────────────────────────────────────


def test_estimate_api_recipe_per_shot_planner_and_references() -> None:
    today = cost.load_book("2026-11")
    veo = Recipe(
        name="veo",
        video={"backend": "veo", "model": "veo-3.1-fast-generate-001", "audio": True},
        image={"backend": "openai", "model": "gpt-image-2", "quality": "medium"},
        planner={"backend": "gemini", "model": "gemini-3.8-flash"},
    )
    estimate = cost.estimate_render(make_plan(), veo, book=today)
    assert [shot.billed_seconds for shot in estimate.shots] == [8.0] * 8
    assert estimate.shots[0].usd == pytest.approx(0.80) and estimate.shots[0].price == "veo-3.1-fast"
    assert estimate.references == 2 and estimate.references_usd == pytest.approx(0.14)
    assert estimate.planner_usd == pytest.approx(0.20)
    assert estimate.total_usd == pytest.approx(6.40 + 0.14 + 0.20)
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


def test_veo_is_priced_only_with_audio_and_only_first_hand_prices_are_verified() -> None:
    today = cost.load_book("2026-11")
    for model in ("veo-3.1-generate-001", "veo-3.1-fast-generate-001", "veo-3.1-lite-generate-001"):
        assert cost.price_shot("veo", model, 8, audio=True, book=today) is not None
        assert cost.price_shot("veo", model, 8, audio=False, book=today) is None
    silent = Recipe(name="silent", video={"backend": "veo", "model": "veo-3.1-lite-generate-001", "audio": False})
    estimate = cost.estimate_render(make_plan(), silent, book=today, include_planner=False)
    assert estimate.paid and estimate.video_usd == 0
    assert estimate.unpriced == [
        "video veo/veo-3.1-lite-generate-001: price book 2026-11 prices Veo 3.1 Lite only with audio (audio = true)"
    ]
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


# ── Spend ledger ────────────────────────────────────────────────────────────────────────────────────


def write_manifest(
    run: Path, shots: dict[str, dict[str, Any]], *, refs: dict[str, Any] | None = None, planner: Any = None
) -> Path:
    run.mkdir(parents=True)
    manifest = {
        "tale_version": "0.1.0",
        "run": {
            "slug": run.name,
            "recipe": "x",
            "created": "2026-11-01T10:00:00+00:00",
            "updated": "2026-11-02T10:00:00+00:00",
        },
        "planner": planner,
        "refs": refs or {},
        "shots": shots,
        "film": None,
    }
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


def shot(
    index: int, backend: str, usd: float | None, day: str, *, status: str = "done", seconds: float | None = 8.0
) -> dict[str, Any]:
    return {
        "index": index, "backend": backend, "model": "m", "status": status, "billed_seconds": seconds,
        "billed_credits": None, "cost_usd": usd, "started_at": f"{day}T09:00:00+00:00",
        "finished_at": f"{day}T09:01:00+00:00", "render_s": 60.0, "error": None,
    }  # fmt: skip


def test_spent_sums_per_run_backend_and_day(tmp_path: Path) -> None:
    first = write_manifest(
        tmp_path / "out" / "first",
        {
            "1": shot(1, "veo", 0.8, "2026-11-01"),
            "2": shot(2, "veo", 0.8, "2026-11-02"),
            "3": shot(3, "veo", None, "2026-11-02", status="pending"),
        },
        refs={
            "ada": {
                "backend": "openai",
                "model": "gpt-image-2",
                "status": "done",
                "cost_usd": 0.07,
                "finished_at": "2026-11-01T08:00:00Z",
            }
        },
        planner={"backend": "gemini", "model": "gemini-3.8-flash", "cost_usd": 0.01},
    )
    second = write_manifest(
        tmp_path / "out" / "second",
        {
            "1": shot(1, "runway", 0.4, "2026-11-02"),
            "2": shot(2, "runway", None, "2026-11-02"),
            "3": shot(3, "diffusers", None, "2026-11-02", seconds=None),
        },
    )
    report = cost.spent([first, second])
    assert report.total_usd == pytest.approx(0.8 + 0.8 + 0.07 + 0.01 + 0.4)
    backends = {line.key: line for line in report.by_backend}
    assert (
        backends["veo"].usd == pytest.approx(1.6)
        and backends["veo"].items == 2
        and backends["veo"].billed_seconds == 16
    )
    assert backends["runway"].unrecorded == 1 and report.unrecorded == 1
    assert backends["diffusers"].gpu_seconds == 60 and backends["diffusers"].unrecorded == 0
    days = {line.key: line.usd for line in report.by_day}
    assert days["2026-11-01"] == pytest.approx(0.87) and days["2026-11-02"] == pytest.approx(0.8 + 0.4 + 0.01)
    # The planner has no finish time: it counts on the run's last update.
    assert set(days) == {"2026-11-01", "2026-11-02"}


def test_spent_command_scans_out_and_reads_given_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(tmp_path / "out" / "a", {"1": shot(1, "veo", 0.8, "2026-11-03")})
    write_manifest(tmp_path / "out" / "b", {"1": shot(1, "veo", 1.2, "2026-11-04")})
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cost_app, ["spent", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total_usd"] == 2.0 and [r["run"] for r in data["runs"]] == ["a", "b"]
    assert [d["day"] for d in data["by_day"]] == ["2026-11-03", "2026-11-04"]
    table = runner.invoke(cost_app, ["spent", str(tmp_path / "out" / "b")])
    assert table.exit_code == 0 and "total $1.20 across 1 run" in table.stdout
    missing = runner.invoke(cost_app, ["spent", str(tmp_path)])
    assert missing.exit_code == ExitCode.INPUT and "no manifest.json" in missing.output
    (tmp_path / "out" / "a" / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError):
        cost.spent([tmp_path / "out" / "a"])
    monkeypatch.chdir(tmp_path / "out" / "b")
    empty = runner.invoke(cost_app, ["spent"])
    assert empty.exit_code == 0 and "No runs found" in empty.stdout


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
