"""`tale export`: a run's cut as a timeline for an editor (OpenTimelineIO, FCP X XML, FCP 7 XML, EDL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.pipeline.export import ExportResult


def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `tale render`.")],
    fmt: Annotated[
        Literal["otio", "fcpxml", "premiere", "edl"],
        typer.Option(
            "--format",
            "-f",
            help="otio (OpenTimelineIO), fcpxml (Final Cut Pro), premiere (FCP 7 XML: Premiere, Resolve) or edl.",
        ),
    ] = "otio",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Timeline file (default: RUN_DIR/film.otio, .fcpxml, .xml or .edl)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="If another command is writing the run folder, exit (code 13) instead of waiting."
        ),
    ] = False,
) -> None:
    """Write the cut as an editorial timeline: shots at their cut points, voice and music, narration markers."""

    def action() -> ExportResult:
        from tale_cli.pipeline.export import export_timeline

        return export_timeline(
            run_dir,
            fmt=fmt,
            out=out,
            wait=not no_wait,
            on_wait=lambda text: console(stderr=True).print(f"[dim]{escape(text)}[/]"),
        )

    result: ExportResult = run(action)
    if json_output:
        print_json(result.to_json())
        return
    audio = f", {len(result.audio)} audio file(s)" if result.audio else ""
    console().print(
        f"[green]timeline[/] {escape(str(result.path))}: {result.clips} clip{'s' if result.clips != 1 else ''}, "
        f"{result.duration_s:g} s, {result.markers} marker{'s' if result.markers != 1 else ''}{audio}; "
        f"subtitles {escape(str(result.srt))}",
        soft_wrap=True,
    )
