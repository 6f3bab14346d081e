"""Helpers for the tests of tale_cli/cost/ and tale_cli/pricing/: the document's book, small plans and recipes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tale_cli import cost
from tale_cli.config import Recipe
from tale_cli.story.plan import Plan

runner = CliRunner()
DOCUMENT = cost.load_book("2026-02")


def within(value: float, printed: float, tolerance: float = 0.02) -> bool:
    """The document's own rounding: a figure matches when it is within 2 % of what it prints."""
    return abs(value - printed) <= tolerance * abs(printed)


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
