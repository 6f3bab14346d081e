"""`tale providers`: every provider of the registry, what it needs, and whether it is ready here."""

from __future__ import annotations

import typer

from tale_cli.cli.common import console, escape, print_json, run


def providers(
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Ask the providers you have keys for about every model the recipes name (exit 5 if "
        "one is retired or unknown to its provider).",
    ),
    recipe: list[str] = typer.Option([], "--recipe", "-r", help="With --check: a recipe (name or file) to check too."),
) -> None:
    """List the providers: roles, models, local or not, how priced, what each needs and whether it is ready."""

    def action() -> None:
        if check:
            check_recipe_models(recipe, json_output)
            return
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


def check_recipe_models(extra: list[str], json_output: bool) -> None:
    """`--check`: every model the shipped recipes (and `extra` ones) name, as the providers and registry know it."""
    from tale_cli.config import load_recipe, recipe_names
    from tale_cli.errors import RecipeError
    from tale_cli.pipeline.model_check import check_models

    recipes = [load_recipe(name) for name in recipe_names()] + [load_recipe(name) for name in extra]
    report = check_models(recipes)
    if json_output:
        print_json(report.to_json())
    else:
        out = console()
        for model in report.models:
            when = f" ({model.retires}, {model.source})" if model.retires else ""
            colour = {"retired": "red", "unknown": "red", "retiring": "yellow"}.get(model.status, "green")
            out.print(
                f"[{colour}]{model.status}[/] {escape(model.provider)} {escape(model.model)}{escape(when)} — "
                f"{escape(', '.join(model.recipes))}",
                soft_wrap=True,
            )
        for provider, why in sorted(report.not_asked.items()):
            out.print(f"[dim]not asked: {escape(provider)}: {escape(why)}[/]", soft_wrap=True)
    if report.failing:
        first = report.failing[0]
        raise RecipeError(
            f"{len(report.failing)} model(s) the recipes name are retired or not served "
            f"({first.provider} {first.model}: {first.status})",
            hint="`tale providers --check` lists them; change the recipes' model",
        )
