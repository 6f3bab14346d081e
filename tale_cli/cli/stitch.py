"""`tale stitch`: join a run folder's shots, or any video clips, into one film."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tale_cli.cli.common import console, escape, print_json, run


def stitch(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_DIR|CLIPS", help="A run folder (plan.json + shots/), or video clips in the order they play."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The film to write (default: RUN_DIR/film.mp4, or ./film.mp4).")
    ] = None,
    burn_subtitles: Annotated[
        bool, typer.Option("--burn-subtitles", help="Draw the narration into the picture instead of a subtitle track.")
    ] = False,
    transition: Annotated[
        str | None,
        typer.Option("--transition", metavar="cut|fade[:SECONDS]", help="Crossfade between clips (fade is 0.5 s)."),
    ] = None,
    audio: Annotated[
        Path | None,
        typer.Option("--music", "--audio", help="Music mixed under the clips' own sound (and under the voice)."),
    ] = None,
    voice_dir: Annotated[
        Path | None,
        typer.Option(
            "--voice-dir",
            help="Recordings to use as the voice: shot-03.wav (and shot-03-2.wav…) play in their shot, "
            "any other file from the film's start. Replaces a run folder's own voice track.",
        ),
    ] = None,
    no_voice: Annotated[
        bool, typer.Option("--no-voice", help="Leave out the run folder's voice track (voice/track.wav).")
    ] = False,
    loudness: Annotated[
        float | None,
        typer.Option("--loudness", min=-31, max=-9, help="Loudness of a film with a voice track, in LUFS [-14]."),
    ] = None,
    audio_volume: Annotated[
        float | None, typer.Option("--audio-volume", help="Clips only: loudness of the --music bed (1 = as is) [0.3].")
    ] = None,
    width: Annotated[int | None, typer.Option("--width", help="Film width (default: the plan's, or 1280).")] = None,
    height: Annotated[int | None, typer.Option("--height", help="Film height (default: the plan's, or 720).")] = None,
    fps: Annotated[int | None, typer.Option("--fps", help="Frames per second (default: the plan's, or 24).")] = None,
    c2pa: Annotated[
        bool | None,
        typer.Option("--c2pa/--no-c2pa", help="A run's film: sign its Content Credentials or not [as it was]."),
    ] = None,
    watermark: Annotated[
        str | None,
        typer.Option(
            "--watermark", help="A run's film: a visible mark, TEXT|IMAGE[:POSITION[:OPACITY]], or none [as it was]."
        ),
    ] = None,
    invisible_watermark: Annotated[
        str | None,
        typer.Option("--invisible-watermark", help="A run's film: an invisible mark's text, or none [as it was]."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="If another command is writing the run folder, exit (code 13) instead of waiting."
        ),
    ] = False,
) -> None:
    """Join clips into one film: same size and fps, subtitles, fades, a music bed."""

    def action() -> tuple[Any, Any]:
        from tale_cli.errors import InputError

        if len(inputs) == 1 and inputs[0].is_dir():
            from tale_cli.pipeline.restitch import FilmChanges, stitch_run

            if width or height or fps:
                raise InputError(
                    "a run's film has its plan's size and frame rate",
                    hint="change `aspect`/`resolution` in plan.json and `tale render` it, or stitch the clips themselves",
                )
            if audio_volume is not None:
                raise InputError(
                    "--audio-volume is for clips; a run's music sits at its recipe's [music] level under the voice",
                    hint="set `level_lu` under [music] in the recipe",
                )
            no_music = audio is not None and str(audio).lower() == "none"
            changes = FilmChanges(
                transition=transition,
                burn_subtitles=True if burn_subtitles else None,
                music=None if no_music else audio,
                no_music=no_music,
                no_voice=no_voice,
                voice_dir=voice_dir,
                loudness_lufs=loudness,
                c2pa=c2pa,
                watermark=None if watermark is None or watermark.lower() == "none" else watermark,
                no_watermark=watermark is not None and watermark.lower() == "none",
                invisible_watermark=None
                if invisible_watermark is None or invisible_watermark.lower() == "none"
                else invisible_watermark,
                no_invisible_watermark=invisible_watermark is not None and invisible_watermark.lower() == "none",
            )
            quiet = console(stderr=True)
            report = stitch_run(
                inputs[0],
                changes,
                out=out,
                wait=not no_wait,
                emit=lambda event: quiet.print(f"[dim]{escape(event.detail)}[/]") if event.kind == "message" else None,
            )
            return report, None
        # Clips, not a run: a plain stitch, with the voice and music the flags give.
        if c2pa is not None or watermark is not None or invisible_watermark is not None:
            raise InputError(
                "--c2pa, --watermark and --invisible-watermark are for a run's film",
                hint="stitch the run folder, or `tale render` the clips' plan",
            )
        from tale_cli.pipeline.restitch import ClipsStitch, stitch_clips

        return stitch_clips(
            inputs,
            ClipsStitch(
                out=out,
                width=width,
                height=height,
                fps=fps,
                burn_subtitles=burn_subtitles,
                transition=transition,
                music=audio,
                music_volume=audio_volume,
                voice_dir=voice_dir,
                no_voice=no_voice,
                loudness_lufs=loudness,
            ),
        )

    result, options = run(action)
    if options is None:
        _print_run(result, json_output)
        return
    if json_output:
        print_json(
            {
                "film": str(result.output),
                "srt": str(result.srt) if result.srt else None,
                "duration_s": round(result.duration_s, 3),
                "clips": result.clips,
                "width": options.width,
                "height": options.height,
                "fps": options.fps,
                "fast_path": result.fast_path,
                "seconds": round(result.seconds, 3),
                "run": False,
            }
        )
        return
    how = "joined by stream copy" if result.fast_path else "re-encoded"
    captions = f", subtitles {escape(str(result.srt))}" if result.srt else ""
    console().print(
        f"[green]film[/] {escape(str(result.output))}: {result.duration_s:.2f} s from {result.clips} "
        f"clip{'s' if result.clips != 1 else ''}, "
        f"{options.width}x{options.height} {options.fps} fps, {how} in {result.seconds:.1f} s{captions} "
        "(clips, not a run: no plan, voice track or review page)",
        soft_wrap=True,
    )


def _print_run(report: Any, json_output: bool) -> None:
    from tale_cli.cli.takes import film_words

    film = report.film
    if json_output:
        print_json(
            {
                "film": str(report.output),
                "srt": str(report.srt) if report.srt else None,
                "duration_s": round(film.duration_s, 3),
                "unchanged": film.unchanged,
                "loudness_lufs": film.loudness_lufs,
                "fast_path": film.fast_path,
                "seconds": round(film.seconds, 3),
                "review": str(report.review) if report.review else None,
                "width": report.size[0],
                "height": report.size[1],
                "fps": report.size[2],
                "clips": report.clips,
                "run": True,
            }
        )
        return
    captions = f", subtitles {escape(str(report.srt))}" if report.srt else ""
    console().print(
        f"[green]film[/] {escape(str(report.output))}: {film.duration_s:.2f} s, "
        f"{film_words(film.unchanged, film.loudness_lufs)}{captions}",
        soft_wrap=True,
    )
