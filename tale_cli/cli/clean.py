"""`tale clean RUN_DIR`: remove the clips a run folder keeps but no current shot uses; say how much that frees."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.run.clean import CleanReport


def clean(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder written by `tale render`.")],
    keep_current: Annotated[
        bool,
        typer.Option(
            "--keep-current/--all",
            help="Keep the clips the current shots use (the default); --all removes those too "
            "(film.mp4 stays, and the next render pays for those shots again).",
        ),
    ] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="If another command is writing the run folder, exit (code 13) instead of waiting."
        ),
    ] = False,
) -> None:
    """Reclaim space: remove the clips no current shot uses, and say how much that frees.

    A render keeps every clip it made in shots/by-hash/, so undoing an edit costs nothing. This removes those clips
    and reference pictures that no shot or character of the current plan uses, the takes in shots/takes/ that are
    not current, spoken clips the voice track does not play, and shots/shot-NN.mp4 of shots the plan no longer has.
    Plan, manifest, job journal, audit log, film.mp4, current references and files of a render
    in progress stay.
    """

    def action() -> CleanReport:
        from tale_cli.run.clean import clean_run

        # A render writing the folder keeps its clips: cleaning waits for it (or, with --no-wait, says so and exits).
        return clean_run(
            run_dir,
            keep_current=keep_current,
            dry_run=dry_run,
            wait=not no_wait,
            say=lambda text: console(stderr=True).print(f"[dim]{escape(text)}[/]"),
        )

    report = run(action)
    if json_output:
        print_json(report.to_json())
        return
    out = console()
    if dry_run:
        for path in report.removed:
            out.print(f"[dim]would remove[/] {escape(str(path))}")
    verb, freed = ("would remove", "would free") if dry_run else ("removed", "freed")
    out.print(
        f"{verb} {len(report.removed)} file(s), {freed} {report.bytes_freed} bytes ({report.bytes_freed / 1e6:.2f} MB); "
        f"kept {report.kept} clip(s) and picture(s) in use",
        soft_wrap=True,
    )
    if report.rerender_shots:
        shots = ", ".join(str(index) for index in report.rerender_shots)
        out.print(
            f"the current clips of shot(s) {shots} {'would go' if dry_run else 'went'}: the film stays, but the next "
            f"`tale render` renders them again, about ${report.rerender_usd:.2f}",
            soft_wrap=True,
        )
