"""Tests of what runs spent, per run, backend and day."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from costs import runner, shot, write_manifest

from tale_cli import cost
from tale_cli.cli.cost import app as cost_app
from tale_cli.errors import ExitCode, InputError

# ── Spend ledger ────────────────────────────────────────────────────────────────────────────────────


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
