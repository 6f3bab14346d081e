"""Stage 3, the references: one picture per character and per entity, drawn once and kept while its inputs stay the
same."""

from __future__ import annotations

import contextlib
import stat
import time
from pathlib import Path

from tale_cli.backends import image_backend
from tale_cli.backends.base import ImageBackend, ReferenceRequest
from tale_cli.config import Recipe
from tale_cli.errors import TaleError
from tale_cli.events import Event, EventSink
from tale_cli.files import digest, link_or_copy, now_iso
from tale_cli.keys.audit import AuditLog, audit_request
from tale_cli.keys.seal import clear_path, place_media
from tale_cli.media.pictures import check_picture
from tale_cli.pipeline.planning import inside_folder
from tale_cli.record import FileRecord
from tale_cli.run.folder import Manifest, RefRecord, RefStatus, RunFolder
from tale_cli.run.identity import file_damage, file_record
from tale_cli.run.journal import JobJournal
from tale_cli.story.plan import Character, Entity, Plan


def _decodes(path: Path) -> bool:
    from PIL import Image

    try:
        with clear_path(path) as readable, Image.open(readable) as image:
            image.verify()
    except Exception:  # Pillow raises many kinds of error for a broken file
        return False
    return True


def _cached_reference(
    manifest: Manifest, character_id: str, params_hash: str, target: Path, stored: Path, *, peek: bool = False
) -> FileRecord | None:
    """The reference's picture in refs/by-hash, verified as shots' clips are; None when it must be drawn.
    `peek` only looks: nothing is linked into place."""
    entry = manifest.ref(character_id)
    current = entry.params_hash == params_hash and entry.status == RefStatus.DONE
    if current and not stored.exists() and target.is_file() and not target.is_symlink():
        if peek:
            return entry.file if entry.file is not None and not file_damage(target, entry.file) else None
        link_or_copy(target, stored)  # a run folder from an earlier version keeps it as refs/<id>.png only
    try:
        info = stored.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    finished = manifest.journal.finished_ref(params_hash)
    known = finished.file if finished is not None else None
    if known is None and current:
        known = entry.file
    if known is not None:
        return None if file_damage(stored, known) else known
    return file_record(stored) if _decodes(stored) else None


def _use_cached_reference(
    manifest: Manifest, character_id: str, params_hash: str, picture: FileRecord, path: str, backend: str
) -> None:
    entry = manifest.ref(character_id)
    if entry.params_hash == params_hash and entry.status == RefStatus.DONE and entry.file == picture:
        return
    # Found by its hash rather than through the manifest: the entry written when it was drawn, when the journal has it.
    start_from = manifest.journal.finished_ref(params_hash)
    if start_from is None and entry.params_hash != params_hash:
        start_from = RefRecord(backend=backend, params_hash=params_hash)
    with manifest.finish_ref(character_id, start_from=start_from) as entry:
        entry.status = RefStatus.DONE
        entry.path = path
        entry.file = picture


def check_reference_pictures(plan: Plan, folder: RunFolder, *, dry_run: bool) -> None:
    """Every picture the plan names, checked before the first paid request (a story's own pictures were checked
    where they lie, and a dry run does not copy them into the run folder)."""
    for subject in plan.subjects():
        if not subject.reference_image:
            continue
        path = inside_folder(folder.root, folder.root / subject.reference_image)
        if dry_run and not path.exists():
            continue
        check_picture(path, f"reference image for {subject.name} ({subject.reference_image})")


def _reference_key(plan: Plan, subject: Character | Entity, backend: ImageBackend) -> tuple[int, str]:
    """A reference's seed and cache key: what it is drawn from, with the image backend's settings. An entity's key
    also holds its kind, so no entity shares a character's key."""
    seed = (plan.seed + sum(map(ord, subject.id))) % 2**32
    params = {
        "backend": backend.name,
        **backend.fingerprint(),
        "name": subject.name,
        "description": subject.description,
        "style": plan.style,
        "seed": seed,
    }
    if isinstance(subject, Entity):
        params["kind"] = subject.kind
    return seed, digest(params)


def reference_prompt(plan: Plan, subject: Character | Entity) -> str:
    """What the image model is asked to draw: a character sheet; a place as an establishing view with nobody in it;
    a prop or piece of wardrobe alone on a plain background."""
    described = f"{subject.name}: {subject.description}".strip().rstrip(":")
    if not isinstance(subject, Entity):
        return f"Character reference sheet, {plan.style}. {subject.name}: {subject.description}".strip()
    if subject.kind == "place":
        return f"Establishing view of a place, no people, {plan.style}. {described}"
    worn = " (clothing, shown unworn)" if subject.kind == "wardrobe" else ""
    return f"Object reference{worn}, the object alone, centred on a plain neutral background, {plan.style}. {described}"


def _drawn(plan: Plan) -> list[Character | Entity]:
    """Whose reference is drawn: each character and entity without a picture of its own."""
    return [subject for subject in plan.subjects() if not subject.reference_image]


def references_to_draw(plan: Plan, recipe: Recipe, folder: RunFolder, manifest: Manifest) -> list[str]:
    """The characters and entities whose reference a render would draw (and pay for) now: no picture of their own,
    and none drawn from the same inputs in the run folder. Reads only; draws nothing."""
    missing = _drawn(plan)
    if not missing:
        return []
    backend = image_backend(recipe)
    try:
        to_draw = []
        for subject in missing:
            _, params_hash = _reference_key(plan, subject, backend)
            target = folder.refs / f"{subject.id}.png"
            stored = folder.ref_cache / f"{params_hash}.png"
            journaled = JobJournal(manifest, params_hash, ref=subject.id).existing_job() is not None
            if (
                not journaled
                and _cached_reference(manifest, subject.id, params_hash, target, stored, peek=True) is None
            ):
                to_draw.append(subject.id)
        return to_draw
    finally:
        backend.close()


def render_references(
    plan: Plan, recipe: Recipe, folder: RunFolder, manifest: Manifest, emit: EventSink, audit: AuditLog | None = None
) -> dict[str, Path]:
    refs: dict[str, Path] = {}
    backend = None
    try:
        for subject in plan.subjects():
            if subject.reference_image:
                refs[subject.id] = inside_folder(folder.root, folder.root / subject.reference_image)
                continue
            target = folder.refs / f"{subject.id}.png"
            if backend is None:
                backend = image_backend(recipe)
            seed, params_hash = _reference_key(plan, subject, backend)
            stored = folder.ref_cache / f"{params_hash}.png"
            path = str(target.relative_to(folder.root))
            picture = _cached_reference(manifest, subject.id, params_hash, target, stored)
            if picture is not None:
                link_or_copy(stored, target)
                _use_cached_reference(manifest, subject.id, params_hash, picture, path, backend.name)
                refs[subject.id] = target
                continue
            emit(Event("message", detail=f"reference image for {subject.name}"))
            part = target.with_name(target.name + ".part")
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            prompt = reference_prompt(plan, subject)
            started = time.monotonic()
            try:
                result = backend.render_reference(
                    ReferenceRequest(
                        plan=plan,
                        character=subject,
                        prompt=prompt,
                        seed=seed,
                        output=part,
                        journal=JobJournal(manifest, params_hash, ref=subject.id),
                    )
                )
            except Exception as error:
                part.unlink(missing_ok=True)
                audit_request(
                    audit, "image", backend.name, None, prompt, None, started, error=error, character=subject.id
                )
                raise
            except BaseException:
                part.unlink(missing_ok=True)  # stopped by Ctrl-C or a signal: no half-drawn picture stays
                raise
            audit_request(audit, "image", backend.name, None, prompt, result, started, character=subject.id)
            if not part.is_file() or part.stat().st_size == 0:
                raise TaleError(f"the {backend.name} image backend wrote no reference for {subject.name}")
            place_media(part, stored)  # sealed on the way in a media-sealed run
            folder.secure(stored)
            link_or_copy(stored, target)
            picture = file_record(stored)
            with manifest.finish_ref(subject.id) as entry:
                entry.backend = backend.name
                entry.model = result.model
                entry.params_hash = params_hash
                entry.status = RefStatus.DONE
                entry.path = path
                entry.cost_usd = result.cost_usd
                entry.finished_at = now_iso()
                entry.render_s = round(time.monotonic() - started, 3)
                entry.file = picture
            refs[subject.id] = target
    finally:
        if backend is not None:
            backend.close()
    return refs
