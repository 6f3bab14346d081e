"""A render's judging: after the shots render, every take is judged and each shot below the recipe's bar (its score,
or the weakest character or entity on screen when that is lower) is retaken with new seeds (through the takes
machinery: every take kept) up to `max_retakes` times or until the budget is spent; the best take of each shot
becomes current. A stopped render resumes where it was: the retakes made are the shot's takes for the plan as it
is, and their judgements are cached."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tale_cli.events import Event, EventSink
from tale_cli.judge.run import JudgeReport, record_judging
from tale_cli.judge.scoring import Judge, JudgeRow, bar_score
from tale_cli.run.verdicts import RetakeSummary, ScoreMove

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.pipeline.options import RenderOptions
    from tale_cli.run.folder import Manifest, RunFolder, TakeRecord
    from tale_cli.story.plan import Plan


def judge_render(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    plan_hashes: dict[int, str],
    options: RenderOptions,
    emit: EventSink,
    *,
    spent_before: float,
) -> JudgeReport:
    """Judge the rendered film; with the recipe's bar, retake the shots below it and keep each shot's best take."""
    from tale_cli.cost.guard import budget_for
    from tale_cli.keys.audit import AuditLog

    judge = Judge(folder, plan, recipe, AuditLog(folder.root, audit_prompts=recipe.audit_prompts))
    summary: RetakeSummary | None = None
    try:
        judge.preflight()
        emit(Event("message", detail=f"judging the takes ({judge.name})"))
        rows = judge.judge_film(manifest)
        if recipe.judge.retakes:
            budget = budget_for(options.max_cost, recipe)
            summary, rows = _retake(judge, plan, recipe, folder, manifest, plan_hashes, options, emit, rows,
                                    budget=budget, spent_before=spent_before)  # fmt: skip
    finally:
        judge.close()
    return record_judging(folder, manifest, judge, rows, summary)


def judging_left(
    plan: Plan, recipe: Recipe, manifest: Manifest, plan_hashes: dict[int, str], pending: list[int]
) -> tuple[dict[int, int], list[int]]:
    """What a render's judging may still pay for, at its worst case: the automatic retakes each shot may still get
    (a shot settled — its takes judged and the best at the bar — or locked gets none; a shot with retakes made gets
    the rest of `max_retakes`), and the shots with a take the recipe's judge has not scored. A render stopped while
    judging resumes with these, so its estimate counts them though every clip is cached."""
    judge = recipe.judge
    if not (judge.enabled or judge.retakes):
        return {}, []
    waiting = set(pending)
    left: dict[int, int] = {}
    judged: list[int] = []
    for shot in plan.shots:
        index = shot.index
        if index in waiting:
            judged.append(index)
            if judge.retakes:
                left[index] = judge.max_retakes
            continue
        entry = manifest.data.shots.get(str(index))
        if entry is None or entry.locked:
            continue
        takes = _takes_for_plan(manifest, index, plan_hashes.get(index, ""))
        scored = [t.judge for t in takes if t.judge is not None and t.judge.backend == judge.backend]
        if len(scored) < len(takes):
            judged.append(index)
        if not judge.retakes or not takes:
            continue
        best = max((bar for j in scored if (bar := j.bar_score) is not None), default=None)
        if len(scored) == len(takes) and best is not None and best >= judge.retake_below:
            continue
        remaining = judge.max_retakes - (len(takes) - 1)
        if remaining > 0:
            left[index] = remaining
    return left, judged


def _takes_for_plan(manifest: Manifest, index: int, plan_hash: str) -> list[TakeRecord]:
    """The shot's takes made for the plan's shot as it is: its first render and the retakes since."""
    entry = manifest.data.shots.get(str(index))
    return [take for take in (entry.takes or []) if take.plan_hash == plan_hash] if entry is not None else []


def _best(rows: list[JudgeRow], takes: list[TakeRecord], current: int | None) -> tuple[int | None, float | None]:
    """The best of `takes` by what the bar reads (then by score, then the current one) and what the bar reads of it."""
    by_take = {row.take: row for row in rows}
    scored = [
        (bar, by_take[t.take].score or 0.0, t.take == current, -t.take)
        for t in takes
        if t.take in by_take and (bar := bar_score(by_take[t.take])) is not None
    ]
    if not scored:
        return None, None
    bar, _, _, take = max(scored)
    return -take, bar


def _round_cost(plan: Plan, recipe: Recipe, shots: list[int]) -> dict[int, float]:
    """What one more take of each shot costs: its clip and its judging, from the run's price book."""
    from tale_cli.cost import estimate_render

    once = recipe.model_copy(update={"judge": recipe.judge.model_copy(update={"max_retakes": 0})})
    estimate = estimate_render(plan, once, include_planner=False, only_shots=shots, spoken=[], compose=False)
    judging = estimate.judge_usd / max(1, len(shots))
    return {shot.index: shot.usd + judging for shot in estimate.shots}


def _retake(
    judge: Judge,
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    plan_hashes: dict[int, str],
    options: RenderOptions,
    emit: EventSink,
    rows: list[JudgeRow],
    *,
    budget: float | None,
    spent_before: float,
) -> tuple[RetakeSummary, list[JudgeRow]]:
    from tale_cli.pipeline.retake import RetakeOptions, render_takes
    from tale_cli.run.takes import use_take

    bar, most = recipe.judge.retake_below, recipe.judge.max_retakes
    summary = RetakeSummary(below=bar, max_retakes=most)
    first = {row.shot: bar_score(row) for row in rows if row.current}
    locked = {s.index for s in plan.shots if manifest.shot(s.index).locked}

    def by_shot(index: int) -> list[JudgeRow]:
        return [row for row in rows if row.shot == index]

    while True:
        below: list[int] = []
        for shot in plan.shots:
            takes = _takes_for_plan(manifest, shot.index, plan_hashes.get(shot.index, ""))
            _, score = _best(by_shot(shot.index), takes, manifest.shot(shot.index).take)
            if shot.index not in locked and takes and score is not None and score < bar and len(takes) - 1 < most:
                below.append(shot.index)
        if not below:
            break
        if budget is not None:
            each = _round_cost(plan, recipe, below)
            left = budget - (manifest.data.cost_usd - spent_before)
            fitting: list[int] = []
            for index in below:
                if sum(each[i] for i in fitting) + each[index] <= left + 1e-9:
                    fitting.append(index)
            if len(fitting) < len(below):
                summary.stopped = f"the budget of ${budget:.2f} is spent"
            below = fitting
            if not below:
                break
        emit(Event("message", detail=f"retaking {len(below)} shot(s) scoring below {bar:g}: {below}"))
        retake_options = RetakeOptions(recipe=recipe, new_seed=True, keep=True, jobs=options.jobs)
        changes = render_takes(folder, plan, manifest, below, retake_options, emit, stitching=options)
        summary.takes_made += sum(1 for change in changes if change.how == "rendered")
        if all(change.how == "failed" for change in changes):
            summary.stopped = f"the retakes failed ({changes[0].error})"
            break
        rows = judge.judge_film(manifest)
    changed = False
    for shot in plan.shots:
        takes = _takes_for_plan(manifest, shot.index, plan_hashes.get(shot.index, ""))
        if len(takes) < 2 or shot.index in locked:
            continue
        current = manifest.shot(shot.index).take
        best, score = _best(by_shot(shot.index), takes, current)
        if best is not None and best != current:
            use_take(folder, manifest, shot.index, next(t for t in takes if t.take == best))
            changed = True
        summary.moves.append(ScoreMove(shot=shot.index, before=first.get(shot.index), after=score, takes=len(takes),
                                       kept=best or current or 1))  # fmt: skip
    summary.retaken = len(summary.moves)
    if changed:
        rows = judge.judge_film(manifest)  # the self scores follow the takes now current (all from the cache)
    return summary, rows


def summary_json(report: JudgeReport) -> dict[str, Any]:
    """What a render's report says of its judging."""
    data = report.to_json()
    keys = ("backend", "model", "summary", "entities", "flagged", "retakes", "cost_usd", "judged")
    return {key: data[key] for key in keys}
