"""`tale stitch`: a run's film cut again through the one cut (tale_cli.run.cut), with any of its settings changed —
transition, burned subtitles, music bed, voice, loudness, kept in the film's record so the next retake or pick cuts the
same way; or loose clips joined into one film (no run)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.errors import InputError
from tale_cli.events import Event, EventSink, ignore_events
from tale_cli.run.cut import CutResult, CutSettings, cut, drawn_words
from tale_cli.run.open import holding
from tale_cli.run.recipe import cut_record

if TYPE_CHECKING:
    from tale_cli.film.stitch import StitchOptions, StitchResult


@dataclass(frozen=True)
class FilmChanges:
    """What `tale stitch RUN_DIR` changes of the film; None keeps the film's own setting."""

    transition: str | None = None
    burn_subtitles: bool | None = None
    music: Path | None = None
    no_music: bool = False
    no_voice: bool = False
    voice_dir: Path | None = None
    loudness_lufs: float | None = None
    c2pa: bool | None = None  # sign (True) or not (False, --no-c2pa)
    watermark: str | None = None
    no_watermark: bool = False
    invisible_watermark: str | None = None
    no_invisible_watermark: bool = False


@dataclass
class StitchReport:
    run_dir: Path
    film: CutResult
    output: Path  # where the film was asked for: the run's film.mp4, or a copy of it (--out)
    srt: Path | None
    review: Path | None
    size: tuple[int, int, int]  # width, height, fps
    clips: int


def stitch_run(
    run_dir: Path,
    changes: FilmChanges = FilmChanges(),
    *,
    out: Path | None = None,
    wait: bool = True,
    emit: EventSink = ignore_events,
) -> StitchReport:
    """Cut the run's film again, changed as `changes` say, the run folder held; copy it to `out` when given."""
    from tale_cli.config import MusicConfig, VoiceConfig
    from tale_cli.pipeline.film import check_marks
    from tale_cli.pipeline.retake import film_options
    from tale_cli.pipeline.review import write_review
    from tale_cli.run.open import open_run, run_folder

    if changes.no_voice and changes.voice_dir is not None:
        raise InputError("--voice-dir and --no-voice contradict each other", hint="give one of them")
    if changes.music is not None and changes.no_music:
        raise InputError("--music FILE and --music none contradict each other", hint="give one of them")
    if changes.music is not None and not changes.music.is_file():
        raise InputError(f"music file not found: {changes.music}", hint="give an audio file, or --music none")
    if changes.voice_dir is not None and not changes.voice_dir.is_dir():
        raise InputError(f"{changes.voice_dir} is not a folder of recordings")
    from tale_cli.story.plan import load_plan

    folder = run_folder(run_dir)
    say = lambda text: emit(Event("message", detail=text))  # noqa: E731
    # Held before anything is read: a folder another command is writing is waited for (or refused with wait=False).
    with holding(folder, "stitching", wait=wait, say=say, create=False) as manifest:
        open_run(run_dir)  # a run folder, with its plan
        plan = load_plan(folder.plan)
        options = film_options(manifest, None)
        recipe = options.recipe
        film = cut_record(manifest.data)
        recorded_dir = Path(film.voice_dir) if film is not None and film.voice_dir else None
        settings = CutSettings(
            burn_subtitles=options.burn_subtitles if changes.burn_subtitles is None else changes.burn_subtitles,
            transition=options.transition if changes.transition is None else _transition(changes.transition),
            music=None if changes.no_music else (changes.music or options.audio),
            voice_dir=changes.voice_dir or (None if changes.no_voice else recorded_dir),
            credentials=options.c2pa if changes.c2pa is None else changes.c2pa,
            watermark=None if changes.no_watermark else (changes.watermark or options.watermark),
            invisible_watermark=None
            if changes.no_invisible_watermark
            else (changes.invisible_watermark or options.invisible_watermark),
        )
        check_marks(
            plan, replace(options, watermark=settings.watermark, invisible_watermark=settings.invisible_watermark)
        )
        if settings.burn_subtitles and drawn_words(plan, manifest, CutSettings(burn_subtitles=options.burn_subtitles)):
            drawn = [s.index for s in plan.shots if any(said.text.strip() for said in s.speech)]
            raise InputError(
                f"the preview drew shot {drawn[0]}'s words into its picture (and {len(drawn) - 1} more shots'); "
                "burned subtitles would show it twice",
                hint="`tale render PLAN --burn-subtitles` draws the animatic without it (free) and burns them",
            )
        update: dict[str, object] = {}
        never_voiced = manifest.data.voice is None and (film is None or film.voice is None)
        if changes.no_voice or never_voiced:
            # A run folder put together by hand (plan.json and clips) has no voice of its own to lay.
            update["voice"] = VoiceConfig.model_validate({**recipe.voice.model_dump(), "backend": "none"})
        if changes.no_music:
            update["music"] = MusicConfig.model_validate({**recipe.music.model_dump(), "source": "none"})
        elif changes.music is not None:
            update["music"] = MusicConfig.model_validate({**recipe.music.model_dump(), "source": str(changes.music)})
        if changes.loudness_lufs is not None:
            update["loudness_lufs"] = changes.loudness_lufs
        if update:
            recipe = recipe.model_copy(update=update)
        elsewhere = out if out is not None and out.resolve() != folder.film.resolve() else None
        result = cut(plan, folder, manifest, recipe, settings, say=say, output=elsewhere)
        if result.unchanged:
            say("film unchanged")
        review = write_review(folder.root) if elsewhere is None else None
    return StitchReport(
        run_dir=folder.root,
        film=result,
        output=result.film,
        srt=result.srt,
        review=review,
        size=(plan.width, plan.height, plan.fps),
        clips=len(plan.shots),
    )


def _transition(spec: str) -> str | None:
    """`cut` is no transition; anything else as given (checked by the stitch)."""
    return None if spec.strip().lower() == "cut" else spec


@dataclass(frozen=True)
class ClipsStitch:
    """How `tale stitch CLIPS…` joins loose clips (not a run): size, fps, subtitles, transition, music, voice."""

    out: Path | None = None
    width: int | None = None
    height: int | None = None
    fps: int | None = None
    burn_subtitles: bool = False
    transition: str | None = None
    music: Path | None = None
    music_volume: float | None = None
    voice_dir: Path | None = None
    no_voice: bool = False
    loudness_lufs: float | None = None


def stitch_clips(clips: list[Path], how: ClipsStitch) -> tuple[StitchResult, StitchOptions]:
    """Join loose clips into one film (no plan, voice track or review page): each clip fitted to the size and fps,
    the music bed at its volume under the clips' own sound, recordings from `voice_dir` mixed to the loudness."""
    import tempfile

    from tale_cli.film.mix import DEFAULT_LOUDNESS_LUFS, MixOptions, mix_film
    from tale_cli.film.stitch import DEFAULT_BED_VOLUME, StitchOptions, parse_transition, resolve_inputs, stitch
    from tale_cli.film.tracks import track_from_dir
    from tale_cli.media.ffmpeg import probe_many

    with tempfile.TemporaryDirectory(prefix="tale-voice-") as scratch:
        resolved = resolve_inputs(clips, output=how.out)
        if how.no_voice and how.voice_dir is not None:
            raise InputError("--voice-dir and --no-voice contradict each other", hint="give one of them")
        track = None
        if how.voice_dir is not None:
            durations = [info.duration_s for info in probe_many(resolved.clips)]
            track = track_from_dir(how.voice_dir, durations, parse_transition(how.transition), Path(scratch) / "v.wav")
        options = StitchOptions(
            width=how.width or 1280,
            height=how.height or 720,
            fps=how.fps or 24,
            captions=None,
            burn_subtitles=how.burn_subtitles,
            transition=how.transition,
            audio=how.music if track is None else None,
            audio_volume=how.music_volume if how.music_volume is not None else DEFAULT_BED_VOLUME,
        )
        result = stitch(resolved.clips, resolved.output, options)
        if track is not None:
            target = how.loudness_lufs if how.loudness_lufs is not None else DEFAULT_LOUDNESS_LUFS
            mix_film(resolved.output, resolved.output, MixOptions(voice=track, music=how.music, loudness_lufs=target))
        return result, options


__all__ = ["ClipsStitch", "FilmChanges", "StitchReport", "stitch_clips", "stitch_run"]
