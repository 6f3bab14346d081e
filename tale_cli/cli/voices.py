"""`tale voices`: the voices each voice backend offers (eSpeak's languages, the named voices of OpenAI, Gemini and
Runway); `tale voices design` and `clone`: a voice made at a provider for one character of a run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.pipeline.voices import VoiceMade

app = typer.Typer(
    help="The voices each voice backend offers; a character's own voice, designed or cloned.",
    invoke_without_command=True,
    no_args_is_help=False,
)

RunDir = Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder made by `tale plan` or `tale render`.")]
CharacterArg = Annotated[str, typer.Argument(metavar="CHARACTER", help="The character's id or name in plan.json.")]
MakerFlag = Annotated[
    str | None,
    typer.Option("--backend", "-b", help="Voice backend that makes it (default: the run's where it can, else runway)."),
]
RecipeFlag = Annotated[
    str | None, typer.Option("--recipe", "-r", help="Recipe (default: the run's), for its price book.")
]
MaxCost = Annotated[float | None, typer.Option("--max-cost", min=0, help="Refuse to pay more than this (USD).")]
NoWait = Annotated[
    bool, typer.Option("--no-wait", help="If another command is writing the run folder, exit (code 13) instead.")
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.callback()
def voices(
    context: typer.Context,
    backend: str | None = typer.Option(None, "--backend", "-b", help="Only this voice backend's voices."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the voices to give `--voice BACKEND:VOICE`, a recipe's [voice] voice or a character's voice."""
    if context.invoked_subcommand is not None:
        return

    def action() -> None:
        from tale_cli.film.voice import list_voices

        catalogues = list_voices(backend)
        if json_output:
            print_json({"backends": [catalogue.to_json() for catalogue in catalogues]})
            return
        from rich.table import Table

        for catalogue in catalogues:
            where = "offline" if catalogue.local else "cloud"
            title = f"{catalogue.backend} ({catalogue.model}, {where}): {len(catalogue.voices)} voices"
            table = Table(title=escape(title), title_justify="left")
            for column in ("voice", "languages", "description"):
                table.add_column(column)
            for voice in catalogue.voices:
                languages = "any" if voice.languages == ("*",) else ", ".join(voice.languages)
                table.add_row(escape(voice.name), escape(languages), escape(voice.description))
            console().print(table)

    run(action)


@app.command("design")
def design(
    run_dir: RunDir,
    character: CharacterArg,
    description: Annotated[str, typer.Argument(metavar="DESCRIPTION", help='e.g. "a gravelly old fisherman".')],
    backend: MakerFlag = None,
    recipe: RecipeFlag = None,
    max_cost: MaxCost = None,
    no_wait: NoWait = False,
    json_output: JsonOutput = False,
) -> None:
    """Design a voice for CHARACTER from DESCRIPTION; it becomes the character's voice in plan.json."""

    def action() -> VoiceMade:
        from tale_cli.cli.settings import resolve_recipe
        from tale_cli.pipeline.voices import design_voice

        return design_voice(
            run_dir, character, description, backend=backend, max_cost=max_cost, wait=not no_wait, say=_say,
            recipe=resolve_recipe(recipe) if recipe is not None else None,
        )  # fmt: skip

    _print(run(action), json_output)


@app.command("clone")
def clone(
    run_dir: RunDir,
    character: CharacterArg,
    sample: Annotated[Path, typer.Argument(metavar="SAMPLE", help="A recording of the voice to clone.")],
    consent: Annotated[
        Path | None,
        typer.Option("--consent", help="A recording of the voice's owner agreeing to its use (required)."),
    ] = None,
    backend: MakerFlag = None,
    recipe: RecipeFlag = None,
    max_cost: MaxCost = None,
    no_wait: NoWait = False,
    json_output: JsonOutput = False,
) -> None:
    """Clone the voice in SAMPLE for CHARACTER, with its owner's recorded consent; it becomes the character's voice."""

    def action() -> VoiceMade:
        from tale_cli.cli.settings import resolve_recipe
        from tale_cli.pipeline.voices import clone_voice

        return clone_voice(
            run_dir, character, sample, consent=consent, backend=backend, max_cost=max_cost, wait=not no_wait,
            say=_say, recipe=resolve_recipe(recipe) if recipe is not None else None,
        )  # fmt: skip

    _print(run(action), json_output)


def _say(text: str) -> None:
    console(stderr=True).print(escape(text))


def _print(made: VoiceMade, json_output: bool) -> None:
    if json_output:
        print_json(made.to_json())
        return
    paid = "found again, nothing paid" if made.found_again else (
        f"${made.cost_usd:.2f}" if made.cost_usd is not None else "not priced by the price book"
    )  # fmt: skip
    verb = "designed" if made.how == "design" else "cloned"
    console().print(
        f"{escape(made.name)}: voice {escape(made.voice)} {verb} with {made.backend} ({paid}); "
        f"kept in {escape(str(made.plan))} for the {made.backend} voice backend"
    )
