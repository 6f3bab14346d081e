"""Render orchestration: plan, references, shots (cached, checked, resumable), stitch, storyboard."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.audit import ATTEMPTS_NOTE, AuditLog
from tale_cli.backends import image_backend, video_backend
from tale_cli.backends.base import (
    ReferenceRequest,
    RenderResult,
    ShotRequest,
    VideoBackend,
    VideoCapabilities,
)
from tale_cli.config import Recipe
from tale_cli.errors import InputError, KeysError, QuotaError, RecipeError, ShotRefusedError, TaleError
from tale_cli.executors import ShotExecutor, ThreadExecutor
from tale_cli.media import ClipCheckError, check_clip, extract_frame
from tale_cli.plan import Plan, Shot, load_plan
from tale_cli.privacy import check_private, private_files
from tale_cli.redact import redact
from tale_cli.runfolder import Manifest, RunFolder, now_iso

if TYPE_CHECKING:
    from tale_cli.story import Story

HASH_VERSION = 1


@dataclass
class Event:
    """Progress for the CLI: a shot's state change (`index` set) or a message."""

    kind: str
    index: int | None = None
    state: str = ""
    detail: str = ""
    seconds: float | None = None


EventSink = Callable[[Event], None]


def _ignore(_: Event) -> None:
    return None


@dataclass
class RenderOptions:
    recipe: Recipe
    out_root: Path | None = None
    run_dir: Path | None = None
    jobs: int | None = None
    dry_run: bool = False
    planner: str | None = None
    burn_subtitles: bool = False
    transition: str | None = None
    audio: Path | None = None
    private: bool = False
    executor: ShotExecutor | None = None
    # Called with the plan, recipe, run folder and the shots that will render (not cached), before spending.
    before_spend: Callable[[Plan, Recipe, RunFolder, list[int]], None] | None = None


@dataclass
class ShotOutcome:
    index: int
    status: str
    params_hash: str
    path: Path | None = None
    error: str | None = None
    render_s: float | None = None
    refused: bool = False  # refused or quota-blocked: the recipe's fallback may render it


@dataclass
class RenderReport:
    run_dir: Path
    plan: Plan
    recipe: str
    dry_run: bool
    shots: list[ShotOutcome] = field(default_factory=list)
    film: Path | None = None
    srt: Path | None = None
    storyboard: Path | None = None
    duration_s: float | None = None
    seconds: float = 0.0
    plan_source: str = ""

    @property
    def cached(self) -> int:
        return sum(1 for s in self.shots if s.status == "cached")

    @property
    def rendered(self) -> int:
        return sum(1 for s in self.shots if s.status == "done")

    @property
    def failed(self) -> list[ShotOutcome]:
        return [s for s in self.shots if s.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "title": self.plan.title,
            "recipe": self.recipe,
            "dry_run": self.dry_run,
            "plan_source": self.plan_source,
            "film": str(self.film) if self.film else None,
            "srt": str(self.srt) if self.srt else None,
            "storyboard": str(self.storyboard) if self.storyboard else None,
            "duration_s": self.duration_s,
            "seconds": round(self.seconds, 3),
            "counts": {
                "shots": len(self.shots),
                "cached": self.cached,
                "rendered": self.rendered,
                "failed": len(self.failed),
            },
            "shots": [
                {
                    "index": s.index,
                    "status": s.status,
                    "params_hash": s.params_hash,
                    "path": str(s.path) if s.path else None,
                    "error": s.error,
                    "render_s": s.render_s,
                }
                for s in self.shots
            ],
        }


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
        job = self.manifest.shot(self.index).get("job")
        if isinstance(job, dict) and job.get("params_hash") == self.params_hash:
            return job
        return None

    def record_job(self, job: dict[str, Any]) -> None:
        self.manifest.update_shot(self.index, job={**job, "params_hash": self.params_hash, "recorded_at": now_iso()})


class RefJournal:
    def __init__(self, manifest: Manifest, character_id: str, params_hash: str) -> None:
        self.manifest = manifest
        self.character_id = character_id
        self.params_hash = params_hash

    def existing_job(self) -> dict[str, Any] | None:
        job = self.manifest.ref(self.character_id).get("job")
        if isinstance(job, dict) and job.get("params_hash") == self.params_hash:
            return job
        return None

    def record_job(self, job: dict[str, Any]) -> None:
        self.manifest.update_ref(self.character_id, job={**job, "params_hash": self.params_hash})


# ----------------------------------------------------------------------------------------------
# Stage 1: the plan


def default_out_root() -> Path:
    from tale_cli.config import load_defaults

    return Path(load_defaults().out_dir)


def is_plan_file(source: Path) -> bool:
    return source.suffix.lower() == ".json"


def prepare_plan(source: Path, options: RenderOptions) -> tuple[Plan, RunFolder, str, dict[str, Any] | None]:
    """Load or make the plan; choose the run folder. Returns (plan, folder, how, plan-origin record)."""
    recipe = options.recipe
    if source.is_dir():
        raise InputError(f"{source} is a directory, not a story or plan file", hint="pass story.md or plan.json")
    if is_plan_file(source):
        plan = load_plan(source)
        root = options.run_dir or (source.parent if options.out_root is None else options.out_root / plan.slug)
        return plan, RunFolder(root, private=options.private or recipe.private), f"read {source}", None

    from tale_cli.planners import shot_settings
    from tale_cli.story import read_story

    story = read_story(source)
    planner_name = options.planner or recipe.planner.backend
    shots, seconds = shot_settings(story, recipe)
    origin = {
        "story_sha256": story.sha256,
        "planner": planner_name,
        "model": recipe.planner.model,
        "shots": shots,
        "seconds": seconds,
        "size": [recipe.width, recipe.height, recipe.fps],
    }
    from tale_cli.plan import slugify

    slug = slugify(story.title, fallback=slugify(source.stem))
    out_root = options.out_root if options.out_root is not None else default_out_root()
    folder = RunFolder(options.run_dir or out_root / slug, private=options.private or recipe.private)
    folder.check_writable()
    previous = Manifest.load(folder).data.get("plan_origin") if folder.manifest.is_file() else None
    if previous == origin and folder.plan.is_file():
        return load_plan(folder.plan), folder, f"reused {folder.plan} (story unchanged)", origin
    plan = _plan_audited(story, recipe, planner_name, folder, dry_run=options.dry_run)
    _adopt_story_images(plan, story.path.parent, folder, dry_run=options.dry_run)
    return plan, folder, f"planned with {planner_name}", origin


def _plan_audited(story: Story, recipe: Recipe, planner_name: str, folder: RunFolder, *, dry_run: bool) -> Plan:
    """Plan the story and add the planner request to the run's audit log (not in a dry run, which writes nothing)."""
    from tale_cli.planners import LOCAL_PLANNERS, plan_story

    started = time.monotonic()

    def audit(outcome: str, error: str | None = None) -> None:
        # A remote planner's request is written at once (it may have been billed even if the render is then
        # refused); a local planner's waits until the run folder is written.
        remote = planner_name not in LOCAL_PLANNERS
        if remote:
            folder.create()
        AuditLog(folder.root, audit_prompts=recipe.audit_prompts).record(
            defer=not remote,
            role="planner",
            backend=planner_name,
            model=recipe.planner.model,
            shot=None,
            prompt=story.body,
            outcome=outcome,
            duration_s=time.monotonic() - started,
            error=error,
        )

    try:
        plan = plan_story(story, recipe, planner_name=planner_name)
    except Exception as error:
        # A local planner that fails has sent nothing anywhere; a remote one may have been billed.
        if not dry_run and planner_name not in LOCAL_PLANNERS:
            audit("error", getattr(error, "message", None) or str(error))
        raise
    if not dry_run:
        audit("ok")
    return plan


def _inside(base: Path, candidate: Path) -> Path:
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise InputError(f"{candidate} points outside {base}", hint="keep reference images beside the story or plan")
    return resolved


def _adopt_story_images(plan: Plan, story_dir: Path, folder: RunFolder, *, dry_run: bool) -> None:
    """Front-matter images live beside the story: copy them into refs/ so the plan is self-contained."""
    for character in plan.characters:
        if not character.reference_image:
            continue
        source = _inside(story_dir, story_dir / character.reference_image)
        if not source.is_file():
            raise InputError(f"reference image not found for {character.name}: {character.reference_image}")
        target = f"refs/{character.id}{source.suffix.lower() or '.png'}"
        if not dry_run:
            folder.create()
            shutil.copyfile(source, folder.root / target)
        character.reference_image = target


# ----------------------------------------------------------------------------------------------
# Stage 2: checks before anything is spent


def check_capabilities(plan: Plan, recipe: Recipe, capabilities: VideoCapabilities, backend_name: str) -> None:
    for shot in plan.shots:
        if not capabilities.supports_duration(shot.duration_s):
            allowed = (
                ", ".join(f"{d:g}" for d in capabilities.durations)
                if capabilities.durations
                else f"{capabilities.min_duration_s:g}-{capabilities.max_duration_s:g}"
            )
            raise RecipeError(
                f"shot {shot.index} lasts {shot.duration_s:g} s; the {backend_name} backend renders {allowed} s",
                hint="change `seconds` in the story front matter or recipe, or edit plan.json",
            )
    if capabilities.sizes is not None and (plan.width, plan.height) not in capabilities.sizes:
        sizes = ", ".join(f"{w}x{h}" for w, h in capabilities.sizes)
        raise RecipeError(f"{plan.width}x{plan.height} is not a size the {backend_name} backend renders ({sizes})")
    needs_first_frame = recipe.continuity in ("first-frame", "chain")
    if needs_first_frame and not capabilities.image_to_video:
        raise RecipeError(f"continuity '{recipe.continuity}' needs image-to-video, which {backend_name} lacks")
    if not capabilities.text_to_video and not plan.characters and recipe.continuity != "chain":
        raise RecipeError(
            f"the {backend_name} backend renders image-to-video only and this plan has no character to draw a first frame from",
            hint='add characters to the story, or set continuity = "chain" in the recipe',
        )
    if not capabilities.text_to_video and not needs_first_frame:
        raise RecipeError(
            f"the {backend_name} backend renders image-to-video only",
            hint='set continuity = "first-frame" or "chain" in the recipe',
        )


def preflight(plan: Plan, recipe: Recipe, backend: VideoBackend) -> None:
    """Each backend's own checks that cost nothing (keys present, options valid) before any spending."""
    backend.preflight()
    if any(not c.reference_image for c in plan.characters):
        images = image_backend(recipe)
        try:
            images.preflight()
        finally:
            images.close()


# ----------------------------------------------------------------------------------------------
# Stage 3: references


def render_references(
    plan: Plan, recipe: Recipe, folder: RunFolder, manifest: Manifest, emit: EventSink, audit: AuditLog | None = None
) -> dict[str, Path]:
    refs: dict[str, Path] = {}
    backend = None
    try:
        for character in plan.characters:
            if character.reference_image:
                refs[character.id] = _inside(folder.root, folder.root / character.reference_image)
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
            if entry.get("params_hash") == params_hash and entry.get("status") == "done" and target.is_file():
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
                _audit_request(
                    audit, "image", backend.name, None, prompt, None, started, error=error, character=character.id
                )
                raise
            _audit_request(audit, "image", backend.name, None, prompt, result, started, character=character.id)
            if not part.is_file() or part.stat().st_size == 0:
                raise TaleError(f"the {backend.name} image backend wrote no reference for {character.name}")
            os.replace(part, target)
            folder.secure(target)
            manifest.update_ref(
                character.id,
                backend=backend.name,
                model=result.model,
                params_hash=params_hash,
                status="done",
                path=str(target.relative_to(folder.root)),
                cost_usd=result.cost_usd,
                finished_at=now_iso(),
                render_s=round(time.monotonic() - started, 3),
            )
            refs[character.id] = target
    finally:
        if backend is not None:
            backend.close()
    return refs


# ----------------------------------------------------------------------------------------------
# Stage 4: shots


@dataclass
class _ShotTask:
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
) -> list[_ShotTask]:
    """One task per shot, with its cache key: chained shots key on their predecessor's key."""
    image_optional = backend.capabilities().text_to_video
    ref_hashes = {cid: file_digest(path) for cid, path in refs.items() if path.is_file()}
    tasks: list[_ShotTask] = []
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
            first_key = "after:" + tasks[-1].params_hash
        params_hash = shot_params_hash(
            backend, request, refs=[ref_hashes.get(c, "") for c in shot.characters], first_frame=first_key
        )
        request.journal = ShotJournal(manifest, shot.index, params_hash)
        request.output = folder.cache / f"{params_hash}.mp4.part"
        tasks.append(
            _ShotTask(
                shot=shot,
                params_hash=params_hash,
                request=request,
                predecessor=shot.index - 1 if chained else None,
                cached_file=folder.cache / f"{params_hash}.mp4",
            )
        )
    return tasks


def _is_cached(task: _ShotTask, manifest: Manifest) -> bool:
    entry = manifest.shot(task.shot.index)
    return (
        task.cached_file.is_file()
        and task.cached_file.stat().st_size > 0
        and (entry.get("params_hash") == task.params_hash and entry.get("status") in ("done", "cached"))
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
    tasks: list[_ShotTask],
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
    pending: dict[int, _ShotTask] = {}
    for task in tasks:
        index = task.shot.index
        if _is_cached(task, manifest):
            _link(task.cached_file, folder.shot_file(index))
            manifest.update_shot(index, status="done", path=str(folder.shot_file(index).relative_to(folder.root)))
            outcomes[index] = ShotOutcome(index, "cached", task.params_hash, folder.shot_file(index))
            emit(Event("shot", index=index, state="cached"))
        else:
            pending[index] = task
            emit(Event("shot", index=index, state="queued"))

    running: dict[Future[RenderResult], _ShotTask] = {}

    def ready(task: _ShotTask) -> bool:
        return task.predecessor is None or task.predecessor in outcomes

    def submit(task: _ShotTask) -> None:
        index = task.shot.index
        if task.predecessor is not None:
            before = outcomes[task.predecessor]
            if before.status == "failed" or before.path is None:
                message = f"not rendered: shot {task.predecessor} it continues from failed"
                manifest.update_shot(index, status="failed", error=message, params_hash=task.params_hash)
                outcomes[index] = ShotOutcome(index, "failed", task.params_hash, error=message)
                emit(Event("shot", index=index, state="failed", detail=message))
                return
            last = folder.cache / f"{before.params_hash}.last.png"
            if not last.is_file():
                extract_frame(before.path, last, at="last")
            task.request.first_frame = last
        with contextlib.suppress(FileNotFoundError):
            task.request.output.unlink()
        task.started = time.monotonic()
        manifest.update_shot(
            index,
            backend=backend_name,
            params_hash=task.params_hash,
            seed=task.request.seed,
            status="rendering",
            started_at=now_iso(),
            finished_at=None,
            error=None,
        )
        emit(Event("shot", index=index, state="rendering"))
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
            manifest.update_shot(task.shot.index, status="interrupted")
        raise
    return [outcomes[task.shot.index] for task in tasks]


def _audit_request(
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
    task: _ShotTask,
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
            _audit_request(audit, "video", backend_name, index, task.request.prompt, None, task.started, error=error)
            raise
        _audit_request(audit, "video", backend_name, index, task.request.prompt, result, task.started)
        if not result.checked:
            check_clip(part, expected_s=task.request.duration_s, fps=task.request.fps)
        os.replace(part, task.cached_file)
        folder.secure(task.cached_file)
        _link(task.cached_file, folder.shot_file(index))
    except (TaleError, ClipCheckError, OSError) as error:
        message = redact(getattr(error, "message", None) or str(error))
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        manifest.update_shot(index, status="failed", error=message, finished_at=now_iso(), render_s=elapsed)
        emit(Event("shot", index=index, state="failed", detail=message, seconds=elapsed))
        if isinstance(error, KeysError):
            raise  # a rejected key fails every other shot too: stop the run (exit 10), spend nothing more
        refused = isinstance(error, (ShotRefusedError, QuotaError))
        return ShotOutcome(index, "failed", task.params_hash, error=message, render_s=elapsed, refused=refused)
    manifest.update_shot(
        index,
        status="done",
        model=result.model,
        path=str(folder.shot_file(index).relative_to(folder.root)),
        provider_job_id=result.provider_job_id,
        billed_seconds=result.billed_seconds,
        billed_credits=result.billed_credits,
        cost_usd=result.cost_usd,
        finished_at=now_iso(),
        render_s=elapsed,
        error=None,
        **({"notes": result.notes} if result.notes else {}),
    )
    emit(Event("shot", index=index, state="done", seconds=elapsed))
    return ShotOutcome(index, "done", task.params_hash, folder.shot_file(index), render_s=elapsed)


def render_fallbacks(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    refs: dict[str, Path],
    outcomes: list[ShotOutcome],
    emit: EventSink,
    audit: AuditLog | None,
) -> tuple[list[ShotOutcome], list[_ShotTask]]:
    """Shots the provider refused (or had no quota for) rendered with the recipe's `fallback` recipe, marked so."""
    from tale_cli.config import load_recipe

    assert recipe.fallback is not None
    fallback = load_recipe(recipe.fallback)
    executor = ThreadExecutor(fallback)
    backend = executor.backend
    try:
        preflight(plan, fallback, backend)
        capabilities = backend.capabilities()
        refused = {
            o.index: o
            for o in outcomes
            if o.refused and capabilities.supports_duration(plan.shots[o.index - 1].duration_s)
        }
        if not refused:
            return outcomes, []
        emit(Event("message", detail=f"fallback: {len(refused)} refused shot(s) with recipe {fallback.name}"))
        tasks = [t for t in build_tasks(plan, fallback, folder, manifest, backend, refs) if t.shot.index in refused]
        known = {o.index: o for o in outcomes if o.index not in refused}
        redone = {
            o.index: o for o in run_shots(tasks, folder, manifest, executor, backend.name, emit, audit, known=known)
        }
    finally:
        executor.close()
    for index, first in refused.items():
        if redone[index].status == "done":
            manifest.update_shot(
                index, fallback={"recipe": fallback.name, "backend": backend.name, "reason": first.error}
            )
    return [redone.get(o.index, o) for o in outcomes], tasks


# ----------------------------------------------------------------------------------------------
# Stage 5: the film


def make_storyboard(plan: Plan, shot_files: list[Path], output: Path, *, mode: int = 0o644) -> Path:
    """A contact sheet of the shots' middle frames with shot numbers and prompts."""
    import tempfile

    from PIL import Image, ImageDraw

    from tale_cli.drawing import text_font, wrap_text

    columns = 4
    thumb_w, thumb_h = 400, round(400 * plan.height / plan.width)
    caption_h = 96
    rows = (len(shot_files) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * thumb_w, rows * (thumb_h + caption_h)), (18, 18, 22))
    draw = ImageDraw.Draw(sheet)
    with tempfile.TemporaryDirectory(prefix="tale-board-") as tmp:
        for number, (shot, clip) in enumerate(zip(plan.shots, shot_files, strict=True)):
            frame = extract_frame(clip, Path(tmp) / f"{number}.png", at="middle")
            with Image.open(frame) as image:
                thumb = image.convert("RGB").resize((thumb_w, thumb_h))
            x, y = (number % columns) * thumb_w, (number // columns) * (thumb_h + caption_h)
            sheet.paste(thumb, (x, y))
            label = text_font(shot.prompt, 14)
            draw.text((x + 8, y + thumb_h + 6), f"{shot.index}", font=text_font("0", 22), fill=(255, 210, 120))
            for line_no, line in enumerate(wrap_text(shot.prompt, 46)[:4]):
                draw.text((x + 36, y + thumb_h + 8 + line_no * 21), line, font=label, fill=(230, 230, 230))
    part = output.with_name(output.name + ".part")
    sheet.save(part, format="PNG")
    os.replace(part, output)
    output.chmod(mode)
    return output


def finish_film(
    plan: Plan, folder: RunFolder, manifest: Manifest, options: RenderOptions, emit: EventSink
) -> tuple[Path, Path | None, float]:
    from tale_cli.config import load_defaults
    from tale_cli.media import EncodeSettings
    from tale_cli.stitch import StitchOptions, stitch

    defaults = load_defaults()
    shot_files = [folder.shot_file(shot.index) for shot in plan.shots]
    emit(Event("message", detail="stitching the film"))
    result = stitch(
        shot_files,
        folder.film,
        StitchOptions(
            width=plan.width,
            height=plan.height,
            fps=plan.fps,
            captions=[shot.narration for shot in plan.shots],
            srt_path=folder.srt,
            burn_subtitles=options.burn_subtitles,
            transition=options.transition,
            audio=options.audio,
            encode=EncodeSettings(
                preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate
            ),
        ),
    )
    folder.secure(folder.film)
    folder.secure(folder.srt)
    make_storyboard(plan, shot_files, folder.storyboard, mode=folder.file_mode)
    manifest.set(
        "film",
        {
            "path": "film.mp4",
            "duration_s": round(result.duration_s, 3),
            "stitched_at": now_iso(),
            "fast_path": result.fast_path,
        },
    )
    return folder.film, result.srt, result.duration_s


def _prune_cache(folder: RunFolder, keep: set[str]) -> None:
    for path in folder.cache.iterdir():
        key = path.name.split(".")[0]
        if key not in keep and path.is_file() and not path.is_symlink():
            path.unlink()


# ----------------------------------------------------------------------------------------------
# The whole render


def _expected_refs(plan: Plan, folder: RunFolder) -> dict[str, Path]:
    """Where each character's reference is (or will be), to tell cached shots before references are drawn."""
    return {c.id: folder.root / (c.reference_image or f"refs/{c.id}.png") for c in plan.characters}


def _planner_record(plan: Plan, recipe: Recipe, planner: str | None, how: str) -> dict[str, Any]:
    """Who planned this film and what that cost: free for local planners, else the price book's figure."""
    backend = planner or recipe.planner.backend
    record: dict[str, Any] = {"backend": backend, "model": recipe.planner.model, "how": how, "finished_at": now_iso()}
    if not how.startswith("planned"):
        record["cost_usd"] = 0.0
        return record
    from tale_cli.cost import estimate_render

    planner_recipe = recipe.model_copy(update={"planner": recipe.planner.model_copy(update={"backend": backend})})
    estimate = estimate_render(plan, planner_recipe)
    record["cost_usd"] = round(estimate.planner_usd, 6)
    record["estimated"] = estimate.planner_usd > 0
    return record


def render(source: Path, options: RenderOptions, emit: EventSink = _ignore) -> RenderReport:
    """story.md or plan.json -> run folder with film.mp4. Validates everything before spending."""
    check_private(options.recipe, private=options.private, planner=options.planner)
    with private_files(options.private or options.recipe.private):
        return _render(source, options, emit)


def _render(source: Path, options: RenderOptions, emit: EventSink) -> RenderReport:
    started = time.monotonic()
    recipe = options.recipe
    plan, folder, how, origin = prepare_plan(source, options)
    folder.check_writable()
    executor = options.executor
    # An executor that keeps a driver-side backend (thread, process, Ray) lends it for checks and cache keys.
    backend: VideoBackend | None = getattr(executor, "backend", None)
    if backend is None:
        backend = video_backend(recipe)
    check_capabilities(plan, recipe, backend.capabilities(), backend.name)
    preflight(plan, recipe, backend)
    manifest = Manifest.load(folder)
    report = RenderReport(run_dir=folder.root, plan=plan, recipe=recipe.name, dry_run=options.dry_run, plan_source=how)

    if options.dry_run:
        refs = _expected_refs(plan, folder)
        for task in build_tasks(plan, recipe, folder, manifest, backend, refs):
            status = "cached" if _is_cached(task, manifest) else "would render"
            report.shots.append(ShotOutcome(task.shot.index, status, task.params_hash))
        if executor is None:
            backend.close()
        report.seconds = time.monotonic() - started
        return report

    emit(Event("message", detail=f"plan: {how}"))
    if options.before_spend is not None:
        pending = [
            task.shot.index
            for task in build_tasks(plan, recipe, folder, manifest, backend, _expected_refs(plan, folder))
            if not _is_cached(task, manifest)
        ]
        options.before_spend(plan, recipe, folder, pending)
    folder.create()
    audit = AuditLog(folder.root, audit_prompts=recipe.audit_prompts)
    audit.write_deferred()
    store_plan(plan, folder, source)
    manifest.data["run"].update({"slug": plan.slug, "recipe": recipe.name, "private": folder.private})
    if origin is not None:
        manifest.data["plan_origin"] = origin
    if how.startswith("planned") or not manifest.data.get("planner"):
        manifest.data["planner"] = _planner_record(plan, recipe, options.planner, how)
    manifest.save()

    refs = render_references(plan, recipe, folder, manifest, emit, audit)
    if executor is None:
        executor = ThreadExecutor(recipe, jobs=options.jobs, backend=backend)
    try:
        tasks = build_tasks(plan, recipe, folder, manifest, backend, refs)
        report.shots = run_shots(tasks, folder, manifest, executor, backend.name, emit, audit)
    finally:
        if options.executor is None:
            executor.close()
    if recipe.fallback and any(s.refused for s in report.shots):
        report.shots, fallback_tasks = render_fallbacks(plan, recipe, folder, manifest, refs, report.shots, emit, audit)
        tasks = [*tasks, *fallback_tasks]
    if report.failed:
        report.seconds = time.monotonic() - started
        return report
    report.film, report.srt, report.duration_s = finish_film(plan, folder, manifest, options, emit)
    report.storyboard = folder.storyboard
    _prune_cache(folder, {task.params_hash for task in tasks})
    report.seconds = time.monotonic() - started
    return report


def store_plan(plan: Plan, folder: RunFolder, source: Path) -> None:
    """Write plan.json; a planned story's earlier, different plan (perhaps hand-edited) is kept as plan.prev.json.

    A plan.json being rendered in place is left exactly as it is.
    """
    if is_plan_file(source) and folder.plan.exists() and folder.plan.samefile(source):
        return
    text = plan.to_json()
    replaced = folder.plan.is_file() and folder.plan.read_text(encoding="utf-8") != text
    if replaced and not is_plan_file(source):
        shutil.copyfile(folder.plan, folder.root / "plan.prev.json")
    folder.write_text(folder.plan, text)


@dataclass
class PlanResult:
    plan: Plan
    path: Path
    how: str


def write_plan(
    story: Path, *, recipe: Recipe, out_root: Path | None, planner: str | None = None, private: bool = False
) -> PlanResult:
    """`tale plan`: plan the story and write OUT/<slug>/plan.json (an edited one is kept as plan.prev.json)."""
    if is_plan_file(story):
        raise InputError(f"{story} is already a plan", hint="`tale render` renders a plan.json")
    check_private(recipe, private=private, planner=planner)
    with private_files(private or recipe.private):
        return _write_plan(story, RenderOptions(recipe=recipe, out_root=out_root, planner=planner, private=private))


def _write_plan(story: Path, options: RenderOptions) -> PlanResult:
    recipe = options.recipe
    plan, folder, how, origin = prepare_plan(story, options)
    if how.startswith("reused"):
        return PlanResult(plan, folder.plan, how)
    folder.create()
    AuditLog(folder.root, audit_prompts=recipe.audit_prompts).write_deferred()
    store_plan(plan, folder, story)
    manifest = Manifest.load(folder)
    manifest.data["plan_origin"] = origin
    manifest.data["run"].update({"slug": plan.slug, "recipe": recipe.name})
    manifest.save()
    return PlanResult(plan, folder.plan, how)
