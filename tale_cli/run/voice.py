"""The run's voice track: every shot's speech spoken once (clips kept under voice/by-hash/ with their size and
digest, a damaged one spoken again), fitted into its shot, laid on voice/track.wav — laid again only when its clips or
their places changed, or the track was damaged — and recorded in the manifest."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.backends.base import SpeechRequest, VoiceBackend
from tale_cli.errors import BackendError
from tale_cli.files import digest, now_iso
from tale_cli.film.tracks import lay_clips
from tale_cli.film.voice import (
    GAP_S,
    LEAD_S,
    PlacedClip,
    Utterance,
    VoiceTrack,
    _refuse_too_long,
    clip_hash,
    plan_speech,
    voice_backend,
)
from tale_cli.keys.audit import audit_request
from tale_cli.keys.seal import place_media
from tale_cli.media.wav import trim_silence, wav_seconds
from tale_cli.record import FileRecord
from tale_cli.run.film_records import VoiceClipRecord, VoiceRecord
from tale_cli.run.identity import file_damage, file_record
from tale_cli.story.plan import Plan

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.keys.audit import AuditLog
    from tale_cli.run.folder import Manifest, RunFolder


def voice_dir(folder: RunFolder) -> Path:
    return folder.root / "voice"


def track_file(folder: RunFolder) -> Path:
    return voice_dir(folder) / "track.wav"


def voice_track(run_dir: Path) -> Path | None:
    """A run folder's voice track, when a render made one."""
    from tale_cli.run.folder import RunFolder

    track = track_file(RunFolder(run_dir))
    return track if track.is_file() and not track.is_symlink() else None


def _prepare_dirs(folder: RunFolder) -> Path:
    store = voice_dir(folder) / "by-hash"
    mode = 0o700 if folder.private else 0o755
    for path in (voice_dir(folder), store):
        if path.is_symlink():
            raise BackendError(f"{path} is a symbolic link; Tale does not write through links in a run folder")
        path.mkdir(exist_ok=True, mode=mode)
    return store


def _usable(path: Path, known: FileRecord | None = None) -> bool:
    """A spoken clip that can be used as it is: the file recorded when it was spoken (size and digest), or, for a
    clip with no record, a plain WAV that reads."""
    if known is not None:
        return file_damage(path, known) is None
    if path.is_symlink() or not path.is_file():
        return False
    try:
        wav_seconds(path)
    except BackendError:
        return False
    return True


def _known_clips(manifest: Manifest | None) -> dict[str, VoiceClipRecord]:
    voice = manifest.data.voice if manifest is not None else None
    return {clip.params_hash: clip for clip in (voice.clips if voice is not None else [])}


def track_key(track: VoiceTrack, film_s: float) -> str:
    """The voice track's content address: what each clip is and where and how fast it plays, the film's length."""
    return digest(
        {
            "film_s": round(film_s, 3),
            "clips": [
                [
                    clip.params_hash,
                    clip.file.sha256 if clip.file else None,
                    round(clip.start_s, 3),
                    round(clip.tempo, 4),
                ]
                for clip in track.clips
            ],
        }
    )


def unspoken(plan: Plan, recipe: Recipe, folder: RunFolder) -> list[str]:
    """The texts of the clips a render still has to speak (none for a recipe without a voice): what it will pay for."""
    if not recipe.voice.enabled:
        return []
    from tale_cli.run.folder import Manifest

    backend = voice_backend(recipe)
    try:
        store = voice_dir(folder) / "by-hash"
        data = Manifest.read(folder.manifest)
        known = {clip.params_hash: clip.file for clip in (data.voice.clips if data and data.voice else [])}
        hashes = [
            (utterance.text, clip_hash(backend, recipe, utterance, plan.language))
            for entry in plan_speech(plan, recipe, backend)
            for utterance in entry.utterances
        ]
        return [
            text for text, params_hash in hashes if not _usable(store / f"{params_hash}.wav", known.get(params_hash))
        ]
    finally:
        backend.close()


def make_voice_track(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    *,
    transition_s: float = 0.0,
    audit: AuditLog | None = None,
    say: Callable[[str], None] | None = None,
) -> VoiceTrack | None:
    """Speak every shot (cached clips reused), fit each shot's speech inside it, and write voice/track.wav.

    None when no shot has anything to say. A shot whose speech does not fit even sped up raises
    SpeechTooLongError before the track is written.
    """
    backend = voice_backend(recipe)
    try:
        speech = plan_speech(plan, recipe, backend, transition_s)
        if not speech:
            return None
        store = _prepare_dirs(folder)
        known = _known_clips(manifest)
        track = VoiceTrack(track_file(folder), backend.name)
        for entry in speech:
            made: list[tuple[Utterance, str, Path, float | None, str, FileRecord]] = []
            for utterance in entry.utterances:
                params_hash = clip_hash(backend, recipe, utterance, plan.language)
                stored = store / f"{params_hash}.wav"
                earlier = known.get(params_hash)
                if _usable(stored, earlier.file if earlier else None):
                    track.cached += 1
                    cost = earlier.cost_usd if earlier else None
                    model = (earlier.model if earlier else None) or ""
                else:
                    if say is not None:
                        again = " again (its clip was damaged)" if stored.exists() else ""
                        say(f"voice: speaking shot {entry.index}{again}")
                    cost, model = _speak(backend, recipe, utterance, plan, entry.index, stored, audit)
                    folder.secure(stored)
                    track.spoken += 1
                made.append((utterance, params_hash, stored, cost, model, file_record(stored)))
            seconds = [wav_seconds(path) for _, _, path, _, _, _ in made]
            tempo = max(1.0, sum(seconds) / entry.room_s)
            _refuse_too_long(entry, sum(seconds))
            at = entry.start_s + LEAD_S
            for (utterance, params_hash, path, cost, model, file), length in zip(made, seconds, strict=True):
                played = length / tempo
                voice = " & ".join(s.voice for s in utterance.speakers) or utterance.voice
                track.clips.append(
                    PlacedClip(
                        entry.index, path, params_hash, voice, at, played, tempo, cost, model, utterance.text, file
                    )
                )
                at += played + GAP_S
        film_s = plan.duration_s - transition_s * (len(plan.shots) - 1)
        key = track_key(track, film_s)
        laid = manifest.data.voice
        if laid is None or laid.key != key or laid.file is None or file_damage(track.path, laid.file) is not None:
            if laid is not None and laid.key == key and say is not None:
                say("voice: laying voice/track.wav again from its clips (it was damaged or gone)")
            _write_track(track, film_s)
            folder.secure(track.path)
        _record(manifest, folder, track, key)
        return track
    finally:
        backend.close()


def _speak(
    backend: VoiceBackend,
    recipe: Recipe,
    utterance: Utterance,
    plan: Plan,
    shot: int,
    stored: Path,
    audit: AuditLog | None,
) -> tuple[float | None, str]:
    """Speak one clip into `stored` (via `*.part`, trimmed and checked), with its audit line; (cost, model)."""

    part = stored.with_name(stored.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    request = SpeechRequest(
        text=utterance.text,
        voice=utterance.voice,
        language=plan.language,
        instructions=recipe.voice.instructions,
        speed=recipe.voice.speed,
        output=part,
        shot=shot,
        speakers=list(utterance.speakers),
    )
    started = time.monotonic()
    try:
        result = backend.speak(request)
        trim_silence(part)
        wav_seconds(part)
    except Exception as error:
        part.unlink(missing_ok=True)
        audit_request(audit, "voice", backend.name, shot, utterance.text, None, started, error=error)
        raise
    except BaseException:
        part.unlink(missing_ok=True)  # stopped by Ctrl-C or a signal: no half-spoken clip stays
        raise
    place_media(part, stored)  # sealed on the way in a media-sealed run
    audit_request(audit, "voice", backend.name, shot, utterance.text, result, started)
    return result.cost_usd, result.model


def _write_track(track: VoiceTrack, film_s: float) -> None:
    """All clips, each sped up as its shot needs and delayed to its place, on one mono track of the film's length."""
    part = track.path.with_name(track.path.name + ".part")
    try:
        lay_clips([(clip.path, clip.start_s, clip.tempo) for clip in track.clips], film_s, part)
        os.replace(part, track.path)
    finally:
        part.unlink(missing_ok=True)


def _record(manifest: Manifest, folder: RunFolder, track: VoiceTrack, key: str) -> None:
    file = file_record(track.path)
    before = manifest.data.voice
    if before is not None and before.key == key and before.file == file and before.backend == track.backend:
        return  # nothing changed: the manifest is not written
    with manifest.edit() as data:
        data.voice = VoiceRecord(
            backend=track.backend,
            track=str(track.path.relative_to(folder.root)),
            clips=[
                VoiceClipRecord(
                    shot=clip.shot,
                    params_hash=clip.params_hash,
                    path=str(clip.path.relative_to(folder.root)),
                    backend=track.backend,
                    model=clip.model or None,
                    voice=clip.voice,
                    seconds=round(clip.seconds, 3),
                    tempo=round(clip.tempo, 4),
                    start_s=round(clip.start_s, 3),
                    cost_usd=clip.cost_usd,
                    file=clip.file,
                    text=clip.text,
                )
                for clip in track.clips
            ],
            made_at=now_iso(),
            key=key,
            file=file,
            samples=before.samples if before is not None else [],
        )
