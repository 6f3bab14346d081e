"""The whole render: checks before anything is spent, references, shots, fallbacks, then the film."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tale_cli.backends import video_backend
from tale_cli.backends.base import VideoBackend
from tale_cli.config import Recipe, recipe_file, recipe_tier
from tale_cli.cost.guard import Owed
from tale_cli.errors import BudgetError, InputError, missing_extra
from tale_cli.events import Event, EventSink, ShotState, ignore_events
from tale_cli.executors import ShotExecutor, open_executor
from tale_cli.film.music import check_composer, composes
from tale_cli.film.voice import VoiceTrack, check_voice
from tale_cli.keys.audit import AuditLog
from tale_cli.keys.needs import check_keys
from tale_cli.keys.privacy import check_private, private_files
from tale_cli.literals import Tier
from tale_cli.pipeline.checks import check_capabilities, line_voices, plan_for_shots, preflight
from tale_cli.pipeline.options import RenderOptions
from tale_cli.pipeline.planning import (
    PlanSource,
    PreparedPlan,
    choose_folder,
    is_plan_file,
    planner_record,
    prepare_plan,
    shaped_options,
)
from tale_cli.pipeline.references import check_reference_pictures, render_references
from tale_cli.pipeline.report import RenderReport, ShotOutcome
from tale_cli.pipeline.review import write_review
from tale_cli.pipeline.shots import ShotTask, build_tasks, is_cached, run_shots
from tale_cli.registry import check_lifecycles
from tale_cli.run.cut import MAKE, CutResult, CutSettings, cut, music_bed
from tale_cli.run.folder import FallbackRecord, Manifest, PlannerRecord, RunFolder, ShotStatus, expected_refs
from tale_cli.run.music import make_score
from tale_cli.run.plan_file import save_plan
from tale_cli.run.voice import make_voice_track
from tale_cli.story.plan import Plan


def refused_before(tasks: list[ShotTask], manifest: Manifest) -> dict[int, ShotOutcome]:
    """Shots this recipe's provider refused with these very parameters in an earlier run, as the manifest's
    fallback records say: the fallback renders them (or has them cached) without asking the provider again."""
    refused: dict[int, ShotOutcome] = {}
    for task in tasks:
        if task.kept is not None:
            continue  # the shot keeps its chosen take; nothing is asked of any provider
        record = manifest.shot(task.shot.index).fallback
        if record is not None and record.refused_hash == task.params_hash:
            index = task.shot.index
            refused[index] = ShotOutcome(index, ShotState.FAILED, task.params_hash, error=record.reason, refused=True)
    return refused


def render_fallbacks(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    refs: dict[str, Path],
    outcomes: list[ShotOutcome],
    tasks: list[ShotTask],
    executor: ShotExecutor,
    emit: EventSink,
    audit: AuditLog | None,
) -> list[ShotOutcome]:
    """Shots the provider refused (or had no quota for) rendered with the recipe's `fallback` recipe, marked so.

    A shot chained after one the fallback rendered starts from the fallback's last frame, so it renders
    (again) on `executor`, the recipe's own; if the provider refuses one of those, the fallback takes it too.
    """
    from tale_cli.config import load_recipe

    assert recipe.fallback is not None
    fallback = load_recipe(recipe.fallback)
    fallback_executor = open_executor(fallback)
    fallback_backend = fallback_executor.backend
    by_index = {o.index: o for o in outcomes}
    own = {task.shot.index: task for task in tasks}
    handed_over: set[int] = set()
    try:
        preflight(plan, fallback, fallback_backend)
        capabilities = fallback_backend.capabilities()
        while True:
            refused = {
                i: o
                for i, o in by_index.items()
                if o.refused and i not in handed_over and capabilities.supports_duration(plan.shots[i - 1].duration_s)
            }
            if not refused:
                break
            handed_over |= refused.keys()
            emit(Event("message", detail=f"fallback: {len(refused)} refused shot(s) with recipe {fallback.name}"))
            batch = [
                t
                for t in build_tasks(plan, fallback, folder, manifest, fallback_backend, refs)
                if t.shot.index in refused
            ]
            for task in batch:
                task.tier = own[task.shot.index].tier  # a draft's fallback makes drafts too, finalized as the rest
            known = {i: o for i, o in by_index.items() if i not in refused}
            redone = run_shots(batch, folder, manifest, fallback_executor, fallback_backend.name, emit, audit, known)
            for outcome in redone:
                by_index[outcome.index] = outcome
                if outcome.status == ShotState.DONE:
                    with manifest.edit_shot(outcome.index) as entry:
                        entry.fallback = FallbackRecord(
                            recipe=fallback.name,
                            backend=fallback_backend.name,
                            reason=refused[outcome.index].error,
                            refused_hash=own[outcome.index].params_hash,
                        )
            again = _chained_after(plan, recipe, folder, manifest, executor, refs, own, by_index, handed_over)
            if again:
                redo = {t.shot.index for t in again}
                known = {i: o for i, o in by_index.items() if i not in redo}
                for outcome in run_shots(again, folder, manifest, executor, executor.backend.name, emit, audit, known):
                    by_index[outcome.index] = outcome
    finally:
        fallback_executor.close()
    return [by_index[o.index] for o in outcomes]


def _chained_after(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    executor: ShotExecutor,
    refs: dict[str, Path],
    own: dict[int, ShotTask],
    outcomes: dict[int, ShotOutcome],
    handed_over: set[int],
) -> list[ShotTask]:
    """The recipe's own shots to render again because they continue from a shot the fallback now has: those that
    could not start (their predecessor had failed) or whose cache key changed with it. `own` is updated."""
    moved = {i for i in handed_over if outcomes[i].path is not None}
    again: list[ShotTask] = []
    for task in build_tasks(plan, recipe, folder, manifest, executor.backend, refs):
        index = task.shot.index
        if index in handed_over:
            continue
        follows = task.predecessor in moved or any(t.shot.index == task.predecessor for t in again)
        stale = outcomes[index].status == ShotState.FAILED or task.params_hash != own[index].params_hash
        if follows and stale:
            again.append(task)
        own[index] = task
    return again


def cut_settings(options: RenderOptions) -> CutSettings:
    """How the render's options cut the film (the recipe gives its sound)."""
    return CutSettings(
        burn_subtitles=options.burn_subtitles,
        transition=options.transition,
        music=options.audio,
        credentials=options.c2pa,
        watermark=options.watermark,
        invisible_watermark=options.invisible_watermark,
    )


def finish_film(
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    options: RenderOptions,
    emit: EventSink,
    *,
    voice: VoiceTrack | object | None = MAKE,
    score: Path | object | None = MAKE,
    audit: AuditLog | None = None,
) -> CutResult:
    """The film cut from the run as it is (tale_cli.run.cut): the same film whichever command asks for it."""
    result = cut(
        plan,
        folder,
        manifest,
        options.recipe,
        cut_settings(options),
        voice=voice,
        score=score,
        audit=audit,
        say=lambda text: emit(Event("message", detail=text)),
    )
    for made in (result, result.final):
        if made is not None and made.unchanged:
            emit(Event("message", detail=f"{'draft film' if made.film == folder.draft_film else 'film'} unchanged"))
    return result


def check_marks(plan: Plan, options: RenderOptions) -> None:
    """A visible mark that can be drawn, and an invisible one that fits the frame and the library is there."""
    from tale_cli.film.watermark import MIN_PIXELS, check_invisible, marks_available, parse_watermark

    if options.watermark is not None:
        parse_watermark(options.watermark)
    if options.invisible_watermark is not None:
        check_invisible(options.invisible_watermark)
        if plan.width * plan.height < MIN_PIXELS:
            raise InputError(
                f"an invisible mark needs frames of at least {MIN_PIXELS} pixels, not {plan.width}x{plan.height}",
                hint="render larger (--resolution), or leave out --invisible-watermark",
            )
        if not marks_available():
            raise missing_extra("watermark", "invisible-watermark")


def check_sound(plan: Plan, options: RenderOptions) -> None:
    """The voice and the music bed checked before anything is spent: backend, key, voices, fit, a readable bed;
    and the marks asked for."""
    check_marks(plan, options)
    from tale_cli.film.stitch import parse_transition
    from tale_cli.media.ffmpeg import probe_audio

    check_voice(plan, options.recipe, parse_transition(options.transition))
    music = music_bed(options.recipe, cut_settings(options))
    if music is not None:
        probe_audio(music)
    elif options.audio is None and composes(options.recipe.music.source):
        check_composer(options.recipe)


@dataclass(frozen=True)
class _Owing:
    pending: list[int]
    owed: Owed


def _owed(
    plan: Plan,
    shot_plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    backend: VideoBackend,
    planned: PlannerRecord | None,
    agreed: list[float],
) -> _Owing:
    """What this render will newly pay for: the shots with neither a clip nor a provider job already paid for, the
    references not drawn, the judging and retakes still possible; and what it has paid (the plan) and agreed to."""
    from tale_cli.pipeline.judging import judging_left
    from tale_cli.pipeline.references import references_to_draw
    from tale_cli.run.journal import JobJournal

    tasks = build_tasks(shot_plan, recipe, folder, manifest, backend, expected_refs(plan, folder))
    unmade = [task for task in tasks if not is_cached(task, manifest)]  # each clip checked once
    unfinished = [task.shot.index for task in unmade]
    pending = [
        task.shot.index
        for task in unmade
        if JobJournal(manifest, task.params_hash, shot=task.shot.index).existing_job() is None
    ]
    retakes_left, judged = judging_left(plan, recipe, manifest, {t.shot.index: t.plan_hash for t in tasks}, unfinished)
    owed = Owed(
        references=len(references_to_draw(plan, recipe, folder, manifest)),
        retakes_left=retakes_left,
        judged=judged,
        paid_usd=(planned.cost_usd or 0.0) if planned is not None else 0.0,
        agreed_usd=agreed[-1] if agreed else None,
    )
    return _Owing(pending, owed)


def check_tier(folder: RunFolder, recipe: Recipe) -> None:
    """A run keeps the tier it was first rendered at, before anything is planned or spent: a run of drafts is rendered
    with --draft (its final film is `tale finalize`'s), and a run rendered at the final tier is not turned into drafts
    (they would replace the takes it paid for)."""
    data = Manifest.read(folder.manifest)
    if data is None or not any(entry.takes or entry.status == ShotStatus.DONE for entry in data.shots.values()):
        return
    drafting = recipe_tier(recipe) == "draft"
    if data.run.tier == "draft" and not drafting:
        raise InputError(
            f"{folder.root} is a run of drafts (rendered with --draft)",
            hint=f"`tale render --draft` renders its drafts; `tale finalize {folder.root}` renders its final film",
        )
    if drafting and data.run.tier != "draft":
        raise InputError(
            f"{folder.root} was rendered at the final tier: drafts would replace the takes it has",
            hint="render the drafts into another folder (--out), or leave out --draft",
        )


def _record_run(
    folder: RunFolder, manifest: Manifest, plan: Plan, recipe: Recipe, prepared: PreparedPlan, planner: PlannerRecord
) -> None:
    """The run's own record in the manifest: its slug, recipe, tier, privacy, where its plan came from and who planned
    it."""
    folder.create()
    with manifest.edit() as data:
        data.run.slug = plan.slug
        data.run.recipe = recipe.name
        tier: Tier | None = "draft" if recipe_tier(recipe) == "draft" else None
        if data.run.tier != tier:
            data.run.tier = tier
        own = recipe_file(recipe)
        if own is not None:
            data.run.recipe_file = str(own)
        data.run.private = folder.private
        if prepared.origin is not None:
            data.plan_origin = prepared.origin
        if prepared.source is PlanSource.PLANNED or data.planner is None:
            data.planner = planner


def render(source: Path, options: RenderOptions, emit: EventSink = ignore_events) -> RenderReport:
    """story.md or plan.json -> run folder with film.mp4 (film.draft.mp4 with a draft recipe: draft_recipe).
    Validates everything before spending.

    The run folder is held from before planning to the end (tale_cli.run.lock): a second render of it waits,
    then finds everything cached. A dry run writes nothing, so it holds nothing.
    """
    from tale_cli.run.open import held

    check_private(options.recipe, private=options.private, planner=options.planner)
    check_lifecycles(options.recipe)
    with private_files(options.private or options.recipe.private):
        folder = choose_folder(source, options)
        folder.check_seal()  # a sealed run's identity, before anything is read or written
        options = shaped_options(source, options)
        if not options.dry_run:
            # Every key the recipe's roles need, named in one message before anything runs.
            check_keys(options.recipe, planning=not is_plan_file(source) and not folder.plan.is_file())
        if options.dry_run:
            return _render(source, options, emit, folder)
        with held(folder, "rendering", wait=options.wait, say=lambda text: emit(Event("message", detail=text))):
            return _render(source, options, emit, folder)


def _render(source: Path, options: RenderOptions, emit: EventSink, folder: RunFolder) -> RenderReport:
    started = time.monotonic()
    recipe = options.recipe
    check_tier(folder, recipe)
    agreed: list[float] = []

    def before_planning(sketch: Plan) -> None:
        """Before a paid planner is called: the whole render, priced on the offline planner's sketch of its shots
        with the planner's own price, held to the budget and agreed, so a refusal costs nothing."""
        pending = [shot.index for shot in sketch.shots]
        check = options.spending.guard()(sketch, recipe, folder, pending, include_planner=True, save=False)
        agreed.append(check.estimate.total_usd - check.estimate.planner_usd)

    prepared = prepare_plan(source, options, folder, before_planning=None if options.dry_run else before_planning)
    plan, folder = prepared.plan, prepared.folder
    folder.check_writable()
    check_reference_pictures(plan, folder, dry_run=options.dry_run)
    executor = options.executor
    # The executor's own backend, when one is given, so that checks and cache keys match what its workers run.
    backend = executor.backend if executor is not None else video_backend(recipe)
    check_capabilities(plan, recipe, backend.capabilities(), backend.name)
    preflight(plan, recipe, backend)
    check_sound(plan, options)
    manifest = Manifest.load(folder)
    if manifest.repaired:
        emit(Event("message", detail=manifest.repaired))
    spent_before = manifest.data.cost_usd  # the recipe's retakes stop at the budget counted from here
    shot_plan = plan_for_shots(plan, options)
    report = RenderReport(
        run_dir=folder.root,
        plan=plan,
        recipe=recipe.name,
        dry_run=options.dry_run,
        plan_source=prepared.how,
        tier=recipe_tier(recipe),
    )

    if options.dry_run:
        if prepared.source is PlanSource.NOT_PLANNED:
            report.planning_usd = planner_record(prepared, recipe, options.planner).cost_usd
        refs = expected_refs(plan, folder)
        for task in build_tasks(shot_plan, recipe, folder, manifest, backend, refs):
            status = ShotState.CACHED if is_cached(task, manifest) else ShotState.WOULD_RENDER
            report.shots.append(ShotOutcome(task.shot.index, status, task.params_hash))
        if executor is None:
            backend.close()
        report.seconds = time.monotonic() - started
        return report

    emit(Event("message", detail=f"plan: {prepared.how}"))
    # The budget and the confirmation hold here, for the command line and a script alike.
    planned = planner_record(prepared, recipe, options.planner) if prepared.source is PlanSource.PLANNED else None
    try:
        owed = _owed(plan, shot_plan, recipe, folder, manifest, backend, planned, agreed)
        options.spending.guard()(plan, recipe, folder, owed.pending, owed.owed)
    except BudgetError:
        if planned is not None and planned.cost_usd:
            _record_run(folder, manifest, plan, recipe, prepared, planned)  # the plan was paid: the ledger says so
        if options.executor is None:
            backend.close()
        raise
    except BaseException:
        if options.executor is None:
            backend.close()
        raise
    folder.create()
    audit = AuditLog(folder.root, audit_prompts=recipe.audit_prompts)
    audit.write_deferred()
    save_plan(plan, folder, source)
    _record_run(folder, manifest, plan, recipe, prepared, planned or planner_record(prepared, recipe, options.planner))

    voice = None
    if recipe.voice.enabled:
        # Spoken before the pictures: speech that does not fit its shot stops the run before they are paid for.
        from tale_cli.film.stitch import parse_transition

        voice = make_voice_track(
            plan,
            recipe,
            folder,
            manifest,
            transition_s=parse_transition(options.transition),
            audit=audit,
            say=lambda text: emit(Event("message", detail=text)),
        )
        if voice is not None:
            spoken = f"{voice.spoken} clip{'s' if voice.spoken != 1 else ''} spoken"
            emit(Event("message", detail=f"voice: {spoken}, {voice.cached} cached"))
    # A media-sealed run's media are sealed as each stage ends (and when the folder is let go): what a stage makes is
    # in the clear only until that stage is done.
    folder.seal_media_made()
    score = None
    if options.audio is None and composes(recipe.music.source):
        score = make_score(plan, recipe, folder, manifest, audit, say=lambda text: emit(Event("message", detail=text)))
    refs = render_references(plan, recipe, folder, manifest, emit, audit)
    # A model given the voice to say its lines with: those lines spoken now (paid once, kept under voice/by-hash/).
    line_voices(plan, recipe, folder, backend.capabilities(), manifest, make=True, audit=audit,
                say=lambda text: emit(Event("message", detail=text)))  # fmt: skip
    folder.seal_media_made()
    if executor is None:
        executor = open_executor(recipe, jobs=options.jobs, backend=backend)
    try:
        tasks = build_tasks(shot_plan, recipe, folder, manifest, backend, refs)
        known = refused_before(tasks, manifest) if recipe.fallback else {}
        to_run = [task for task in tasks if task.shot.index not in known]
        ran = run_shots(to_run, folder, manifest, executor, backend.name, emit, audit, known=known)
        report.shots = sorted([*known.values(), *ran], key=lambda outcome: outcome.index)
        if recipe.fallback and any(s.refused for s in report.shots):
            report.shots = render_fallbacks(
                shot_plan, recipe, folder, manifest, refs, report.shots, tasks, executor, emit, audit
            )
    finally:
        if options.executor is None:
            executor.close()
    folder.seal_media_made()
    if (recipe.judge.enabled or recipe.judge.retakes) and not report.failed:
        from tale_cli.pipeline.judging import judge_render, summary_json

        plan_hashes = {task.shot.index: task.plan_hash for task in tasks}
        judged = judge_render(plan, recipe, folder, manifest, plan_hashes, options, emit, spent_before=spent_before)
        report.judge = summary_json(judged)
        folder.seal_media_made()
    report.locked = sum(1 for shot in plan.shots if manifest.shot(shot.index).locked)
    if report.failed:
        report.seconds = time.monotonic() - started
        report.review = write_review(folder.root, report)
        return report
    film = finish_film(plan, folder, manifest, options, emit, voice=voice, score=score, audit=audit)
    report.film, report.srt, report.duration_s, report.film_unchanged = (
        film.film,
        film.srt,
        film.duration_s,
        film.unchanged,
    )
    report.final_film = film.final.film if film.final is not None else None
    report.storyboard = folder.storyboard
    report.seconds = time.monotonic() - started
    report.review = write_review(folder.root, report)
    return report
