"""`tale batch`: render many stories at once, here or on a Ray cluster, and summarise every film."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tale_cli.cli.common import console, escape, print_json, run


def batch(
    sources: list[Path] = typer.Argument(..., help="A folder of stories (*.md, *.txt) and/or story or plan files."),
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe name or TOML file [default: preview]."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output root; each film goes to OUT/<story-slug>."),
    ray: str | None = typer.Option(
        None, "--ray", help="Run shots on Ray: auto (RAY_ADDRESS or this machine's head), an ADDRESS, or local."
    ),
    devices: str | None = typer.Option(
        None,
        "--devices",
        help="One worker per GPU: all, or 0,1,… ; cpu entries add CPU workers (one process each here; Ray actors with --ray).",
    ),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, max=256, help="Shots rendered at once."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Render every story in a folder (or the files given): films in parallel, shots across all workers."""

    def action() -> None:

        from tale_cli.cli.cost_print import print_spend_check
        from tale_cli.cli.settings import resolve_out, resolve_recipe
        from tale_cli.errors import ExitCode, KeysError, ShotsFailedError
        from tale_cli.executors import open_executor
        from tale_cli.pipeline.batch import BatchOptions, find_stories, run_batch

        stories = find_stories(sources)
        chosen = resolve_recipe(recipe)
        options = BatchOptions(
            recipe=chosen,
            out_root=resolve_out(out),
            jobs=jobs,
            # Each film is held to the recipe's budget; a batch runs unattended, so it never stops to ask.
            show_spend=lambda check: print_spend_check(check, stderr=json_output),
        )
        # The recipe's own `[video] devices` hold unless --devices says otherwise, as for `tale render`.
        with open_executor(chosen, ray=ray, devices=devices or chosen.video.devices, jobs=jobs) as executor:
            view = BatchView(json_mode=json_output, total=len(stories))
            view.say(f"{len(stories)} stories · {executor.workers} workers ({type(executor).__name__})")
            options.executor = executor
            report = run_batch(stories, options, view)
        if json_output:
            print_json(report.to_json())
        else:
            _print_summary(report)
        if report.failed:
            first = report.failed[0]
            message = f"{len(report.failed)} of {len(report.films)} films failed ({first.title}: {first.error})"
            if report.exit_code == ExitCode.KEYS:
                raise KeysError(message, hint="check the key with `tale keys`, then run the same command again")
            raise ShotsFailedError(message, hint="run the same command again to finish only what is missing")

    run(action)


class BatchView:
    """One line per film as it starts and ends (on stderr with --json, so stdout stays one JSON object)."""

    def __init__(self, *, json_mode: bool, total: int) -> None:
        import threading

        self.json_mode = json_mode
        self.total = total
        self.finished = 0
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        console(stderr=self.json_mode).print(f"[dim]{escape(text)}[/]")

    def __call__(self, item: Any) -> None:
        if item.kind != "finished" or item.result is None:
            return
        film = item.result
        with self._lock:
            self.finished += 1
            mark = "[green]done[/]" if film.status == "done" else "[bold red]failed[/]"
            detail = f" — {escape(film.error)}" if film.error else ""
            console(stderr=self.json_mode).print(
                f"[{self.finished}/{self.total}] {mark} {escape(film.title)}: "
                f"{film.rendered} rendered, {film.cached} cached, {film.failed} failed "
                f"in {film.seconds:.1f} s{detail}"
            )


def _short(path: Path) -> str:
    """A path relative to the working folder when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_summary(report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"batch · {report.seconds:.1f} s · {report.workers} workers", title_justify="left")
    table.add_column("film")
    table.add_column("status")
    table.add_column("done", justify="right")
    table.add_column("cached", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("time", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("output / error", overflow="fold")
    for film in report.films:
        status = "[green]done[/]" if film.status == "done" else "[bold red]failed[/]"
        where = _short(film.film) if film.film else (film.error or "")
        table.add_row(
            escape(film.title),
            status,
            str(film.rendered),
            str(film.cached),
            str(film.failed),
            f"{film.seconds:.1f} s",
            f"${film.cost_usd:.2f}",
            escape(where),
        )
    out = console()
    out.print(table)
    done = len(report.films) - len(report.failed)
    out.print(f"{done} of {len(report.films)} films done · total cost ${report.cost_usd:.2f}")
    if report.index is not None:
        out.print(f"index {escape(_short(report.index))}")
