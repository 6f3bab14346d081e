"""`tale judge`: each take's character and entity consistency, prompt fidelity and broken frames, weakest shots
first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.judge.run import JudgeReport

METRIC_NAMES = {"score": "score", "prompt": "prompt fidelity", "cross": "character vs reference",
                "self_score": "character vs other shots", "alignment": "prompt alignment (0-4)"}  # fmt: skip


def judge(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder made by `tale render`.")],
    backend: Annotated[
        str | None, typer.Option("--backend", "-b", help="Judge: none (no-model checks only), local, gemini.")
    ] = None,
    recipe: Annotated[
        str | None, typer.Option("--recipe", "-r", help="Recipe whose [judge] to use [default: the run's].")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score every take of every shot; write judge.json and the manifest; show the weakest shots first."""

    def action() -> JudgeReport:
        from tale_cli.cli.progress import ProgressView
        from tale_cli.cli.settings import resolve_recipe
        from tale_cli.judge.run import judge_run

        chosen = resolve_recipe(recipe) if recipe is not None else None
        with ProgressView(json_mode=json_output) as view:
            return judge_run(run_dir, backend=backend, recipe=chosen, emit=view)

    report: JudgeReport = run(action)
    if json_output:
        print_json(report.to_json())
        return
    print_report(report)


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def print_report(report: JudgeReport) -> None:
    from rich.table import Table

    from tale_cli.judge.scoring import weakest_first

    title = f"judge · {report.backend}{f' · {report.model}' if report.model else ''} · {escape(str(report.run_dir))}"
    table = Table(title=title, title_justify="left")
    for name in ("shot", "take", "score", "prompt", "cross", "self", "checks", "notes"):
        table.add_column(
            name, justify="right" if name in ("shot", "take", "score", "prompt", "cross", "self") else "left"
        )
    for row in weakest_first(report.rows):
        checks = [word for word, flagged in (("frozen", row.frozen), ("flash", row.flash)) if flagged]
        notes = [f"missing: {', '.join(row.missing)}"] if row.missing else []
        notes += list(row.notes)
        score = _number(row.score)
        table.add_row(
            str(row.shot),
            f"{row.take}{' *' if row.current else ''}",
            f"[red]{score}[/]" if row.frozen or row.flash else score,
            _number(row.prompt),
            _number(row.cross),
            _number(row.self_score),
            escape(", ".join(checks) or "ok"),
            escape(" · ".join(notes)),
        )
    out = console()
    out.print(table)
    out.print("* the shot's current take")
    for name, metric in report.summary.items():
        out.print(
            f"{METRIC_NAMES.get(name, name)}: mean {metric.mean:.2f}, min {metric.min:.2f} ({metric.shots} shots)"
        )
    for thing, seen in report.entities.items():
        worst = f"worst shot {seen.worst_shot} ({_number(seen.worst)})" if seen.worst_shot is not None else "unscored"
        mean = f", mean {seen.score.mean:.2f}" if seen.score is not None else ""
        missing = f"; not found in shot {', '.join(str(shot) for shot in seen.missing)}" if seen.missing else ""
        out.print(f"{escape(thing)} ({seen.kind}): {worst}{mean} over {seen.shots} shots{missing}")
    if report.flagged:
        out.print(f"[red]frozen or flashing[/]: shot {', '.join(str(shot) for shot in report.flagged)}")
    cost = f", ${report.cost_usd:.4f}" if report.cost_usd else ""
    out.print(f"{report.judged} takes judged, {report.cached} from the cache{cost}; {escape(str(report.path))}")
