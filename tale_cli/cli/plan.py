"""`tale plan`: story -> validated plan.json and a storyboard table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tale_cli.cli.common import console, escape, print_json, run
from tale_cli.literals import Aspect, Resolution

if TYPE_CHECKING:
    from tale_cli.story.plan import Plan


def plan(
    story: Path = typer.Argument(..., help="The story, a Markdown file."),
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe name or TOML file [default: preview]."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output root; plan.json goes to OUT/<story-slug>/."),
    planner: str | None = typer.Option(None, "--planner", help="Override the recipe's planner."),
    aspect: Aspect | None = typer.Option(None, "--aspect", help="Film shape, over the story's and the recipe's."),
    resolution: Resolution | None = typer.Option(
        None, "--resolution", help="Film resolution (the frame's short side), over the story's and the recipe's."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    private: bool = typer.Option(False, "--private", help="Only a local planner; the run folder is owner-only."),
    seal: bool | None = typer.Option(
        None,
        "--seal/--no-seal",
        help="Keep plan.json encrypted at rest (see `tale render --seal`).",
        show_default=False,
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="If another command is writing the run folder, exit (code 13) instead of waiting."
    ),
) -> None:
    """Split a story into characters and shots; write a hand-editable plan.json."""

    def action() -> None:
        from tale_cli.cli.settings import resolve_out, resolve_recipe, say_shape
        from tale_cli.pipeline import write_plan

        chosen = resolve_recipe(recipe)
        say_shape(story, chosen, aspect=aspect, resolution=resolution)
        result = write_plan(
            story,
            recipe=chosen,
            out_root=resolve_out(out),
            planner=planner,
            private=private,
            seal=seal,
            wait=not no_wait,
            on_wait=lambda text: console(stderr=True).print(f"[dim]{escape(text)}[/]"),
            aspect=aspect,
            resolution=resolution,
        )
        if json_output:
            print_json({"plan_file": str(result.path), "plan": result.plan.model_dump(mode="json")})
            return
        out_console = console()
        out_console.print(plan_table(result.plan))
        out_console.print(f"[green]plan[/] {escape(str(result.path))} ({result.how})")

    run(action)


def plan_table(plan: Plan) -> Any:
    from rich.table import Table

    names = {c.id: c.name for c in plan.characters}
    title = f"{plan.title} · {len(plan.shots)} shots · {plan.duration_s:g} s · {plan.aspect} {plan.width}×{plan.height}"
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("s", justify="right")
    table.add_column("camera")
    table.add_column("characters")
    things = {e.id: e.name for e in plan.entities}
    if things:
        table.add_column("entities")
    table.add_column("speech", overflow="fold", max_width=60)
    for shot in plan.shots:
        said = [
            item.text.strip() if item.narrated else f"{names.get(item.who, item.who)}: “{item.text.strip()}”"
            for item in shot.speech
            if item.text.strip()
        ]
        on_screen = [", ".join(things.get(e, e) for e in shot.entities)] if things else []
        table.add_row(
            str(shot.index),
            f"{shot.duration_s:g}",
            shot.camera,
            ", ".join(names.get(c, c) for c in shot.characters),
            *on_screen,
            escape("\n".join(said)),
        )
    return table
