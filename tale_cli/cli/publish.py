"""`tale publish`: a run's film (and subtitles, review page) to S3, Google Cloud Storage or a folder, with signed links."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.pipeline.publish import PublishResult


def publish(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `tale render`.")],
    to: Annotated[
        str, typer.Option("--to", help="s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or file:///DIR.", show_default=False)
    ],
    expires: Annotated[
        str, typer.Option("--expires", help="How long the signed links work: 7d (the most), 12h, 30m.")
    ] = "7d",
    what: Annotated[
        str, typer.Option("--what", help="What to hand over, comma-separated: film, srt, review.")
    ] = "film,srt",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Publish a private or sealed run all the same.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="If another command is writing the run folder, exit (code 13) instead of waiting."
        ),
    ] = False,
) -> None:
    """Upload the film (only what the destination does not hold already) and print a signed link to each file."""

    def action() -> PublishResult:
        from tale_cli.pipeline.publish import publish as publish_run

        return publish_run(
            run_dir,
            to,
            expires=expires,
            what=what,
            yes=yes,
            wait=not no_wait,
            on_wait=lambda text: console(stderr=True).print(f"[dim]{escape(text)}[/]"),
        )

    result: PublishResult = run(action)
    if json_output:
        print_json(result.to_json())
        return
    out = console()
    for item in result.files:
        state = "[green]sent[/]" if item.sent else "[dim]unchanged[/]"
        out.print(f"{state} {escape(item.name)} ({item.size:,} bytes)")
        out.print(escape(item.url), soft_wrap=True)
    sent = result.sent
    limit = "links do not expire (a local folder)" if result.expires_s is None else f"links work for {expires}"
    out.print(
        f"published to {escape(result.destination)}: {len(sent)} of {len(result.files)} file(s) sent, "
        f"{sum(item.size for item in sent):,} bytes; {limit}"
    )
