"""`tale retake`, `takes`, `pick`, `replace`, `lock`, `unlock`: a shot's takes, chosen one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.cli.progress import ProgressView
    from tale_cli.pipeline.takes import RetakeOptions, ShotChange, TakesListing, TakesReport

RunDir = Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder made by `tale render`.")]
Shots = Annotated[list[int], typer.Argument(metavar="SHOT...", help="Shot numbers, from 1.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
RecipeFlag = Annotated[
    str | None,
    typer.Option("--recipe", "-r", help="Recipe for the new take [default: the run's]; a file recipe must be given."),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Spend without asking.")]
MaxCost = Annotated[float | None, typer.Option("--max-cost", min=0, help="Refuse to start above this estimate (USD).")]


def retake(
    run_dir: RunDir,
    shots: Shots,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Render the new take with this seed.")] = None,
    new_seed: Annotated[
        bool, typer.Option("--new-seed", help="A new random seed (the default without --seed, --prompt or --recipe).")
    ] = False,
    prompt: Annotated[str | None, typer.Option("--prompt", help="The new take's prompt instead of the plan's.")] = None,
    recipe: RecipeFlag = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the current take current; only add the new one.")] = False,
    yes: Yes = False,
    max_cost: MaxCost = None,
    json_output: JsonOutput = False,
) -> None:
    """Render a new take of each SHOT; it becomes current (unless --keep) and the film is cut again."""

    def action() -> None:
        from tale_cli.pipeline.takes import retake as retake_shots

        with _guarded(recipe, yes=yes, max_cost=max_cost, json_output=json_output) as (options, view):
            options.seed, options.new_seed, options.prompt, options.keep = seed, new_seed, prompt, keep
            report = retake_shots(run_dir, shots, options, emit=view)
        _print(report, json_output)

    run(action)


def replace(
    run_dir: RunDir,
    shot: Annotated[int, typer.Argument(metavar="SHOT", help="The shot number, from 1.")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Your video clip or still picture.")],
    animate: Annotated[
        bool, typer.Option("--animate", help="Give the still to the recipe's image-to-video backend as first frame.")
    ] = False,
    recipe: RecipeFlag = None,
    yes: Yes = False,
    max_cost: MaxCost = None,
    json_output: JsonOutput = False,
) -> None:
    """Make FILE a new, current take of SHOT: a clip conformed to the film, or a still under a slow camera move."""

    def action() -> None:
        from tale_cli.pipeline.takes import replace as replace_shot

        with _guarded(recipe, yes=yes, max_cost=max_cost, json_output=json_output) as (options, view):
            report = replace_shot(run_dir, shot, file, animate=animate, options=options, emit=view)
        _print(report, json_output)

    run(action)


def takes(
    run_dir: RunDir,
    shot: Annotated[int | None, typer.Argument(metavar="[SHOT]", help="Only this shot.")] = None,
    json_output: JsonOutput = False,
) -> None:
    """List each shot's takes, numbered from 1 in the order made; the current one is marked."""

    def action() -> TakesListing:
        from tale_cli.pipeline.takes import list_takes

        return list_takes(run_dir, shot)

    listing: TakesListing = run(action)
    if json_output:
        print_json(listing.to_json())
        return
    from rich.table import Table

    table = Table(title=f"takes · {escape(str(listing.run_dir))}", title_justify="left")
    for name in ("shot", "take", "", "seed", "backend · model", "cost", "made", "notes"):
        table.add_column(name, justify="right" if name in ("shot", "take", "seed", "cost") else "left")
    for shot_takes in listing.shots:
        if not shot_takes.takes:
            table.add_row(str(shot_takes.shot), "—", "", "", "", "", "", "no clip yet")
        for take in shot_takes.takes:
            tier = f"final of take {take.draft_take}" if take.draft_take is not None else take.tier
            notes = [text for text in (tier, take.prompt and f"prompt: {take.prompt}", take.source) if text]
            if take.current and shot_takes.locked:
                notes.insert(0, "locked")
            if not take.on_disk:
                notes.append("clip removed")
            table.add_row(
                str(take.shot),
                str(take.take),
                "[green]current[/]" if take.current else "",
                "—" if take.seed is None else str(take.seed),
                escape(f"{take.backend or '—'} · {take.model or '—'}"),
                "—" if take.cost_usd is None else f"${take.cost_usd:.2f}",
                escape((take.made_at or "—").replace("T", " ").removesuffix("+00:00")),
                escape(" · ".join(notes)),
            )
    console().print(table)


def pick(
    run_dir: RunDir,
    shot: Annotated[int, typer.Argument(metavar="SHOT", help="The shot number, from 1.")],
    take: Annotated[int, typer.Argument(metavar="TAKE", help="The take number, as `tale takes` lists it.")],
    json_output: JsonOutput = False,
) -> None:
    """Make TAKE the current take of SHOT and cut the film again."""

    def action() -> None:
        from tale_cli.cli.progress import ProgressView
        from tale_cli.pipeline.takes import pick as pick_take

        with ProgressView(json_mode=json_output) as view:
            report = pick_take(run_dir, shot, take, emit=view)
        _print(report, json_output)

    run(action)


def lock(run_dir: RunDir, shots: Shots, json_output: JsonOutput = False) -> None:
    """Lock each SHOT to its current take: renders keep it when the plan or recipe changes."""
    _lock(run_dir, shots, locked=True, json_output=json_output)


def unlock(run_dir: RunDir, shots: Shots, json_output: JsonOutput = False) -> None:
    """Unlock each SHOT: renders follow the plan and recipe again."""
    _lock(run_dir, shots, locked=False, json_output=json_output)


def _lock(run_dir: Path, shots: list[int], *, locked: bool, json_output: bool) -> None:
    def action() -> None:
        from tale_cli.pipeline.takes import lock as lock_shots

        _print(lock_shots(run_dir, shots, locked=locked), json_output)

    run(action)


@contextmanager
def _guarded(
    recipe: str | None, *, yes: bool, max_cost: float | None, json_output: bool
) -> Iterator[tuple[RetakeOptions, ProgressView]]:
    """What a paid take needs at this terminal: the recipe given (else the run's), `render`'s spend guard, progress."""
    from tale_cli.cli.cost import terminal_spending
    from tale_cli.cli.progress import ProgressView
    from tale_cli.cli.settings import resolve_recipe
    from tale_cli.pipeline.takes import RetakeOptions

    chosen = resolve_recipe(recipe) if recipe is not None else None
    with ProgressView(json_mode=json_output) as view:
        spending = terminal_spending(max_cost=max_cost, yes=yes, quiet=json_output, pause=view.paused)
        yield RetakeOptions(recipe=chosen, spending=spending), view


def film_words(unchanged: bool, loudness_lufs: float | None) -> str:
    """How a film was cut, in words: unchanged, or cut again with its sound as measured."""
    if unchanged:
        return "unchanged"
    sound = f"{loudness_lufs:.1f} LUFS" if loudness_lufs is not None else "no voice or music"
    return f"cut again ({sound})"


def _change_line(change: ShotChange) -> str:
    if change.how == "failed":
        return f"[bold red]shot {change.shot}: no new take[/] ({escape(change.error or '')})"
    if change.how in ("locked", "unlocked"):
        return f"shot {change.shot} {change.how}" + (f" (take {change.current})" if change.current else "")
    facts = [
        f"seed {change.seed}" if change.seed is not None else "",
        f"${change.cost_usd:.2f}" if change.cost_usd else "",
    ]
    detail = ", ".join(fact for fact in facts if fact)
    where = "now current" if change.take == change.current else f"take {change.current} stays current"
    return f"shot {change.shot}: take {change.take} {change.how}{f' ({detail})' if detail else ''}, {where}"


def _print(report: TakesReport, json_output: bool) -> None:
    """Print what changed, then fail (exit 8) if a take could not be made."""
    from tale_cli.errors import ShotsFailedError

    if json_output:
        print_json(report.to_json())
    else:
        out = console()
        for change in report.changes:
            out.print(_change_line(change))
        if report.film is not None:
            out.print(f"[green]film[/] {escape(str(report.film))} {film_words(report.unchanged, report.loudness_lufs)}")
        if report.final_film is not None:
            out.print(f"[green]final film[/] {escape(str(report.final_film))}")
        for note in report.notes:
            out.print(escape(note))
        if report.review is not None:
            out.print(f"review page {escape(str(report.review))}")
    if report.failed:
        first = report.failed[0]
        raise ShotsFailedError(
            f"{len(report.failed)} of {len(report.changes)} retakes failed (shot {first.shot}: {first.error})",
            hint="each shot keeps the take it had; run the command again to retry",
        )
