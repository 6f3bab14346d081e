"""The music bed: an audio file, or a score a music backend composes for the film, kept under music/ by a hash of
what was asked, so a re-run composes nothing."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.backends.base import MusicBackend, MusicRequest
from tale_cli.errors import BackendError
from tale_cli.registry import Role, create, names
from tale_cli.run.folder import MusicRecord, now_iso
from tale_cli.run.identity import digest, file_damage, file_record

if TYPE_CHECKING:
    from tale_cli.audit import AuditLog
    from tale_cli.config import Recipe
    from tale_cli.plan import Plan
    from tale_cli.run.folder import Manifest, RunFolder

HASH_VERSION = 1
# What of the story a score prompt quotes: the first narrations, enough to set the mood.
MOOD_CHARS = 600


def composes(source: str) -> bool:
    """Whether a [music] source (or --music value) names a music backend rather than a file."""
    return source in names(Role.MUSIC)


def music_backend(recipe: Recipe) -> MusicBackend:
    backend: MusicBackend = create(Role.MUSIC, recipe.music.source, recipe)
    return backend


def score_prompt(plan: Plan, recipe: Recipe) -> str:
    """What to compose: the recipe's own prompt, else one from the film's title, style, length and first words."""
    if recipe.music.prompt:
        return recipe.music.prompt
    words = " ".join(shot.narration for shot in plan.shots if shot.narration)[:MOOD_CHARS]
    style = f" Visual style: {plan.style}." if plan.style else ""
    return (
        f'An instrumental score, no vocals, for a {plan.duration_s:.0f}-second short film, "{plan.title}".'
        f"{style} It sits under a narrator's voice: gentle dynamics, no sudden loud hits. The story: {words}"
    )


def _score_hash(backend: MusicBackend, prompt: str, seconds: float) -> str:

    return digest({"v": HASH_VERSION, **backend.fingerprint(), "prompt": prompt, "seconds": round(seconds, 3)})[:32]


def _score_file(folder: RunFolder, params_hash: str) -> Path:
    return folder.root / "music" / f"{params_hash}.wav"


def score_cached(plan: Plan, recipe: Recipe, folder: RunFolder) -> bool:
    """Whether the score this recipe composes for this plan is already in the run folder (so it costs nothing)."""
    backend = music_backend(recipe)
    try:
        path = _score_file(folder, _score_hash(backend, score_prompt(plan, recipe), plan.duration_s))
    finally:
        backend.close()
    return path.is_file() and not path.is_symlink()


def check_composer(recipe: Recipe) -> None:
    """The music backend's checks that cost nothing (model, key), before anything is spent."""
    backend = music_backend(recipe)
    try:
        backend.preflight()
    finally:
        backend.close()


def make_score(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    audit: AuditLog | None,
    *,
    say: Callable[[str], None] | None = None,
) -> Path:
    """The composed score for this plan: from music/ when it was composed before, else composed now."""
    from tale_cli.media import probe_audio
    from tale_cli.pipeline.shots import audit_request

    backend = music_backend(recipe)
    try:
        prompt = score_prompt(plan, recipe)
        params_hash = _score_hash(backend, prompt, plan.duration_s)
        path = _score_file(folder, params_hash)
        known = manifest.data.music
        recorded = known.file if known is not None and known.params_hash == params_hash else None
        if path.is_file() and not path.is_symlink():
            if recorded is None or file_damage(path, recorded) is None:
                return path
            if say is not None:
                say(f"music: the score {path.name} is damaged ({file_damage(path, recorded)}); composing it again")
        if path.parent.is_symlink():
            raise BackendError(f"{path.parent} is a symbolic link; Tale does not write through links in a run folder")
        path.parent.mkdir(exist_ok=True, mode=0o700 if folder.private else 0o755)
        part = path.with_name(path.name + ".part")
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        if say is not None:
            say(f"music: composing a score with {backend.name} ({backend.model})")
        started = time.monotonic()
        try:
            result = backend.compose(MusicRequest(prompt=prompt, seconds=plan.duration_s, output=part))
            seconds = probe_audio(part)
        except Exception as error:
            part.unlink(missing_ok=True)
            audit_request(audit, "music", backend.name, None, prompt, None, started, error=error)
            raise
        os.replace(part, path)
        folder.secure(path)
        audit_request(audit, "music", backend.name, None, prompt, result, started)
        with manifest.edit() as data:
            data.music = MusicRecord(
                backend=backend.name,
                model=result.model,
                params_hash=params_hash,
                path=str(path.relative_to(folder.root)),
                seconds=round(seconds, 3),
                cost_usd=result.cost_usd,
                made_at=now_iso(),
                file=file_record(path),
            )
        return path
    finally:
        backend.close()
