"""The voice track: each shot's narration and dialogue spoken in the story's order, cached by content, fitted inside
its shot, placed.

A shot's speech starts LEAD_S after the shot does and ends TAIL_S before the next one starts, so a line
never runs into the next shot. Speech slightly too long is sped up (at most MAX_SPEEDUP, pitch kept);
speech that still does not fit stops the render, naming the shot and the seconds it needs. Clips are
kept under voice/by-hash/ by a hash of everything that changes their sound, so a re-run speaks nothing
again and editing one line speaks one clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.backends.base import Speaker, VoiceBackend, VoiceInfo
from tale_cli.errors import PlanError
from tale_cli.files import digest
from tale_cli.record import FileRecord
from tale_cli.registry import Role, create, provider
from tale_cli.registry import names as registry_names
from tale_cli.story.pace import GAP_S, LEAD_S, TAIL_S, natural_seconds
from tale_cli.story.plan import NARRATOR, Plan, Shot

if TYPE_CHECKING:
    from tale_cli.config import Recipe

HASH_VERSION = 1
MAX_SPEEDUP = 1.25


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


def _voice_of(plan: Plan, speaker: str, narrator: str, backend: str) -> str:
    """Who speaks a line in `backend`: the character's own voice there (chosen when the story was planned, or
    designed since), else the narrator's."""
    if speaker == NARRATOR:
        return narrator
    return plan.character(speaker).voice_for(backend) or narrator


def check_cast(plan: Plan) -> None:
    """Refuse a character voice kept for a backend that does not exist (a misspelt key would silently fall back to
    the narrator's voice)."""
    known = registry_names(Role.VOICE)
    for character in plan.characters:
        if not isinstance(character.voice, dict):
            continue
        for backend in character.voice:
            if backend not in known:
                raise PlanError(
                    f"{character.name}'s voice names '{backend}', which is not a voice backend",
                    hint="valid names are: " + ", ".join(known),
                )


def shot_texts(shot: Shot, *, lines: bool = True) -> list[str]:
    """Every text a shot's voice speaks, in the order it says them (without `lines`, the narrator's only: the clip
    says the characters' lines)."""
    return [text for text in (item.text.strip() for item in shot.speech if lines or item.narrated) if text]


def speaker_name(plan: Plan, who: str) -> str:
    return "Narrator" if who == NARRATOR else plan.character(who).name


def _utterances(
    plan: Plan, shot: Shot, narrator: str, max_speakers: int, backend: str, *, lines: bool = True
) -> list[Utterance]:
    """The shot's speech in its order, one clip each; where the backend voices several speakers at once, lines said
    one after another by two or more characters are one dialogue clip. Narration is the narrator's, between them.
    Without `lines` (the video model says the characters' lines in the clip), the narrator's parts only."""
    said: list[Utterance] = []
    speech = [item for item in shot.speech if item.text.strip() and (lines or item.narrated)]
    start = 0
    while start < len(speech):
        end = start + 1
        if not speech[start].narrated:
            while end < len(speech) and not speech[end].narrated:
                end += 1
        run = speech[start:end]
        speakers = list(dict.fromkeys(item.who for item in run))
        if max_speakers > 1 and 1 < len(speakers) <= max_speakers:
            text = "\n".join(f"{speaker_name(plan, item.who)}: {item.text.strip()}" for item in run)
            cast = tuple(Speaker(speaker_name(plan, s), _voice_of(plan, s, narrator, backend)) for s in speakers)
            said.append(Utterance(text, narrator, cast))
        else:
            said += [Utterance(item.text.strip(), _voice_of(plan, item.who, narrator, backend)) for item in run]
        start = end
    return said


def _within(utterance: Utterance, limit: int) -> list[Utterance]:
    """One voice's text as clips the backend takes: whole sentences packed up to `limit` characters a clip (a
    sentence longer than that at word breaks, a word longer than that cut). A dialogue clip stays one clip."""
    if len(utterance.text) <= limit or utterance.speakers:
        return [utterance]
    from tale_cli.planners._speech import split_sentences

    pieces: list[str] = []
    for sentence in split_sentences(utterance.text) or [utterance.text]:
        words: list[str] = []
        for word in sentence.split():
            words += [word[at : at + limit] for at in range(0, len(word), limit)]
        current = ""
        for word in words:
            if current and len(current) + 1 + len(word) > limit:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        if current:
            pieces.append(current)
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= limit:
            packed[-1] = f"{packed[-1]} {piece}"
        else:
            packed.append(piece)
    return [Utterance(text, utterance.voice) for text in packed]


def spoken_times(plan: Plan, shot: Shot, clips: Sequence[tuple[float, float, str]]) -> list[tuple[float, float]] | None:
    """Where the voice track says each of the shot's speech items, as (start, end) in the film, from its clips of the
    shot (start, seconds, text); a dialogue clip gives each line its share, as its subtitles do. None when the clips
    do not say the shot's speech as the plan has it now."""
    speech = shot.speech
    if any(not item.text.strip() for item in speech):
        return None  # a blank item is not spoken: where it would be shown is the estimate's to say
    times: list[tuple[float, float]] = []
    for start, seconds, text in sorted(clips):
        turns = text.split("\n")
        run = speech[len(times) : len(times) + len(turns)]
        if len(turns) == 1 and run and text == run[0].text.strip():
            times.append((start, start + seconds))
            continue
        if len(run) < len(turns) or any(
            turn != f"{speaker_name(plan, item.who)}: {item.text.strip()}"
            for turn, item in zip(turns, run, strict=True)
        ):
            return None
        weights = [max(natural_seconds(turn), 0.2) for turn in turns]
        at = start
        for weight in weights:
            length = seconds * weight / sum(weights)
            times.append((at, at + length))
            at += length
    return times if len(times) == len(speech) else None


def plan_speech(plan: Plan, recipe: Recipe, backend: VoiceBackend, transition_s: float = 0.0) -> list[ShotSpeech]:
    """Each spoken shot's clips with their voices, checked against the backend before anything is spent."""
    capabilities = backend.capabilities()
    check_cast(plan)
    narrator = recipe.voice.voice or backend.default_voice(plan.language)
    windows = shot_windows([shot.duration_s for shot in plan.shots], transition_s)
    speech: list[ShotSpeech] = []
    for shot, (start, end) in zip(plan.shots, windows, strict=True):
        overlay = recipe.voice.dialogue != "clip"
        said = _utterances(plan, shot, narrator, capabilities.max_speakers, backend.name, lines=overlay)
        said = [part for utterance in said for part in _within(utterance, capabilities.max_input_chars)]
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
