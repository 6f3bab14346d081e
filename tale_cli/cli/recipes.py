"""`tale recipes list|show`: the ways to render, and every value of one."""

from __future__ import annotations

import typer

from tale_cli.cli.common import console, escape, print_json, run

app = typer.Typer(help="List recipes or show one.", no_args_is_help=True)


@app.command("list")
def list_recipes(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the recipes that ship with Tale."""

    def action() -> None:
        from tale_cli.config import load_recipe, recipe_names
        from tale_cli.keys.needs import recipe_needs

        recipes = [load_recipe(name) for name in recipe_names()]
        needs = {r.name: recipe_needs(r) for r in recipes}
        if json_output:
            print_json(
                [
                    {
                        "name": r.name,
                        "description": r.description,
                        "planner": r.planner.backend,
                        "image": r.image.backend,
                        "video": r.video.backend,
                        "model": r.video.model,
                        "private": r.private,
                        "needs": needs[r.name].to_json(),
                    }
                    for r in recipes
                ]
            )
            return
        from rich.table import Table

        table = Table(title="recipes", title_justify="left")
        for column in ("name", "video", "model", "private", "needs", "ready", "description"):
            table.add_column(column)
        for r in recipes:
            need = needs[r.name]
            wanted = [f"key {name}" for name in need.keys] + [f"extra {name}" for name in need.extras]
            lacking = [f"key {name}" for name in need.missing_keys] + [f"extra {n}" for n in need.missing_extras]
            table.add_row(
                r.name,
                r.video.backend,
                r.video.model or "-",
                "yes" if r.private else "",
                escape(", ".join(wanted) or "-"),
                "yes" if need.ready else "[yellow]no[/]: " + escape(", ".join(lacking)),
                escape(r.description),
            )
        console().print(table)

    run(action)


@app.command("show")
def show_recipe(
    name: str = typer.Argument(..., help="Recipe name or TOML file."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show every setting of a recipe, defaults included."""

    def action() -> None:
        from tale_cli.config import load_recipe, recipe_path

        recipe = load_recipe(name)
        data = recipe.model_dump(mode="json")
        if json_output:
            print_json({"file": str(recipe_path(name)), "recipe": data})
            return
        out = console()
        out.print(f"[bold]{escape(recipe.name)}[/] · {escape(str(recipe_path(name)))}")
        for key, value in data.items():
            if isinstance(value, dict):
                for sub, sub_value in value.items():
                    out.print(f"  {key}.{sub} = {escape(repr(sub_value))}")
            else:
                out.print(f"  {key} = {escape(repr(value))}")

    run(action)
