"""The Gemini judge against the fake Gemini server: a verdict read into scores, priced and audited; a malformed
verdict repaired or reported, never a crash; the estimate and the ledger count what judging costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app

runner = CliRunner()


def tale(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


@pytest.fixture
def run_dir(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> Path:
    made = tale("render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "out"), "--json")
    return Path(made["run_dir"])


def audit_lines(run_dir: Path) -> list[dict]:
    lines = (run_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [entry for line in lines if (entry := json.loads(line))["role"] == "judge"]


def test_the_gemini_judge_reads_a_verdict_prices_and_audits_it_and_caches(fake_providers, run_dir: Path) -> None:
    report = tale("judge", str(run_dir), "--backend", "gemini", "--json")

    assert fake_providers.creates["gemini-judge"] == 3 and report["judged"] == 3
    assert report["model"] == "gemini-3.8-flash" and report["cost_usd"] > 0
    plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    for row in report["shots"]:
        assert row["alignment"] == 3.0 and row["prompt"] == 0.75 and row["notes"] == []
        assert row["cross"] == (1.0 if plan["shots"][row["shot"] - 1]["characters"] else None)
        assert row["self_score"] is None, "a vision-language judge gives no embeddings to compare shots with"
    judge_requests = [r for r in fake_providers.requests if r["path"].endswith(":generateContent")]
    config = judge_requests[0]["json"]["generationConfig"]
    assert "temperature" not in config and config["responseJsonSchema"]["properties"]["alignment"]["enum"] == [
        "0", "1", "2", "3", "4",
    ]  # fmt: skip
    audited = audit_lines(run_dir)
    assert len(audited) == 3 and all(line["outcome"] == "ok" and line["cost_usd"] > 0 for line in audited)
    assert sum(line["cost_usd"] for line in audited) == pytest.approx(report["cost_usd"])
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    take = manifest["shots"]["1"]["takes"][0]["judge"]
    assert take["backend"] == "gemini" and take["cost_usd"] > 0

    again = tale("judge", str(run_dir), "--backend", "gemini", "--json")
    assert again["cached"] == 3 and again["cost_usd"] == 0 and fake_providers.creates["gemini-judge"] == 3

    spent = tale("cost", "spent", str(run_dir), "--json")
    gemini = next(line for line in spent["by_backend"] if line["backend"] == "gemini")
    assert gemini["items"] == 3 and gemini["usd"] == pytest.approx(report["cost_usd"], abs=0.01)


def test_judging_again_with_another_judge_keeps_what_the_first_one_cost(fake_providers, run_dir: Path) -> None:
    paid = tale("judge", str(run_dir), "--backend", "gemini", "--json")["cost_usd"]
    assert paid > 0 and fake_providers.creates["gemini-judge"] == 3

    tale("judge", str(run_dir), "--json")  # the run's own judge (no model): free, and it scores every take anew

    spent = tale("cost", "spent", str(run_dir), "--json")
    gemini = next(line for line in spent["by_backend"] if line["backend"] == "gemini")
    assert gemini["items"] == 3 and gemini["usd"] == pytest.approx(paid, abs=0.01)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    take = manifest["shots"]["1"]["takes"][0]
    assert take["judge"]["backend"] == "none" and [c["backend"] for c in take["judge_charges"]] == ["gemini"]

    tale("judge", str(run_dir), "--backend", "gemini", "--json")  # read back from the cache: paid once
    again = tale("cost", "spent", str(run_dir), "--json")
    assert next(line for line in again["by_backend"] if line["backend"] == "gemini")["usd"] == gemini["usd"]


def test_a_malformed_verdict_is_reported_and_a_sloppy_one_repaired(fake_providers, run_dir: Path) -> None:
    fake_providers.malformed_verdicts = 1
    fake_providers.sloppy_verdicts = 1
    report = tale("judge", str(run_dir), "--backend", "gemini", "--json")
    by_shot = {row["shot"]: row for row in report["shots"]}
    assert "the judge's verdict is not JSON" in by_shot[1]["notes"][0] and by_shot[1]["prompt"] is None
    assert by_shot[2]["notes"] == ["the judge's verdict was repaired"] and by_shot[2]["alignment"] == 3.0
    assert by_shot[3]["notes"] == [] and by_shot[3]["prompt"] == 0.75
    assert fake_providers.creates["gemini-judge"] == 3

    again = tale("judge", str(run_dir), "--backend", "gemini", "--json")
    assert fake_providers.creates["gemini-judge"] == 4, "only the verdict that could not be read is asked again"
    assert again["judged"] == 1 and {row["shot"]: row for row in again["shots"]}[1]["prompt"] == 0.75


def test_the_fake_refuses_sampling_settings_for_gemini_3(fake_providers) -> None:
    from google import genai
    from google.genai import errors, types

    client = genai.Client(api_key=fake_providers.keys["google"])
    config = types.GenerateContentConfig(temperature=0.2)
    with pytest.raises(errors.ClientError) as refused:
        client.models.generate_content(model="gemini-3.8-flash", contents="hi", config=config)
    assert refused.value.code == 400 and "temperature" in str(refused.value)


def test_a_private_run_refuses_the_cloud_judge(fake_providers, tmp_path: Path, story_file: Path, tiny_recipe: Path):
    made = tale("render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "p"), "--private",
                "--json")  # fmt: skip
    result = tale("judge", made["run_dir"], "--backend", "gemini", code=11)
    assert "judge backend 'gemini' is a cloud service" in result.output
    assert fake_providers.creates["gemini-judge"] == 0


def test_the_estimate_counts_the_judge_and_the_worst_case_of_the_retakes() -> None:
    from cloudrender import EXAMPLE_STORY

    judged = tale("cost", "estimate", str(EXAMPLE_STORY), "--recipe", "veo-3.1-fast-judged", "--json")
    plain = tale("cost", "estimate", str(EXAMPLE_STORY), "--recipe", "veo-3.1-fast", "--json")
    assert judged["retakes"] == 16 and judged["retakes_usd"] == pytest.approx(2 * judged["video_usd"])
    assert judged["judge_usd"] > 0 and judged["video_usd"] == plain["video_usd"]
    # Each figure is rounded to the cent on its own: the parts may add to a cent more or less than the total.
    parts = plain["total_usd"] + judged["retakes_usd"] + judged["judge_usd"]
    assert judged["total_usd"] == pytest.approx(parts, abs=0.011)
    refused = tale("cost", "estimate", str(EXAMPLE_STORY), "--recipe", "veo-3.1-fast-judged",
                   "--max-cost", str(plain["total_usd"] + 0.01), code=9)  # fmt: skip
    assert "exceeds the budget" in refused.output
    table = tale("cost", "estimate", str(EXAMPLE_STORY), "--recipe", "veo-3.1-fast-judged")
    assert "retakes" in table.output and "judge" in table.output
