"""Tests of dated price books: validation, the default, extending one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from costs import DOCUMENT, make_plan, recipe, runner

from tale_cli import cost
from tale_cli.cli.cost import app as cost_app
from tale_cli.errors import ExitCode, RecipeError

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


def test_a_price_is_the_one_in_force_on_the_day_of_the_request(tmp_path: Path, story_file: Path) -> None:
    from datetime import date

    from tale_cli.pricing.rates import price_judge, price_voice, priced_on

    today = cost.load_book("2026-11")
    # Google's schedule of 2027-01-01 doubles Gemini 3.8 Flash's tokens and its TTS audio (second-hand entries).
    with priced_on(date(2026, 12, 31)):
        december = price_voice("gemini", "gemini-3.8-flash-tts", 60, book=today)
        judge_before = price_judge("gemini", "gemini-3.8-flash", book=today)
    with priced_on(date(2027, 1, 1)):
        january = price_voice("gemini", "gemini-3.8-flash-tts", 60, book=today)
        judge_after = price_judge("gemini", "gemini-3.8-flash", book=today)
    assert december == pytest.approx(25 * 60 * 9 / 1e6) and january == pytest.approx(2 * december)
    assert judge_before is not None and judge_after is not None
    assert judge_after.usd_per_million_output == 2 * judge_before.usd_per_million_output
    # `tale cost estimate --on DATE`: the Gemini planner at twice December's figure in January.
    figures = {}
    for day in ("2026-12-15", "2027-01-15"):
        result = runner.invoke(cost_app, ["estimate", str(story_file), "-r", "veo-3.1-fast", "--on", day, "--json"])
        assert result.exit_code == 0, result.output
        figures[day] = json.loads(result.stdout)["planner_usd"]
    assert figures["2027-01-15"] == pytest.approx(2 * figures["2026-12-15"]) and figures["2026-12-15"] > 0
    bad = runner.invoke(cost_app, ["estimate", str(story_file), "--on", "next tuesday"])
    assert bad.exit_code == ExitCode.INPUT and "YYYY-MM-DD" in bad.output


def test_a_price_ending_before_it_starts_is_refused(tmp_path: Path) -> None:
    book = tmp_path / "backwards.toml"
    book.write_text(
        'extends = "2026-11"\nid = "backwards"\n\n[[voice]]\nid = "x"\nlabel = "x"\nbackends = ["openai"]\n'
        'usd_per_minute = 1.0\nfrom = 2027-02-01\nuntil = 2027-01-01\nsource = "a test"\nas_of = 2026-12-06\n'
        "verified = false\n",
        encoding="utf-8",
    )
    with pytest.raises(RecipeError, match="until 2027-01-01 is not after from 2027-02-01"):
        cost.load_book(str(book))
