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
        float, typer.Option("--audio-volume", help="Loudness of the --audio music (1 = as is).")
    ] = 0.3,
    width: Annotated[int | None, typer.Option("--width", help="Film width (default: the plan's, or 1280).")] = None,
    height: Annotated[int | None, typer.Option("--height", help="Film height (default: the plan's, or 720).")] = None,
    fps: Annotated[int | None, typer.Option("--fps", help="Frames per second (default: the plan's, or 24).")] = None,
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
        import tempfile
        from contextlib import AbstractContextManager, nullcontext

        from tale_cli.errors import InputError
        from tale_cli.lock import run_folder_lock
        from tale_cli.media import probe_many
        from tale_cli.mix import DEFAULT_LOUDNESS_LUFS, MixOptions, mix_film
        from tale_cli.runfolder import RunFolder
        from tale_cli.stitch import StitchOptions, parse_transition, resolve_inputs
        from tale_cli.stitch import stitch as stitch_clips
        from tale_cli.tracks import track_from_dir
        from tale_cli.voice import voice_track

        # A run folder is held while its shots are read and its film written, as a render holds it.
        held: AbstractContextManager[None] = nullcontext()
        if len(inputs) == 1 and inputs[0].is_dir():
            held = run_folder_lock(
                RunFolder(inputs[0]),
                "stitching",
                wait=not no_wait,
                on_wait=lambda text: console(stderr=True).print(f"[dim]{escape(text)}[/]"),
            )
        with held, tempfile.TemporaryDirectory(prefix="tale-voice-") as scratch:
            resolved = resolve_inputs(inputs, output=out)
            if burn_subtitles and resolved.drawn:
                raise InputError(
                    f"the preview drew shot {resolved.drawn[0]}'s narration into its picture (and "
                    f"{len(resolved.drawn) - 1} more shots'); burned subtitles would show it twice",
                    hint="`tale render PLAN --burn-subtitles` draws the animatic without it (free) and burns them",
                )
            if no_voice and voice_dir is not None:
                raise InputError("--voice-dir and --no-voice contradict each other", hint="give one of them")
            # A run folder's voice is mixed in again, with the bed ducked under it instead of laid under the clips.
            track = voice_track(resolved.run_dir) if resolved.run_dir is not None and not no_voice else None
            cues = resolved.cues if track is not None else None
            if voice_dir is not None:
                durations = [info.duration_s for info in probe_many(resolved.clips)]
                wav = Path(scratch) / "voice.wav"
                track = track_from_dir(voice_dir, durations, parse_transition(transition), wav)
                cues = None  # the recordings' words are not known: one cue per shot, from the plan
            options = StitchOptions(
                width=width or resolved.width or 1280,
                height=height or resolved.height or 720,
                fps=fps or resolved.fps or 24,
                captions=resolved.captions,
                cues=cues,
                burn_subtitles=burn_subtitles,
                transition=transition,
                audio=audio if track is None else None,
                audio_volume=audio_volume,
            )
            result = stitch_clips(resolved.clips, resolved.output, options)
            if track is not None:
                target = loudness if loudness is not None else DEFAULT_LOUDNESS_LUFS
                mix_film(resolved.output, resolved.output, MixOptions(voice=track, music=audio, loudness_lufs=target))
            if resolved.run_dir is not None:
                from tale_cli.review import write_review

                write_review(resolved.run_dir)
            return result, options

    result, options = run(action)
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
            }
        )
        return
    how = "joined by stream copy" if result.fast_path else "re-encoded"
    captions = f", subtitles {escape(str(result.srt))}" if result.srt else ""
    console().print(
        f"[green]film[/] {escape(str(result.output))}: {result.duration_s:.2f} s from {result.clips} clips, "
        f"{options.width}x{options.height} {options.fps} fps, {how} in {result.seconds:.1f} s{captions}",
        soft_wrap=True,
    )
