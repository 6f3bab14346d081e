"""Stage 3, the references: one picture per character, drawn once and kept while its inputs stay the same."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from tale_cli.audit import AuditLog
from tale_cli.backends import image_backend
from tale_cli.backends.base import ReferenceRequest
from tale_cli.config import Recipe
from tale_cli.errors import TaleError
from tale_cli.pipeline.planning import inside_folder
from tale_cli.pipeline.report import Event, EventSink
from tale_cli.pipeline.shots import audit_request, digest
from tale_cli.plan import Plan
from tale_cli.runfolder import Manifest, RefStatus, RunFolder, now_iso


class RefJournal:
    """The manifest's record of a provider job for one character's reference and one set of parameters."""

    def __init__(self, manifest: Manifest, character_id: str, params_hash: str) -> None:
        self.manifest = manifest
        self.character_id = character_id
        self.params_hash = params_hash

    def existing_job(self) -> dict[str, Any] | None:
        job = self.manifest.ref(self.character_id).job
        if job is not None and job.get("params_hash") == self.params_hash:
            return job
        return None

    def record_job(self, job: dict[str, Any]) -> None:
        with self.manifest.edit_ref(self.character_id) as entry:
            entry.job = {**job, "params_hash": self.params_hash}


def render_references(
    plan: Plan, recipe: Recipe, folder: RunFolder, manifest: Manifest, emit: EventSink, audit: AuditLog | None = None
) -> dict[str, Path]:
    refs: dict[str, Path] = {}
    backend = None
    try:
        for character in plan.characters:
            if character.reference_image:
                refs[character.id] = inside_folder(folder.root, folder.root / character.reference_image)
                continue
            target = folder.refs / f"{character.id}.png"
            if backend is None:
                backend = image_backend(recipe)
            seed = (plan.seed + sum(map(ord, character.id))) % 2**32
            params = {
                "backend": backend.name,
                **backend.fingerprint(),
                "name": character.name,
                "description": character.description,
                "style": plan.style,
                "seed": seed,
            }
            params_hash = digest(params)
            entry = manifest.ref(character.id)
            if entry.params_hash == params_hash and entry.status == RefStatus.DONE and target.is_file():
                refs[character.id] = target
                continue
            emit(Event("message", detail=f"reference image for {character.name}"))
            part = target.with_name(target.name + ".part")
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            prompt = f"Character reference sheet, {plan.style}. {character.name}: {character.description}".strip()
            started = time.monotonic()
            try:
                result = backend.render_reference(
                    ReferenceRequest(
                        plan=plan,
                        character=character,
                        prompt=prompt,
                        seed=seed,
                        output=part,
                        journal=RefJournal(manifest, character.id, params_hash),
                    )
                )
            except Exception as error:
                audit_request(
                    audit, "image", backend.name, None, prompt, None, started, error=error, character=character.id
                )
                raise
            audit_request(audit, "image", backend.name, None, prompt, result, started, character=character.id)
            if not part.is_file() or part.stat().st_size == 0:
                raise TaleError(f"the {backend.name} image backend wrote no reference for {character.name}")
            os.replace(part, target)
            folder.secure(target)
            with manifest.edit_ref(character.id) as entry:
                entry.backend = backend.name
                entry.model = result.model
                entry.params_hash = params_hash
                entry.status = RefStatus.DONE
                entry.path = str(target.relative_to(folder.root))
                entry.cost_usd = result.cost_usd
                entry.finished_at = now_iso()
                entry.render_s = round(time.monotonic() - started, 3)
            refs[character.id] = target
    finally:
        if backend is not None:
            backend.close()
    return refs
