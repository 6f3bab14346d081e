"""Tests of the source document's figures and `tale cost compare`, recomputed from the 2026-02 book."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from costs import DOCUMENT, runner, shot, within, write_manifest
from hypothesis import given, settings
from hypothesis import strategies as st

from tale_cli import cost
from tale_cli.cli.cost import app as cost_app

# ── The source document's figures, recomputed from the 2026-02 book ─────────────────────────────────


@pytest.fixture(scope="module")
def compared() -> dict[str, Any]:
    """`tale cost compare --prices 2026-02 --json`, run once for the figure tests."""
    result = runner.invoke(cost_app, ["compare", "--prices", "2026-02", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


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
