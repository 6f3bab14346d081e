"""`tale voices`: the voices each voice backend offers (eSpeak's languages, the named voices of OpenAI and Gemini)."""

from __future__ import annotations

import typer

from tale_cli.cli.common import console, escape, print_json, run


def voices(
    backend: str | None = typer.Option(None, "--backend", "-b", help="Only this voice backend's voices."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the voices to give `--voice BACKEND:VOICE`, a recipe's [voice] voice or a character's voice."""

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
