"""`tale doctor`: what this machine can do — ffmpeg, fonts, Python, GPU, installed extras."""

from __future__ import annotations

import typer

from tale_cli.cli.common import console, escape, print_json, run


def doctor(
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    ask_providers: bool = typer.Option(
        False,
        "--check",
        help="Instead: ask the providers about every model the recipes name (`tale providers --check`).",
    ),
) -> None:
    """Check ffmpeg, fonts, Python, GPU and which extras are installed."""

    def action() -> None:
        if ask_providers:
            from tale_cli.cli.providers import check_recipe_models

            check_recipe_models([], json_output)
            return
        from tale_cli.pipeline.doctor import diagnose

        checks = diagnose()
        if json_output:
            print_json({"checks": [c.to_json() for c in checks], "ok": all(c.ok for c in checks if c.required)})
        else:
            from rich.table import Table

            table = Table(title="tale doctor", title_justify="left")
            for column in ("check", "status", "detail"):
                table.add_column(column)
            for check in checks:
                mark = "[green]ok[/]" if check.ok else ("[red]missing[/]" if check.required else "[yellow]no[/]")
                table.add_row(check.name, mark, escape(check.detail))
            console().print(table)
        if not all(c.ok for c in checks if c.required):
            raise typer.Exit(1)

    run(action)
