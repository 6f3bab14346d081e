"""Stage 4, the shots: content-hash cache keys, the job journal, bounded launches, checks, audit lines."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tale_cli.audit import ATTEMPTS_NOTE, AuditLog
from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend
from tale_cli.config import Recipe
from tale_cli.errors import KeysError, QuotaError, ShotRefusedError, TaleError
from tale_cli.executors import ShotExecutor
from tale_cli.media import ClipCheckError, check_clip, extract_frame
from tale_cli.pipeline.report import Event, EventSink, ShotOutcome, ShotState
from tale_cli.plan import Plan, Shot
from tale_cli.redact import redact
from tale_cli.runfolder import Manifest, RunFolder, ShotStatus, now_iso

HASH_VERSION = 1


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


class ShotJournal:
    """The manifest's record of a provider job for one shot and one set of parameters."""

    def __init__(self, manifest: Manifest, index: int, params_hash: str) -> None:
        self.manifest = manifest
        self.index = index
        self.params_hash = params_hash

    def existing_job(self) -> dict[str, Any] | None:
        job = self.manifest.shot(self.index).job
        if job is not None and job.get("params_hash") == self.params_hash:
            return job
        return None

    def record_job(self, job: dict[str, Any]) -> None:
        with self.manifest.edit_shot(self.index) as entry:
            entry.job = {**job, "params_hash": self.params_hash, "recorded_at": now_iso()}


@dataclass
class ShotTask:
    shot: Shot
    params_hash: str
    request: ShotRequest
    predecessor: int | None
    cached_file: Path
    started: float = 0.0


def _prompt_hash_fields(request: ShotRequest) -> dict[str, Any]:
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "size": [request.width, request.height],
        "fps": request.fps,
        "duration_s": request.duration_s,
        "seed": request.seed,
    }


def shot_params_hash(backend: VideoBackend, request: ShotRequest, *, refs: list[str], first_frame: str | None) -> str:
    fields: dict[str, Any] = {
        "v": HASH_VERSION,
        "backend": backend.name,
        **backend.fingerprint(),
        **_prompt_hash_fields(request),
        "refs": refs,
        "first_frame": first_frame,
    }
    extra = backend.request_fingerprint(request)
    if extra:
        fields["request"] = extra
    return digest(fields)[:32]


def build_tasks(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    backend: VideoBackend,
    refs: dict[str, Path],
) -> list[ShotTask]:
    """One task per shot, with its cache key: chained shots key on their predecessor's key."""
    image_optional = backend.capabilities().text_to_video
    ref_hashes = {cid: file_digest(path) for cid, path in refs.items() if path.is_file()}
    tasks: list[ShotTask] = []
    for shot in plan.shots:
        chained = shot.index > 1 and (recipe.continuity == "chain" and shot.continuity)
        present_ids = [c for c in shot.characters if c in refs]
        present = [refs[c] for c in present_ids]
        first_frame: Path | None = None
        first_key: str | None = None
        if recipe.continuity == "first-frame" and present:
            first_frame, first_key = present[0], ref_hashes.get(present_ids[0])
        elif not chained and not image_optional and refs:
            # An image-to-video-only model needs a picture for every shot: the film's first reference.
            fallback_id = next(c.id for c in plan.characters if c.id in refs)
            first_frame, first_key = refs[fallback_id], ref_hashes.get(fallback_id)
        request = ShotRequest(
            plan=plan,
            shot=shot,
            prompt=shot.prompt,
            negative_prompt=shot.negative_prompt,
            width=plan.width,
            height=plan.height,
            fps=plan.fps,
            duration_s=shot.duration_s,
            seed=plan.shot_seed(shot),
            output=Path(),
            journal=ShotJournal(manifest, shot.index, ""),
            first_frame=first_frame,
            reference_images=present,
        )
        if chained:
            first_key = "after:" + _clip_key(tasks[-1], manifest)
        params_hash = shot_params_hash(
            backend, request, refs=[ref_hashes.get(c, "") for c in shot.characters], first_frame=first_key
        )
        request.journal = ShotJournal(manifest, shot.index, params_hash)
        request.output = folder.cache / f"{params_hash}.mp4.part"
        tasks.append(
            ShotTask(
                shot=shot,
                params_hash=params_hash,
                request=request,
                predecessor=shot.index - 1 if chained else None,
                cached_file=folder.cache / f"{params_hash}.mp4",
            )
        )
    return tasks


def _clip_key(task: ShotTask, manifest: Manifest) -> str:
    """The cache key of the clip a shot's file will be: the fallback's, when this backend refused the shot with
    these parameters and the fallback rendered it (a chained shot then starts from the fallback's last frame)."""
    entry = manifest.shot(task.shot.index)
    if entry.fallback is not None and entry.fallback.refused_hash == task.params_hash and entry.params_hash:
        return entry.params_hash
    return task.params_hash


def is_cached(task: ShotTask, manifest: Manifest) -> bool:
    entry = manifest.shot(task.shot.index)
    return (
        task.cached_file.is_file()
        and task.cached_file.stat().st_size > 0
        and entry.params_hash == task.params_hash
        and entry.status == ShotStatus.DONE
    )


def _link(source: Path, target: Path) -> None:
    """shots/shot-NN.mp4 as a hard link to its hash-named file (a copy where links are not allowed)."""
    if target.is_symlink() or target.exists():
        if not target.is_symlink() and target.samefile(source):
            return
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def run_shots(
    tasks: list[ShotTask],
    folder: RunFolder,
    manifest: Manifest,
    executor: ShotExecutor,
    backend_name: str,
    emit: EventSink,
    audit: AuditLog | None = None,
    known: dict[int, ShotOutcome] | None = None,
) -> list[ShotOutcome]:
    """Render what is not cached, each shot after its predecessor; `known` holds outcomes decided earlier."""
    outcomes: dict[int, ShotOutcome] = dict(known or {})
    pending: dict[int, ShotTask] = {}
    for task in tasks:
        index = task.shot.index
        if is_cached(task, manifest):
            _link(task.cached_file, folder.shot_file(index))
            with manifest.edit_shot(index) as entry:
                entry.status = ShotStatus.DONE
                entry.path = str(folder.shot_file(index).relative_to(folder.root))
            outcomes[index] = ShotOutcome(index, ShotState.CACHED, task.params_hash, folder.shot_file(index))
            emit(Event("shot", index=index, state=ShotState.CACHED))
        else:
            pending[index] = task
            emit(Event("shot", index=index, state=ShotState.QUEUED))

    running: dict[Future[RenderResult], ShotTask] = {}

    def ready(task: ShotTask) -> bool:
        return task.predecessor is None or task.predecessor in outcomes

    def submit(task: ShotTask) -> None:
        index = task.shot.index
        if task.predecessor is not None:
            before = outcomes[task.predecessor]
            if before.status == ShotState.FAILED or before.path is None:
                message = f"not rendered: shot {task.predecessor} it continues from failed"
                with manifest.edit_shot(index) as entry:
                    entry.status = ShotStatus.FAILED
                    entry.error = message
                    entry.params_hash = task.params_hash
                outcomes[index] = ShotOutcome(index, ShotState.FAILED, task.params_hash, error=message)
                emit(Event("shot", index=index, state=ShotState.FAILED, detail=message))
                return
            last = folder.cache / f"{before.params_hash}.last.png"
            if not last.is_file():
                extract_frame(before.path, last, at="last")
            task.request.first_frame = last
        with contextlib.suppress(FileNotFoundError):
            task.request.output.unlink()
        task.started = time.monotonic()
        with manifest.edit_shot(index) as entry:
            entry.backend = backend_name
            entry.params_hash = task.params_hash
            entry.seed = task.request.seed
            entry.status = ShotStatus.RENDERING
            entry.started_at = now_iso()
            entry.finished_at = None
            entry.error = None
        emit(Event("shot", index=index, state=ShotState.RENDERING))
        running[executor.submit(task.request)] = task

    def launch_ready() -> None:
        # Never more in flight than the executor has workers: a stop (Ctrl-C, a rejected key) then
        # leaves nothing queued that could still start and spend.
        for index in sorted(pending):
            if len(running) >= max(1, executor.workers):
                return
            task = pending[index]
            if ready(task):
                del pending[index]
                submit(task)

    try:
        launch_ready()
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                outcomes[task.shot.index] = _finish(task, future, folder, manifest, emit, audit, backend_name)
            launch_ready()
    except BaseException:
        for future, task in running.items():
            future.cancel()
            with manifest.edit_shot(task.shot.index) as entry:
                entry.status = ShotStatus.INTERRUPTED
        raise
    return [outcomes[task.shot.index] for task in tasks]


def audit_request(
    audit: AuditLog | None,
    role: str,
    backend: str,
    shot: int | None,
    prompt: str,
    result: RenderResult | None,
    started: float,
    *,
    error: BaseException | None = None,
    character: str | None = None,
) -> None:
    """One audit line per request; a backend's retried attempts (RenderResult.notes["attempts"]) come first."""
    if audit is None:
        return
    same: dict[str, Any] = {"role": role, "backend": backend, "shot": shot, "prompt": prompt, "character": character}
    model = result.model if result is not None else ""
    attempts = result.notes.pop(ATTEMPTS_NOTE, []) if result is not None else []
    attempts = attempts if isinstance(attempts, list) else []
    for number, attempt in enumerate(attempts, start=1):
        failed = attempt if isinstance(attempt, dict) else {}
        outcome = str(failed.get("outcome", "retry"))
        audit.record(**same, model=model, attempt=number, outcome=outcome, error=str(failed.get("error", "")) or None)
    units, unit = None, None
    if result is not None and result.billed_seconds is not None:
        units, unit = result.billed_seconds, "seconds"
    elif result is not None and result.billed_credits is not None:
        units, unit = result.billed_credits, "credits"
    audit.record(
        **same,
        model=model,
        attempt=len(attempts) + 1,
        outcome="ok" if error is None else "error",
        billed_units=units,
        unit=unit,
        cost_usd=result.cost_usd if result is not None else None,
        job_id=result.provider_job_id if result is not None else None,
        duration_s=time.monotonic() - started,
        error=None if error is None else getattr(error, "message", None) or str(error) or type(error).__name__,
    )


def _finish(
    task: ShotTask,
    future: Future[RenderResult],
    folder: RunFolder,
    manifest: Manifest,
    emit: EventSink,
    audit: AuditLog | None = None,
    backend_name: str = "",
) -> ShotOutcome:
    index = task.shot.index
    elapsed = round(time.monotonic() - task.started, 3)
    part = task.request.output
    try:
        try:
            result = future.result()
        except Exception as error:
            audit_request(audit, "video", backend_name, index, task.request.prompt, None, task.started, error=error)
            raise
        audit_request(audit, "video", backend_name, index, task.request.prompt, result, task.started)
        if not result.checked:
            check_clip(part, expected_s=task.request.duration_s, fps=task.request.fps)
        os.replace(part, task.cached_file)
        folder.secure(task.cached_file)
        _link(task.cached_file, folder.shot_file(index))
    except (TaleError, ClipCheckError, OSError) as error:
        message = redact(getattr(error, "message", None) or str(error))
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        with manifest.edit_shot(index) as entry:
            entry.status = ShotStatus.FAILED
            entry.error = message
            entry.finished_at = now_iso()
            entry.render_s = elapsed
        emit(Event("shot", index=index, state=ShotState.FAILED, detail=message, seconds=elapsed))
        if isinstance(error, KeysError):
            raise  # a rejected key fails every other shot too: stop the run (exit 10), spend nothing more
        refused = isinstance(error, (ShotRefusedError, QuotaError))
        return ShotOutcome(index, ShotState.FAILED, task.params_hash, error=message, render_s=elapsed, refused=refused)
    with manifest.edit_shot(index) as entry:
        entry.status = ShotStatus.DONE
        entry.model = result.model
        entry.path = str(folder.shot_file(index).relative_to(folder.root))
        entry.provider_job_id = result.provider_job_id
        entry.billed_seconds = result.billed_seconds
        entry.billed_credits = result.billed_credits
        entry.cost_usd = result.cost_usd
        entry.finished_at = now_iso()
        entry.render_s = elapsed
        entry.error = None
        if result.notes:
            entry.notes = result.notes
    emit(Event("shot", index=index, state=ShotState.DONE, seconds=elapsed))
    return ShotOutcome(index, ShotState.DONE, task.params_hash, folder.shot_file(index), render_s=elapsed)
