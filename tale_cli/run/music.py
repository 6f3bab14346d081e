"""The run's composed score: made once by the recipe's music backend, kept under music/ with its size and digest
(a damaged one composed again), and recorded in the manifest."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.backends.base import MusicRequest
from tale_cli.errors import BackendError
from tale_cli.files import now_iso
from tale_cli.film.music import _score_hash, music_backend, score_prompt
from tale_cli.keys.audit import audit_request
from tale_cli.keys.seal import place_media
from tale_cli.run.film_records import MusicRecord
from tale_cli.run.identity import file_damage, file_record

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.keys.audit import AuditLog
    from tale_cli.run.folder import Manifest, RunFolder
    from tale_cli.story.plan import Plan


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
    from tale_cli.media.ffmpeg import probe_audio

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
        place_media(part, path)  # sealed on the way in a media-sealed run
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
