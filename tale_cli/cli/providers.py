"""`tale providers`: every provider of the registry, what it needs, and whether it is ready here."""

from __future__ import annotations

import typer

from tale_cli.cli.common import console, escape, print_json, run


def providers(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the providers: roles, models, local or not, how priced, what each needs and whether it is ready."""

    def action() -> None:
        from tale_cli.keys.readiness import status

        report = status()
        if json_output:
            print_json({"providers": [p.to_json() for p in report]})
            return
        from rich.table import Table

        table = Table(title="providers", title_justify="left")
        for column in ("name", "roles", "runs", "priced by", "needs", "ready", "models"):
            table.add_column(column)
        for p in report:
            needs = [f"key {p.needs.key}" if p.needs.key else "", f"[{p.needs.extra}]" if p.needs.extra else ""]
            needs.append("weights" if p.needs.weights else "")
            runs = "here" if p.local else p.locality
            ready = "[green]yes[/]" if p.ready else "[yellow]no[/]: " + escape("; ".join(p.missing))
            models = ", ".join(p.models[:3]) + (f" (+{len(p.models) - 3})" if len(p.models) > 3 else "")
            table.add_row(
                p.name, ", ".join(p.roles), runs, p.priced_by, escape(" ".join(n for n in needs if n) or "-"), ready,
                escape(models),
            )  # fmt: skip
        console().print(table)

    run(action)
