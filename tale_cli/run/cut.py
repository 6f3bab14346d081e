"""cut(): the one function that assembles a run's film — its current shots, the voice track, the music bed, the mix
to the recipe's loudness, the speech-timed subtitles, the `mix` and `film` records, the storyboard. A run rendered with
--draft has two films of one sound: film.draft.mp4 of its current takes (`draft_film`, `draft_mix`) and film.mp4 of
their finals, cut whenever every current take has one (`tale finalize` makes them).

Render, retake, pick, replace, lock and unlock, judge retakes and `tale stitch RUN_DIR` all cut through here, so every
command that changes a run leaves the film a fresh render would make. The cut is content-addressed: the film records
a digest of everything that makes it, and a cut whose digest and files are unchanged writes nothing. The film is
replaced only by one that passed its checks (length, and loudness where it has a voice or music); every file it is
made of is verified first, and one damaged is found again by its content, or laid again from its parts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.errors import OutputError
from tale_cli.files import atomic_write_bytes, digest
from tale_cli.keys.seal import is_sealed_file, place_media, read_bytes, seal_of
from tale_cli.run.credentials import film_claim, finish, signing_wanted
from tale_cli.run.film_records import CutSettings, FilmRecord, MixRecord
from tale_cli.run.folder import Manifest, RunFolder, ShotRecord, ShotStatus, now_iso
from tale_cli.run.identity import file_damage, file_record, restore

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.film.subtitles import Cue
    from tale_cli.film.voice import VoiceTrack
    from tale_cli.keys.audit import AuditLog
    from tale_cli.story.plan import Plan

CUT_VERSION = 1
# A film with a voice or music must measure within this of the recipe's loudness target, or it is not kept.
LOUDNESS_TOLERANCE_LU = 1.0


@dataclass
class CutResult:
    film: Path
    srt: Path | None
    duration_s: float
    unchanged: bool  # the film was already this cut: nothing was written
    fast_path: bool
    loudness_lufs: float | None
    seconds: float
    # In a run of drafts, the cut of the final film (film.mp4) too, when every shot's current take has its final.
    final: CutResult | None = None


MAKE = object()  # cut() makes (or verifies) the voice track itself


def current_clips(plan: Plan, folder: RunFolder, manifest: Manifest) -> list[Path]:
    """Every shot's current clip, verified: one damaged or gone is found again by its content (its take in
    shots/takes/, its clip in shots/by-hash/). Raises when a shot has no clip a film can use."""
    clips: list[Path] = []
    for shot in plan.shots:
        path = folder.shot_file(shot.index)
        entry = manifest.data.shots.get(str(shot.index))
        if entry is None and path.is_file() and not path.is_symlink():
            clips.append(path)  # a run folder put together by hand: plan.json and its clips, no manifest
            continue
        if entry is None or entry.status != ShotStatus.DONE:
            raise OutputError(
                f"no film cut: shot {shot.index} has no clip yet", hint=f"`tale render {folder.plan}` makes it"
            )
        if entry.file is not None:
            places = []
            if entry.take is not None:
                places.append(folder.take_file(shot.index, entry.take))
            if entry.params_hash and entry.params_hash.isalnum():
                places.append(folder.cache / f"{entry.params_hash}.mp4")
            damage = restore(path, entry.file, places)
            if damage is not None:
                raise OutputError(
                    f"no film cut: shot {shot.index}'s clip is damaged ({damage}) and no intact copy is left",
                    hint=f"`tale render {folder.plan}` makes it again",
                )
        elif not path.is_file() or path.is_symlink():
            raise OutputError(
                f"no film cut: shot {shot.index}'s clip {path.name} is gone", hint=f"`tale render {folder.plan}`"
            )
        clips.append(path)
    return clips


def drawn_words(plan: Plan, manifest: Manifest, settings: CutSettings, *, final: bool = False) -> bool:
    """Whether the picture already shows the words: a preview animatic draws what each shot says (unless the words
    are burned in instead). Its soft subtitle track is then kept, but not shown by default. `final`: of the final
    film of a run of drafts, made of its current takes' finals."""
    from tale_cli.run.takes import final_take

    def backend(entry: ShotRecord) -> str | None:
        take = final_take(entry) if final else None
        return take.backend if take is not None else entry.backend

    if settings.burn_subtitles:
        return False
    return any(
        any(said.text.strip() for said in shot.speech)
        and (entry := manifest.data.shots.get(str(shot.index))) is not None
        and backend(entry) == "preview"
        for shot in plan.shots
    )


def music_bed(recipe: Recipe, settings: CutSettings) -> Path | None:
    """The bed file: the film's own (--music FILE), else the recipe's [music] source when it is a file."""
    from tale_cli.film.music import composes

    if settings.music is not None:
        return settings.music
    source = recipe.music.source
    return Path(source).expanduser() if recipe.music.enabled and not composes(source) else None


def cut(
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    recipe: Recipe,
    settings: CutSettings,
    *,
    voice: VoiceTrack | object | None = MAKE,
    score: Path | object | None = MAKE,
    audit: AuditLog | None = None,
    say: Callable[[str], None] = lambda text: None,
    output: Path | None = None,
) -> CutResult:
    """Assemble film.mp4 (and film.srt, storyboard.png) from the run as it is; in a run of drafts, film.draft.mp4 from
    its current takes and film.mp4 from their finals when each has one (the result's `final`). The run folder must be
    held.

    `voice` and `score` are the render's own when it has just made them; otherwise the voice track is made (spoken
    clips reused, a damaged clip spoken again, a damaged track laid again from its clips) and the composed score
    found (or composed again when damaged), as a render would.

    With `output`, the film (and its .srt beside it) is written there instead: another cut of the run, which leaves
    the run's own film and records as they are.
    """

    from tale_cli.media.ffmpeg import NoSpaceError

    began = time.perf_counter()
    try:
        return _cut(plan, folder, manifest, recipe, settings, voice, score, audit, say, output, began)
    except NoSpaceError as error:
        if error.folder.name.startswith(".cut-"):  # the cut's own work folder: the run folder is what is full
            raise NoSpaceError(folder.root, needed_bytes=error.needed_bytes, what=error.what) from None
        raise


@dataclass(frozen=True)
class _Film:
    """One film of the run: film.mp4 (the final film), or film.draft.mp4 in a run rendered with --draft."""

    film: Path
    srt: Path
    draft: bool = False

    def record(self, manifest: Manifest) -> FilmRecord | None:
        return manifest.data.draft_film if self.draft else manifest.data.film


@dataclass(frozen=True)
class _Sound:
    """The film's voice, subtitles cues and music bed, the same for both films of a run of drafts."""

    voice: Path | None
    cues: list[Cue] | None
    music: Path | None


def _cut(
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    recipe: Recipe,
    settings: CutSettings,
    voice: VoiceTrack | object | None,
    score: Path | object | None,
    audit: AuditLog | None,
    say: Callable[[str], None],
    output: Path | None,
    began: float,
) -> CutResult:
    clips = current_clips(plan, folder, manifest)
    drafts = manifest.data.run.tier == "draft"
    with tempfile.TemporaryDirectory(dir=folder.root, prefix=".cut-") as scratch:
        work = Path(scratch)
        sound = _sound(plan, folder, manifest, recipe, settings, voice, score, audit, say, clips, work)
        if output is not None or not drafts:
            return _cut_film(plan, folder, manifest, recipe, settings, sound, clips, _Film(folder.film, folder.srt),
                             say, output, work, began)  # fmt: skip
        # A run of drafts: its draft film, and its final film too when every shot's current take has its final.
        draft = _Film(folder.draft_film, folder.draft_srt, draft=True)
        result = _cut_film(plan, folder, manifest, recipe, settings, sound, clips, draft, say, None, work, began)
        finals = final_clips(plan, folder, manifest)
        if finals is not None:
            final = _Film(folder.film, folder.srt)
            result.final = _cut_film(plan, folder, manifest, recipe, settings, sound, finals, final, say, None,
                                     work, time.perf_counter())  # fmt: skip
        return result


def final_clips(plan: Plan, folder: RunFolder, manifest: Manifest) -> list[Path] | None:
    """In a run of drafts, the clip the final film plays for each shot: its current take's final (tale_cli.run.takes.
    final_take), verified; None while a shot has none."""
    from tale_cli.run.takes import final_take, take_source

    clips: list[Path] = []
    for shot in plan.shots:
        entry = manifest.data.shots.get(str(shot.index))
        take = final_take(entry) if entry is not None and entry.status == ShotStatus.DONE else None
        source = take_source(folder, shot.index, take)[0] if take is not None else None
        if source is None:
            return None
        clips.append(source)
    return clips


def _sound(
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    recipe: Recipe,
    settings: CutSettings,
    voice: VoiceTrack | object | None,
    score: Path | object | None,
    audit: AuditLog | None,
    say: Callable[[str], None],
    clips: list[Path],
    work: Path,
) -> _Sound:
    from tale_cli.film.music import composes
    from tale_cli.film.stitch import parse_transition
    from tale_cli.film.subtitles import speech_cues
    from tale_cli.film.tracks import track_from_dir
    from tale_cli.run.music import make_score
    from tale_cli.run.voice import make_voice_track

    transition_s = parse_transition(settings.transition)
    track: VoiceTrack | None = None
    voice_path: Path | None = None
    cues = None
    if settings.voice_dir is not None:
        from tale_cli.media.ffmpeg import probe_many

        durations = [info.duration_s for info in probe_many(clips)]
        voice_path = track_from_dir(settings.voice_dir, durations, transition_s, work / "voice.wav")
    else:
        if voice is MAKE:
            track = (
                make_voice_track(plan, recipe, folder, manifest, transition_s=transition_s, audit=audit, say=say)
                if recipe.voice.enabled
                else None
            )
        else:
            track = voice  # type: ignore[assignment]
        if track is not None:
            voice_path = track.path
            cues = speech_cues([(clip.start_s, clip.seconds, clip.text) for clip in track.clips])
    music = music_bed(recipe, settings)
    if music is None and score is MAKE and composes(recipe.music.source):
        music = make_score(plan, recipe, folder, manifest, audit, say=say)
    elif music is None and isinstance(score, Path):
        music = score
    if music is not None and not music.is_file():
        raise OutputError(
            f"no film cut: the music bed {music} is gone; the film was left as it was",
            hint="put it back, or cut the film again with another --music (or --music none)",
        )
    return _Sound(voice_path, cues, music)


def _cut_film(
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    recipe: Recipe,
    settings: CutSettings,
    sound: _Sound,
    clips: list[Path],
    target: _Film,
    say: Callable[[str], None],
    output: Path | None,
    work: Path,
    began: float,
) -> CutResult:
    from tale_cli.config import load_defaults
    from tale_cli.film.mix import MixOptions, mix_film
    from tale_cli.film.stitch import StitchOptions, stitch
    from tale_cli.film.subtitles import shot_captions
    from tale_cli.media.ffmpeg import EncodeSettings
    from tale_cli.media.mp4 import set_subtitles_default

    voice_path, cues, music = sound.voice, sound.cues, sound.music
    # Lines said inside these clips (dialogue = "clip"): their cues timed from the speech heard in each clip.
    from tale_cli.film.dialogue import clip_line_cues, in_clip, merged
    from tale_cli.film.stitch import parse_transition

    said_in_clips = (
        clip_line_cues(plan, clips, parse_transition(settings.transition))
        if in_clip(recipe) and cues is not None
        else []
    )
    cues = merged(cues, said_in_clips)
    final_of_drafts = manifest.data.run.tier == "draft" and not target.draft and output is None
    captions = shot_captions(plan)
    subtitles_default = not drawn_words(plan, manifest, settings, final=final_of_drafts)
    sealing = seal_of(folder.root)
    key = digest(
        {
            "version": CUT_VERSION,
            "clips": [file_record(clip).sha256 for clip in clips],
            "voice": file_record(voice_path).sha256 if voice_path is not None else None,
            "music": file_record(music).sha256 if music is not None else None,
            "size": [plan.width, plan.height, plan.fps],
            "captions": captions,
            "cues": [[cue.start_s, cue.end_s, cue.text] for cue in cues] if cues is not None else None,
            "burn": settings.burn_subtitles,
            "transition": settings.transition,
            "loudness": recipe.loudness_lufs,
            "music_level": recipe.music.level_lu,
            "subtitles_default": subtitles_default,
            "marks": _marks_key(settings),
            "signed": signing_wanted(settings),
            # A sealed run's film has no subtitle stream: sealing or opening a run makes its next cut a new film.
            **({"sealed": True} if sealing is not None else {}),
        }
    )
    film = target.record(manifest)
    mix = manifest.data.draft_mix if target.draft else manifest.data.mix
    if output is None and film is not None and film.cut_hash == key and _intact(folder, film, target):
        return CutResult(
            target.film,
            target.srt if film.srt is not None else None,
            film.duration_s,
            unchanged=True,
            fast_path=film.fast_path,
            loudness_lufs=mix.integrated_lufs if mix is not None else None,
            seconds=time.perf_counter() - began,
        )

    if target.draft:
        work = work / "draft"  # the final film may be cut next in the same work folder
        work.mkdir()
    defaults = load_defaults()
    encode = EncodeSettings(preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate)
    mixing = voice_path is not None or music is not None
    say("stitching the draft film" if target.draft else "stitching the film")
    stitched = stitch(
        clips,
        work / "stitched.mp4",
        StitchOptions(
            width=plan.width,
            height=plan.height,
            fps=plan.fps,
            captions=captions,
            cues=cues,
            srt_path=work / "film.srt",
            burn_subtitles=settings.burn_subtitles,
            transition=settings.transition,
            encode=encode,
            seal=sealing.seal if sealing is not None else None,
        ),
    )
    made = stitched.output
    loudness = None
    if mixing:
        say("mixing the sound")
        mixed = mix_film(
            made,
            work / "mixed.mp4",
            MixOptions(
                voice=voice_path,
                music=music,
                loudness_lufs=recipe.loudness_lufs,
                music_level_lu=recipe.music.level_lu,
                encode=encode,
            ),
        )
        loudness = mixed.loudness
        if abs(loudness.integrated_lufs - recipe.loudness_lufs) > LOUDNESS_TOLERANCE_LU:
            say(
                f"the mix measures {loudness.integrated_lufs:.1f} LUFS, not {recipe.loudness_lufs:g}: its peaks "
                "left no room to raise it further under the true-peak ceiling"
            )
        made = mixed.output
    if stitched.srt is not None:
        set_subtitles_default(made, subtitles_default)
    # Last, on the film that passed its checks: the marks asked for (checked again), then the signature.
    made, signed = finish(
        made,
        work,
        lambda: film_claim(
            plan, manifest, settings, final=final_of_drafts, user_music=music_bed(recipe, settings) is not None
        ),
        settings,
        fps=plan.fps,
        duration_s=stitched.duration_s,
        encode=encode,
        say=say,
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        if is_sealed_file(made):  # cut in a media-sealed run's work folder: the copy asked for is plain
            atomic_write_bytes(output, read_bytes(made))
            made.unlink()
        else:
            shutil.move(made, output)
        srt_copy = output.with_suffix(".srt") if stitched.srt is not None else None
        if srt_copy is not None and stitched.srt is not None:
            shutil.move(stitched.srt, srt_copy)
        return CutResult(
            output,
            srt_copy,
            stitched.duration_s,
            unchanged=False,
            fast_path=stitched.fast_path,
            loudness_lufs=loudness.integrated_lufs if loudness is not None else None,
            seconds=time.perf_counter() - began,
        )
    # Only now, every check passed, does the new film take the old one's place.
    place_media(made, target.film)  # sealed on the way in a media-sealed run
    folder.secure(target.film)
    srt = None
    if stitched.srt is not None:
        os.replace(stitched.srt, target.srt)
        folder.secure(target.srt)
        srt = target.srt
    elif target.srt.is_file() and not target.srt.is_symlink():
        target.srt.unlink()  # an earlier film's words would now be wrong
    if not target.draft or manifest.data.film is None:
        # The storyboard shows the final film's shots; in a run of drafts, the draft film's until there is one.
        from tale_cli.run.storyboard import make_storyboard

        make_storyboard(plan, clips, folder.storyboard, mode=folder.file_mode, root=folder.root)
    mixed_record = (
        MixRecord(
            voice=voice_path is not None,
            music=str(music) if music is not None else None,
            target_lufs=recipe.loudness_lufs,
            integrated_lufs=loudness.integrated_lufs,
            true_peak_db=loudness.true_peak_db,
            mixed_at=now_iso(),
        )
        if loudness is not None
        else None
    )
    film_record = FilmRecord(
        path=target.film.name,
        duration_s=round(stitched.duration_s, 3),
        stitched_at=now_iso(),
        fast_path=stitched.fast_path,
        burn_subtitles=settings.burn_subtitles,
        transition=settings.transition,
        audio=str(settings.music.resolve()) if settings.music is not None else None,
        voice=recipe.voice.model_dump(mode="json"),
        music=recipe.music.model_dump(mode="json"),
        loudness_lufs=recipe.loudness_lufs,
        voice_dir=str(settings.voice_dir.resolve()) if settings.voice_dir is not None else None,
        subtitles_default=subtitles_default if srt is not None else None,
        dialogue_cues=[[c.start_s, c.end_s, c.text] for c in said_in_clips] if said_in_clips else None,
        cut_hash=key,
        file=file_record(target.film),
        srt=file_record(srt) if srt is not None else None,
        c2pa=settings.credentials,
        watermark=settings.watermark,
        invisible_watermark=settings.invisible_watermark,
        credentials=signed,
    )
    with manifest.edit() as data:
        if target.draft:
            data.draft_mix, data.draft_film = mixed_record, film_record
        else:
            data.mix, data.film = mixed_record, film_record
    return CutResult(
        target.film,
        srt,
        stitched.duration_s,
        unchanged=False,
        fast_path=stitched.fast_path,
        loudness_lufs=loudness.integrated_lufs if loudness is not None else None,
        seconds=time.perf_counter() - began,
    )


def _marks_key(settings: CutSettings) -> list[str | None] | None:
    """What the marks asked for are: a visible image mark by its bytes, so a changed picture cuts again."""
    if settings.watermark is None and settings.invisible_watermark is None:
        return None
    image = None
    if settings.watermark is not None:
        from tale_cli.film.watermark import parse_watermark

        mark = parse_watermark(settings.watermark)
        image = file_record(Path(mark.value)).sha256 if mark.kind == "image" else None
    return [settings.watermark, image, settings.invisible_watermark]


def _intact(folder: RunFolder, film: FilmRecord, target: _Film) -> bool:
    """The film (and its subtitles, the storyboard) are still what the last cut wrote."""
    if film.file is None or file_damage(target.film, film.file) is not None:
        return False
    if film.srt is not None and file_damage(target.srt, film.srt) is not None:
        return False
    if film.srt is None and target.srt.exists():
        return False
    return folder.storyboard.is_file()
