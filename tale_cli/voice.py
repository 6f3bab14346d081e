"""The voice track: each shot's narration and dialogue spoken, cached by content, fitted inside its shot, placed.

A shot's speech starts LEAD_S after the shot does and ends TAIL_S before the next one starts, so a line
never runs into the next shot. Speech slightly too long is sped up (at most MAX_SPEEDUP, pitch kept);
speech that still does not fit stops the render, naming the shot and the seconds it needs. Clips are
kept under voice/by-hash/ by a hash of everything that changes their sound, so a re-run speaks nothing
again and editing one line speaks one clip.
"""

from __future__ import annotations

import contextlib
import os
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.backends.base import Speaker, SpeechRequest, VoiceBackend, VoiceInfo
from tale_cli.errors import BackendError, PlanError
from tale_cli.pace import GAP_S, LEAD_S, TAIL_S, natural_seconds
from tale_cli.plan import NARRATOR, Plan, Shot
from tale_cli.registry import Role, create, provider
from tale_cli.registry import names as registry_names
from tale_cli.run.folder import FileRecord, VoiceClipRecord, VoiceRecord, now_iso
from tale_cli.run.identity import digest, file_damage, file_record
from tale_cli.tracks import lay_clips

if TYPE_CHECKING:
    from tale_cli.audit import AuditLog
    from tale_cli.config import Recipe
    from tale_cli.run.folder import Manifest, RunFolder

HASH_VERSION = 1
MAX_SPEEDUP = 1.25
# Samples quieter than this (of full scale) at a clip's ends are trimmed: silence a backend adds around speech.
TRIM_LEVEL = 0.01
TRIM_KEEP_S = 0.03


@dataclass(frozen=True)
class Utterance:
    """One clip to speak: its text in one voice, or a dialogue whose lines name their `speakers`."""

    text: str
    voice: str
    speakers: tuple[Speaker, ...] = ()


@dataclass(frozen=True)
class ShotSpeech:
    """What one shot says, and the part of the film it may be said in."""

    index: int
    start_s: float
    end_s: float
    utterances: tuple[Utterance, ...]

    @property
    def room_s(self) -> float:
        """Seconds of speech the shot holds at normal speed (gaps between its clips taken off)."""
        return self.end_s - self.start_s - LEAD_S - TAIL_S - GAP_S * (len(self.utterances) - 1)


@dataclass(frozen=True)
class PlacedClip:
    shot: int
    path: Path
    params_hash: str
    voice: str
    start_s: float
    seconds: float  # as it plays, after any speed-up
    tempo: float
    cost_usd: float | None
    model: str
    text: str = ""
    file: FileRecord | None = None  # the clip as spoken


@dataclass
class VoiceTrack:
    """The film's voice: one WAV of the film's length at TRACK_RATE, and where each clip plays in it."""

    path: Path
    backend: str
    clips: list[PlacedClip] = field(default_factory=list)
    spoken: int = 0
    cached: int = 0


class SpeechTooLongError(PlanError):
    """A shot whose narration and lines cannot be spoken inside it, even sped up."""


@dataclass(frozen=True)
class VoiceCatalogue:
    """One voice backend's voices, as `tale voices` lists them."""

    backend: str
    model: str
    local: bool
    voices: list[VoiceInfo]

    def to_json(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "model": self.model,
            "local": self.local,
            "voices": [{"name": v.name, "languages": list(v.languages), "description": v.description}
                       for v in self.voices],
        }  # fmt: skip


def list_voices(backend: str | None = None) -> list[VoiceCatalogue]:
    """The voices of one voice backend, or of every one the registry knows (no key needed: nothing is asked)."""
    from tale_cli.config import Recipe, VoiceConfig

    names = [provider(backend, Role.VOICE).name] if backend is not None else registry_names(Role.VOICE)
    catalogues: list[VoiceCatalogue] = []
    for name in names:
        speaker = voice_backend(Recipe(voice=VoiceConfig(backend=name)))
        try:
            catalogues.append(VoiceCatalogue(name, speaker.model, provider(name).runs_locally(), speaker.voices()))
        finally:
            speaker.close()
    return catalogues


def voice_backend(recipe: Recipe) -> VoiceBackend:
    backend: VoiceBackend = create(Role.VOICE, recipe.voice.backend, recipe)
    return backend


def shot_windows(durations: list[float], transition_s: float = 0.0) -> list[tuple[float, float]]:
    """Where each shot is on screen alone in the film: with crossfades, a shot's part changes half-way through a fade."""
    windows: list[tuple[float, float]] = []
    start = 0.0
    last = len(durations) - 1
    for position, duration in enumerate(durations):
        begin = start + (transition_s / 2 if position > 0 else 0.0)
        end = start + duration - (transition_s / 2 if position < last else 0.0)
        windows.append((begin, end))
        start += duration - transition_s
    return windows


def _voice_of(plan: Plan, speaker: str, narrator: str) -> str:
    if speaker == NARRATOR:
        return narrator
    return plan.character(speaker).voice or narrator


def shot_texts(shot: Shot) -> list[str]:
    """Every text a shot speaks: its narration, then its lines."""
    return [text for text in (shot.narration.strip(), *(line.text.strip() for line in shot.lines)) if text]


def _utterances(plan: Plan, shot: Shot, narrator: str, max_speakers: int) -> list[Utterance]:
    """The shot's narration, then its lines: one clip each, or the dialogue as one clip where the backend
    voices several speakers at once."""
    said: list[Utterance] = []
    if shot.narration.strip():
        said.append(Utterance(shot.narration.strip(), narrator))
    speakers = list(dict.fromkeys(line.speaker for line in shot.lines))
    if max_speakers > 1 and 1 < len(speakers) <= max_speakers:
        names = {s: (plan.character(s).name if s != NARRATOR else "Narrator") for s in speakers}
        text = "\n".join(f"{names[line.speaker]}: {line.text.strip()}" for line in shot.lines)
        cast = tuple(Speaker(names[s], _voice_of(plan, s, narrator)) for s in speakers)
        said.append(Utterance(text, narrator, cast))
    else:
        said += [Utterance(line.text.strip(), _voice_of(plan, line.speaker, narrator)) for line in shot.lines]
    return said


def plan_speech(plan: Plan, recipe: Recipe, backend: VoiceBackend, transition_s: float = 0.0) -> list[ShotSpeech]:
    """Each spoken shot's clips with their voices, checked against the backend before anything is spent."""
    capabilities = backend.capabilities()
    narrator = recipe.voice.voice or backend.default_voice(plan.language)
    windows = shot_windows([shot.duration_s for shot in plan.shots], transition_s)
    speech: list[ShotSpeech] = []
    for shot, (start, end) in zip(plan.shots, windows, strict=True):
        said = _utterances(plan, shot, narrator, capabilities.max_speakers)
        if not said:
            continue
        for utterance in said:
            for voice in {utterance.voice, *(speaker.voice for speaker in utterance.speakers)}:
                backend.check_voice(voice)
            if len(utterance.text) > capabilities.max_input_chars:
                raise PlanError(
                    f"shot {shot.index} speaks {len(utterance.text)} characters in one clip; "
                    f"the {backend.name} voice takes at most {capabilities.max_input_chars}",
                    hint="shorten its narration or lines in plan.json",
                )
        entry = ShotSpeech(shot.index, start, end, tuple(said))
        if entry.room_s <= 0:
            raise SpeechTooLongError(
                f"shot {shot.index} lasts {shot.duration_s:g} s, too short to speak in",
                hint="remove its narration and lines in plan.json, lengthen the shot, or render with --no-voice",
            )
        speech.append(entry)
    return speech


def check_speech_fits(speech: list[ShotSpeech], speed: float) -> None:
    """Refuse, from the words alone, speech that cannot fit its shot even sped up: for voices that cost money,
    checked before anything is spent (a free voice is measured instead, as it speaks)."""
    for entry in speech:
        needed = sum(natural_seconds(u.text) for u in entry.utterances) / speed
        _refuse_too_long(entry, needed)


def _refuse_too_long(entry: ShotSpeech, needed_s: float) -> None:
    if needed_s > entry.room_s * MAX_SPEEDUP:
        raise SpeechTooLongError(
            f"shot {entry.index}'s speech needs {needed_s:.1f} s; the shot has room for {entry.room_s:.1f} s "
            f"({entry.room_s * MAX_SPEEDUP:.1f} s at the fastest, {MAX_SPEEDUP:g}×)",
            hint="shorten its narration or lines in plan.json (or lengthen the shot), then run again; "
            "or render with --no-voice",
        )


def clip_hash(backend: VoiceBackend, recipe: Recipe, utterance: Utterance, language: str) -> str:

    fields = {
        "v": HASH_VERSION,
        **backend.fingerprint(),
        "text": utterance.text,
        "voice": utterance.voice,
        "speakers": [[s.name, s.voice] for s in utterance.speakers],
        "language": language,
        "instructions": recipe.voice.instructions,
        "speed": recipe.voice.speed,
    }
    return digest(fields)[:32]


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    """16-bit little-endian mono samples (what every voice backend gets or makes) as a WAV file."""
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(pcm)


def wav_seconds(path: Path) -> float:
    """A 16-bit PCM WAV's length; BackendError when the file is not one."""
    try:
        with wave.open(str(path), "rb") as clip:
            frames, rate, width = clip.getnframes(), clip.getframerate(), clip.getsampwidth()
    except (OSError, EOFError, wave.Error) as error:
        raise BackendError(f"{path.name} is not a readable WAV file: {error}") from None
    if width != 2 or rate <= 0 or frames == 0:
        raise BackendError(f"{path.name} holds no 16-bit speech")
    return frames / rate


def trim_silence(path: Path) -> None:
    """Cut the near-silence a backend leaves before and after the speech (a little is kept), in place."""
    import numpy as np

    with wave.open(str(path), "rb") as clip:
        channels, rate = clip.getnchannels(), clip.getframerate()
        samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2").reshape(-1, channels)
    loud = np.flatnonzero(np.abs(samples).max(axis=1) > TRIM_LEVEL * 32767)
    if loud.size == 0:
        raise BackendError(f"{path.name} is silent: the voice backend spoke nothing")
    keep = round(TRIM_KEEP_S * rate)
    kept = samples[max(0, loud[0] - keep) : loud[-1] + keep + 1]
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(kept.astype("<i2").tobytes())


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
    from tale_cli.pipeline.shots import audit_request

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
    os.replace(part, stored)
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
        )


def check_voice(plan: Plan, recipe: Recipe, transition_s: float = 0.0) -> None:
    """Everything about the voice that can be checked before anything is spent: the backend and its key,
    every voice named, each clip's length and, for a voice that costs money, whether the words fit their shots."""
    if not recipe.voice.enabled:
        return
    backend = voice_backend(recipe)
    try:
        backend.preflight()
        speech = plan_speech(plan, recipe, backend, transition_s)
        if not provider(backend.name, Role.VOICE).is_free():
            check_speech_fits(speech, recipe.voice.speed)
    finally:
        backend.close()
