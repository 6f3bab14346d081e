"""The whole render: checks before anything is spent, references, shots, fallbacks, then the film."""

from __future__ import annotations

import time
from pathlib import Path

from tale_cli.audit import AuditLog
from tale_cli.backends import image_backend, video_backend
from tale_cli.backends.base import VideoBackend, VideoCapabilities
from tale_cli.config import Recipe
from tale_cli.errors import RecipeError
from tale_cli.executors import open_executor
from tale_cli.pipeline.options import RenderOptions
from tale_cli.pipeline.planning import PlanSource, choose_folder, planner_record, prepare_plan, store_plan
from tale_cli.pipeline.references import render_references
from tale_cli.pipeline.report import Event, EventSink, RenderReport, ShotOutcome, ShotState, ignore_events
from tale_cli.pipeline.shots import ShotTask, build_tasks, is_cached, run_shots
from tale_cli.pipeline.storyboard import make_storyboard
from tale_cli.plan import Plan
from tale_cli.privacy import check_private, private_files
from tale_cli.runfolder import FallbackRecord, FilmRecord, Manifest, RunFolder, now_iso


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


def render_fallbacks(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    refs: dict[str, Path],
    outcomes: list[ShotOutcome],
    emit: EventSink,
    audit: AuditLog | None,
) -> tuple[list[ShotOutcome], list[ShotTask]]:
    """Shots the provider refused (or had no quota for) rendered with the recipe's `fallback` recipe, marked so."""
    from tale_cli.config import load_recipe

    assert recipe.fallback is not None
    fallback = load_recipe(recipe.fallback)
    executor = open_executor(fallback)
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
        if redone[index].status == ShotState.DONE:
            with manifest.edit_shot(index) as entry:
                entry.fallback = FallbackRecord(recipe=fallback.name, backend=backend.name, reason=first.error)
    return [redone.get(o.index, o) for o in outcomes], tasks


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
    with manifest.edit() as data:
        data.film = FilmRecord(
            path="film.mp4",
            duration_s=round(result.duration_s, 3),
            stitched_at=now_iso(),
            fast_path=result.fast_path,
        )
    return folder.film, result.srt, result.duration_s


def _prune_cache(folder: RunFolder, keep: set[str]) -> None:
    for path in folder.cache.iterdir():
        key = path.name.split(".")[0]
        if key not in keep and path.is_file() and not path.is_symlink():
            path.unlink()


def _expected_refs(plan: Plan, folder: RunFolder) -> dict[str, Path]:
    """Where each character's reference is (or will be), to tell cached shots before references are drawn."""
    return {c.id: folder.root / (c.reference_image or f"refs/{c.id}.png") for c in plan.characters}


def render(source: Path, options: RenderOptions, emit: EventSink = ignore_events) -> RenderReport:
    """story.md or plan.json -> run folder with film.mp4. Validates everything before spending.

    The run folder is held from before planning to the end (tale_cli.lock): a second render of it waits,
    then finds everything cached. A dry run writes nothing, so it holds nothing.
    """
    from tale_cli.lock import run_folder_lock

    check_private(options.recipe, private=options.private, planner=options.planner)
    with private_files(options.private or options.recipe.private):
        folder = choose_folder(source, options)
        if options.dry_run:
            return _render(source, options, emit, folder)
        with run_folder_lock(
            folder, "rendering", wait=options.wait, on_wait=lambda text: emit(Event("message", detail=text))
        ):
            return _render(source, options, emit, folder)


def _render(source: Path, options: RenderOptions, emit: EventSink, folder: RunFolder) -> RenderReport:
    started = time.monotonic()
    recipe = options.recipe
    prepared = prepare_plan(source, options, folder)
    plan, folder = prepared.plan, prepared.folder
    folder.check_writable()
    executor = options.executor
    # The executor's own backend, when one is given, so that checks and cache keys match what its workers run.
    backend = executor.backend if executor is not None else video_backend(recipe)
    check_capabilities(plan, recipe, backend.capabilities(), backend.name)
    preflight(plan, recipe, backend)
    manifest = Manifest.load(folder)
    report = RenderReport(
        run_dir=folder.root, plan=plan, recipe=recipe.name, dry_run=options.dry_run, plan_source=prepared.how
    )

    if options.dry_run:
        if prepared.source is PlanSource.NOT_PLANNED:
            report.planning_usd = planner_record(prepared, recipe, options.planner).cost_usd
        refs = _expected_refs(plan, folder)
        for task in build_tasks(plan, recipe, folder, manifest, backend, refs):
            status = ShotState.CACHED if is_cached(task, manifest) else ShotState.WOULD_RENDER
            report.shots.append(ShotOutcome(task.shot.index, status, task.params_hash))
        if executor is None:
            backend.close()
        report.seconds = time.monotonic() - started
        return report

    emit(Event("message", detail=f"plan: {prepared.how}"))
    if options.before_spend is not None:
        pending = [
            task.shot.index
            for task in build_tasks(plan, recipe, folder, manifest, backend, _expected_refs(plan, folder))
            if not is_cached(task, manifest)
        ]
        options.before_spend(plan, recipe, folder, pending)
    folder.create()
    audit = AuditLog(folder.root, audit_prompts=recipe.audit_prompts)
    audit.write_deferred()
    store_plan(plan, folder, source)
    with manifest.edit() as data:
        data.run.slug = plan.slug
        data.run.recipe = recipe.name
        data.run.private = folder.private
        if prepared.origin is not None:
            data.plan_origin = prepared.origin
        if prepared.source is PlanSource.PLANNED or data.planner is None:
            data.planner = planner_record(prepared, recipe, options.planner)

    refs = render_references(plan, recipe, folder, manifest, emit, audit)
    if executor is None:
        executor = open_executor(recipe, jobs=options.jobs, backend=backend)
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
