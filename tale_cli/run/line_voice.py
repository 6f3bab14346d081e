"""The voices of lines said inside the clips, for a video model that lip-syncs to a voice it is given (Seedance 2
through Runway takes `reference_audio`): each shot's lines spoken once in their characters' voices, joined into one
sample per shot under voice/by-hash/, priced, audited and recorded like every spoken clip (the manifest's
`voice.samples`), and given to the shot's request."""

from __future__ import annotations

import contextlib
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.errors import BackendError
from tale_cli.files import digest
from tale_cli.film.dialogue import in_clip
from tale_cli.film.voice import Utterance, _voice_of, clip_hash, voice_backend
from tale_cli.keys.seal import clear_path, place_media
from tale_cli.media.wav import wav_seconds
from tale_cli.run.folder import VoiceClipRecord, VoiceRecord
from tale_cli.run.identity import file_record
from tale_cli.run.voice import _prepare_dirs, _speak, _usable, voice_dir

if TYPE_CHECKING:
    from tale_cli.backends.base import VoiceBackend
    from tale_cli.config import Recipe
    from tale_cli.keys.audit import AuditLog
    from tale_cli.run.folder import Manifest, RunFolder
    from tale_cli.story.plan import Plan, Shot


def _line_utterances(plan: Plan, shot: Shot, narrator: str, backend: str) -> list[Utterance]:
    return [
        Utterance(line.text.strip(), _voice_of(plan, line.speaker, narrator, backend))
        for line in shot.lines
        if line.text.strip()
    ]


def _sample_key(hashes: list[str]) -> str:
    return digest({"lines": hashes})[:32]


def line_sample_paths(plan: Plan, recipe: Recipe, folder: RunFolder) -> dict[int, Path]:
    """Where each shot's line sample is (or will be), by shot: known from the words and voices alone, so a shot's
    cache key can name it before anything is spoken. Empty unless the recipe's lines are said in the clip."""
    if not (in_clip(recipe) and recipe.voice.enabled):
        return {}
    backend = voice_backend(recipe)
    try:
        return {index: path for index, (path, _) in _samples(plan, recipe, folder, backend).items()}
    finally:
        backend.close()


def _samples(
    plan: Plan, recipe: Recipe, folder: RunFolder, backend: VoiceBackend
) -> dict[int, tuple[Path, list[tuple[Utterance, str]]]]:
    narrator = recipe.voice.voice or backend.default_voice(plan.language)
    store = voice_dir(folder) / "by-hash"
    found: dict[int, tuple[Path, list[tuple[Utterance, str]]]] = {}
    for shot in plan.shots:
        said = [
            (u, clip_hash(backend, recipe, u, plan.language))
            for u in _line_utterances(plan, shot, narrator, backend.name)
        ]
        if said:
            found[shot.index] = (store / f"line-{_sample_key([h for _, h in said])}.wav", said)
    return found


def make_line_samples(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    *,
    audit: AuditLog | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[int, Path]:
    """Speak (or find) each shot's lines and join them into its sample; record what was spoken and what it cost."""
    if not (in_clip(recipe) and recipe.voice.enabled):
        return {}
    backend = voice_backend(recipe)
    try:
        wanted = _samples(plan, recipe, folder, backend)
        if not wanted:
            return {}
        store = _prepare_dirs(folder)
        voice = manifest.data.voice
        known = {clip.params_hash: clip for clip in (voice.samples if voice is not None else [])}
        spoken: list[VoiceClipRecord] = []
        for index, (sample, said) in wanted.items():
            for utterance, params_hash in said:
                stored = store / f"{params_hash}.wav"
                earlier = known.get(params_hash)
                if _usable(stored, earlier.file if earlier else None):
                    continue
                if say is not None:
                    say(f"voice: speaking shot {index}'s lines for its clip")
                cost, model = _speak(backend, recipe, utterance, plan, index, stored, audit)
                folder.secure(stored)
                spoken.append(
                    VoiceClipRecord(
                        shot=index,
                        params_hash=params_hash,
                        path=str(stored.relative_to(folder.root)),
                        backend=backend.name,
                        model=model or None,
                        voice=utterance.voice,
                        seconds=round(wav_seconds(stored), 3),
                        start_s=0.0,
                        cost_usd=cost,
                        file=file_record(stored),
                        text=utterance.text,
                    )
                )
            if not sample.is_file():
                _join([store / f"{params_hash}.wav" for _, params_hash in said], sample)
                folder.secure(sample)
        if spoken:
            with manifest.edit() as data:
                if data.voice is None:
                    data.voice = VoiceRecord(backend=backend.name, track="")
                fresh = {clip.params_hash for clip in spoken}
                data.voice.samples = [c for c in data.voice.samples if c.params_hash not in fresh] + spoken
        return {index: sample for index, (sample, _) in wanted.items()}
    finally:
        backend.close()


def _join(clips: list[Path], output: Path) -> None:
    """WAV clips of one voice backend, one after the other, as one WAV (via `*.part`)."""
    part = output.with_name(output.name + ".part")
    try:
        with wave.open(str(part), "wb") as out:
            shape = None
            for clip in clips:
                with clear_path(clip) as readable, wave.open(str(readable), "rb") as source:
                    params = (source.getnchannels(), source.getsampwidth(), source.getframerate())
                    if shape is None:
                        shape = params
                        out.setnchannels(params[0])
                        out.setsampwidth(params[1])
                        out.setframerate(params[2])
                    elif params != shape:
                        raise BackendError(f"{clip.name} is not in the format of the lines before it")
                    out.writeframes(source.readframes(source.getnframes()))
        place_media(part, output)  # sealed on the way in a media-sealed run
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def takes_a_voice(recipe: Recipe) -> bool:
    """The recipe says its lines in the clip with a model that is given the voice to say them with."""
    if not (in_clip(recipe) and recipe.voice.enabled):
        return False
    from tale_cli.backends import video_backend

    backend = video_backend(recipe)
    try:
        return backend.capabilities().reference_audio_s > 0
    finally:
        backend.close()


def unspoken_lines(plan: Plan, recipe: Recipe, folder: RunFolder) -> list[str]:
    """The lines a render still has to speak for its clips' voices (what it will pay for)."""
    if not takes_a_voice(recipe):
        return []
    backend = voice_backend(recipe)
    try:
        store = voice_dir(folder) / "by-hash"
        said = [pair for _, (_, pairs) in _samples(plan, recipe, folder, backend).items() for pair in pairs]
        return [utterance.text for utterance, params_hash in said if not _usable(store / f"{params_hash}.wav")]
    finally:
        backend.close()
