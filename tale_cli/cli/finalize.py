"""`tale finalize`: a run of drafts' current takes rendered at the recipe's final tier, and film.mp4 cut from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.pipeline.finalize import FinalizeReport, FinalShot


def finalize(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder made by `tale render --draft`.")],
    shots: Annotated[
        list[int] | None, typer.Argument(metavar="[SHOT]...", help="Only these shots (default: every shot).")
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option("--recipe", "-r", help="The run's recipe, when its file is no longer where the run recorded it."),
    ] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, max=64, help="Shots rendered at once.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Spend without asking.")] = False,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", min=0, help="Refuse to start above this estimate (USD).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Render the current takes of a run of drafts at the recipe's final tier (same prompt, seed, references and
    first frame) and cut film.mp4 beside film.draft.mp4; a take finalized before is not paid again."""

    def action() -> None:
        from tale_cli.cli.cost import terminal_spending
        from tale_cli.cli.progress import ProgressView
        from tale_cli.cli.settings import resolve_recipe
        from tale_cli.errors import ShotsFailedError
        from tale_cli.pipeline.finalize import FinalizeOptions
        from tale_cli.pipeline.finalize import finalize as finalize_run

        chosen = resolve_recipe(recipe) if recipe is not None else None
        with ProgressView(json_mode=json_output) as view:
            spending = terminal_spending(max_cost=max_cost, yes=yes, quiet=json_output, pause=view.paused)
            options = FinalizeOptions(recipe=chosen, jobs=jobs, spending=spending)
            report = finalize_run(run_dir, shots or [], options, emit=view)
        if json_output:
            print_json(report.to_json())
        else:
            _print(report)
        if report.failed:
            first = report.failed[0]
            raise ShotsFailedError(
                f"{len(report.failed)} of {len(report.shots)} shots were not finalized (shot {first.shot}: "
                f"{first.error})",
                hint="each shot keeps its draft; run the command again to retry",
            )

    run(action)


def _line(shot: FinalShot) -> str:
    if shot.how == "failed":
        return f"[bold red]shot {shot.shot}: not finalized[/] ({escape(shot.error or '')})"
    if shot.how == "final as it is":
        return f"shot {shot.shot}: take {shot.take} is final as it is"
    cost = f" (${shot.cost_usd:.2f})" if shot.cost_usd else ""
    return f"shot {shot.shot}: take {shot.take} {shot.how} at the final tier from take {shot.draft_take}{cost}"


def _print(report: FinalizeReport) -> None:
    from tale_cli.cli.takes import film_words

    out = console()
    for shot in report.shots:
        out.print(_line(shot))
    if report.film is not None:
        out.print(
            f"[green]final film[/] {escape(str(report.film))} {film_words(report.unchanged, report.loudness_lufs)}"
        )
    if report.draft_film is not None:
        out.print(f"draft film {escape(str(report.draft_film))}")
    for note in report.notes:
        out.print(escape(note))
    if report.review is not None:
        out.print(f"review page {escape(str(report.review))}")
