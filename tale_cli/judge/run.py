"""`tale judge`: every take of a run folder judged, the film summarised, judge.json and the manifest written."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.events import Event, EventSink, ignore_events
from tale_cli.files import now_iso
from tale_cli.judge.scoring import Judge, JudgeRow, rows_json, summarize, summarize_appearances, weakest_first
from tale_cli.run.verdicts import AppearanceSummary, JudgeRecord, MetricSummary, RetakeSummary

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.run.folder import Manifest, RunFolder
    from tale_cli.story.plan import Plan

JUDGE_FILE = "judge.json"


@dataclass
class JudgeReport:
    """What `tale judge` found: a row per take, the film's summary over the current takes (per metric, and per
    character and entity with its worst shot), what judging cost."""

    run_dir: Path
    backend: str
    model: str | None
    settings: str
    rows: list[JudgeRow]
    summary: dict[str, MetricSummary]
    characters: dict[str, AppearanceSummary] = field(default_factory=dict)
    entities: dict[str, AppearanceSummary] = field(default_factory=dict)
    seconds: float = 0.0
    path: Path | None = None
    retakes: RetakeSummary | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def judged(self) -> int:
        return sum(1 for row in self.rows if not row.cached)

    @property
    def cached(self) -> int:
        return sum(1 for row in self.rows if row.cached)

    @property
    def cost_usd(self) -> float:
        return round(sum(row.cost_usd or 0.0 for row in self.rows), 6)

    @property
    def flagged(self) -> list[int]:
        return sorted({row.shot for row in self.rows if row.current and (row.frozen or row.flash or row.mute_line)})

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "backend": self.backend,
            "model": self.model,
            "settings": self.settings,
            "judged": self.judged,
            "cached": self.cached,
            "cost_usd": self.cost_usd,
            "seconds": round(self.seconds, 3),
            "summary": {name: metric.model_dump() for name, metric in self.summary.items()},
            "characters": {thing: seen.model_dump(mode="json") for thing, seen in self.characters.items()},
            "entities": {thing: seen.model_dump(mode="json") for thing, seen in self.entities.items()},
            "flagged": self.flagged,
            "retakes": self.retakes.model_dump(mode="json") if self.retakes is not None else None,
            "shots": rows_json(weakest_first(self.rows)),
            "notes": self.notes,
        }


def judge_recipe(recipe: Recipe, backend: str | None) -> Recipe:
    """The recipe with `--backend` for this judging (flag > recipe); a backend other than the recipe's is judged
    with that backend's own defaults."""
    if backend is None or backend == recipe.judge.backend:
        return recipe
    from tale_cli.config import JudgeConfig
    from tale_cli.errors import RecipeError, did_you_mean
    from tale_cli.registry import Role, names

    valid = ["none", *names(Role.JUDGE)]
    if backend not in valid:
        raise RecipeError(
            f"unknown judge backend '{backend}'{did_you_mean(backend, valid)}",
            hint="valid names are: " + ", ".join(valid),
        )
    keep = recipe.judge.model_dump(include={"frames", "retake_below", "max_retakes", "detect_threshold"})
    return recipe.model_copy(update={"judge": JudgeConfig(backend=backend, **keep)})


def record_judging(
    folder: RunFolder, manifest: Manifest, judge: Judge, rows: list[JudgeRow], retakes: RetakeSummary | None
) -> JudgeReport:
    """The report of a judging, written to judge.json and the manifest's `judge`."""
    report = JudgeReport(folder.root, judge.name, judge.model, judge.settings, rows, summarize(rows), retakes=retakes,
                         characters=summarize_appearances(rows, entities=False),
                         entities=summarize_appearances(rows, entities=True))  # fmt: skip
    with manifest.edit() as data:
        kept = retakes or (data.judge.retakes if data.judge is not None else None)
        data.judge = JudgeRecord(
            backend=judge.name,
            model=judge.model,
            settings=judge.settings,
            judged_at=now_iso(),
            summary=report.summary,
            flagged=report.flagged,
            retakes=kept,
            entities=report.entities or None,
        )
        report.retakes = kept
    report.path = folder.root / JUDGE_FILE
    folder.write_text(report.path, json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
    return report


def judge_film(
    folder: RunFolder,
    plan: Plan,
    manifest: Manifest,
    recipe: Recipe,
    *,
    emit: EventSink = ignore_events,
    retakes: RetakeSummary | None = None,
) -> JudgeReport:
    """Judge the run folder (held by the caller) with the recipe's [judge]; see `judge_run`."""
    from tale_cli.keys.audit import AuditLog

    started = time.monotonic()
    judge = Judge(folder, plan, recipe, AuditLog(folder.root, audit_prompts=recipe.audit_prompts))
    try:
        judge.preflight()
        emit(Event("message", detail=f"judging the takes ({judge.name})"))
        rows = judge.judge_film(manifest)
    finally:
        judge.close()
    report = record_judging(folder, manifest, judge, rows, retakes)
    report.seconds = time.monotonic() - started
    return report


def judge_run(
    run_dir: Path, *, backend: str | None = None, recipe: Recipe | None = None, emit: EventSink = ignore_events
) -> JudgeReport:
    """`tale judge`: score every take of every shot of a run folder with the run's (or the given) recipe's judge,
    or `backend`. A take already judged with the same settings is read back from judge/, never judged again."""
    from tale_cli.keys.privacy import check_private
    from tale_cli.run.open import holding, open_run
    from tale_cli.run.recipe import run_recipe_of

    folder, plan = open_run(run_dir)
    say = lambda text: emit(Event("message", detail=text))  # noqa: E731
    with holding(folder, "judging", say=say, create=False) as manifest:
        chosen = judge_recipe(recipe or _run_recipe(manifest, run_recipe_of), backend)
        check_private(chosen, private=folder.private)
        if not manifest.data.shots:
            from tale_cli.errors import InputError

            raise InputError(f"{run_dir} has no rendered shot to judge", hint="`tale render` it first")
        return judge_film(folder, plan, manifest, chosen, emit=emit)


def _run_recipe(manifest: Manifest, run_recipe_of: Any) -> Recipe:
    """The run's recipe when it can be found; else the default one (its [judge] is then "none")."""
    from tale_cli.config import load_defaults, load_recipe
    from tale_cli.errors import RecipeError

    try:
        recipe: Recipe = run_recipe_of(manifest, None)
    except RecipeError:
        recipe = load_recipe(load_defaults().recipe)
    return recipe
