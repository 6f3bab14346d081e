"""`tale finalize`: a run of drafts' current takes rendered again at the recipe's final tier — the same prompt, seed,
references and first frame (in a chain recipe, the last frame of the shot before as finalized) — each kept as a take
of its shot beside the draft it finalizes, then film.mp4 cut from them beside film.draft.mp4 (tale_cli.run.cut).

The drafts stay the current takes: retake, pick and lock go on working on them, and a finalized take is found again,
never paid for twice. Nothing is rendered for a shot whose plan changed since its draft (unless it is locked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.cost.guard import Owed, Spending
from tale_cli.errors import InputError
from tale_cli.events import Event, EventSink, ShotState, ignore_events
from tale_cli.pipeline.report import ShotOutcome
from tale_cli.run.folder import Manifest, RunFolder, TakeRecord
from tale_cli.run.open import open_run, shot_numbers
from tale_cli.story.plan import Plan

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.pipeline.options import RenderOptions
    from tale_cli.pipeline.shots import ShotTask


@dataclass
class FinalizeOptions:
    """How to finalize: the run's recipe (when its file is not where the run recorded it), shots at once, waiting for
    the run folder, and the spend guard (budget besides the recipe's, --yes, who confirms, where the estimate shows)."""

    recipe: Recipe | None = None
    jobs: int | None = None
    wait: bool = True
    spending: Spending = field(default_factory=Spending)


@dataclass
class FinalShot:
    """What finalize did for one shot: the final take it made or found for the shot's current (draft) take."""

    shot: int
    draft_take: int | None
    take: int | None
    how: str  # rendered, found again, finalized before, final as it is, failed
    seed: int | None = None
    cost_usd: float | None = None
    error: str | None = None


@dataclass
class FinalizeReport:
    run_dir: Path
    shots: list[FinalShot] = field(default_factory=list)
    film: Path | None = None  # film.mp4, the final film (None until every shot has its final take)
    draft_film: Path | None = None
    unchanged: bool = False  # film.mp4 was already this cut: nothing was written
    loudness_lufs: float | None = None
    notes: list[str] = field(default_factory=list)
    review: Path | None = None

    @property
    def failed(self) -> list[FinalShot]:
        return [shot for shot in self.shots if shot.how == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "shots": [asdict(shot) for shot in self.shots],
            "film": str(self.film) if self.film else None,
            "draft_film": str(self.draft_film) if self.draft_film else None,
            "unchanged": self.unchanged,
            "loudness_lufs": self.loudness_lufs,
            "cost_usd": round(sum(shot.cost_usd or 0.0 for shot in self.shots), 6),
            "review": str(self.review) if self.review else None,
            "notes": self.notes,
        }


def finalize(
    run_dir: Path,
    shots: Sequence[int] = (),
    options: FinalizeOptions | None = None,
    *,
    emit: EventSink = ignore_events,
) -> FinalizeReport:
    """`tale finalize`: render the current takes of `shots` (every shot when none is named) at the final tier, then
    cut film.mp4. What would be paid for is held to `options.spending` first (budget, confirmation)."""
    from tale_cli.run.open import holding

    options = options or FinalizeOptions()
    folder, plan = open_run(run_dir)
    indexes = shot_numbers(plan, shots) if shots else [shot.index for shot in plan.shots]
    say = lambda text: emit(Event("message", detail=text))  # noqa: E731
    with holding(folder, "finalizing", wait=options.wait, say=say) as manifest:
        if manifest.data.run.tier != "draft":
            raise InputError(
                f"{folder.root} was not rendered with --draft: its film.mp4 is the final film already",
                hint="`tale render --draft STORY` renders drafts to finalize",
            )
        return _finalize(folder, plan, manifest, indexes, options, emit)


def _finalize(
    folder: RunFolder, plan: Plan, manifest: Manifest, indexes: list[int], options: FinalizeOptions, emit: EventSink
) -> FinalizeReport:
    from tale_cli.backends import video_backend
    from tale_cli.config import tier_recipe
    from tale_cli.executors import open_executor
    from tale_cli.keys.audit import AuditLog
    from tale_cli.keys.privacy import check_private
    from tale_cli.pipeline.checks import check_capabilities, plan_for_shots, preflight
    from tale_cli.pipeline.retake import film_options, plan_hashes_of, references, settle
    from tale_cli.pipeline.shots import build_tasks, is_cached, run_shots
    from tale_cli.registry import check_lifecycles
    from tale_cli.run.journal import JobJournal
    from tale_cli.run.recipe import run_recipe_of

    final = run_recipe_of(manifest, options.recipe, final=True)
    check_private(final, private=folder.private)
    check_lifecycles(final)
    stitching = film_options(manifest, final)
    refs = references(plan, folder)
    report = FinalizeReport(folder.root)
    currents = _current_takes(plan, manifest, indexes, folder)
    draft_keys = plan_hashes_of(plan, tier_recipe(final, "draft"), folder, manifest, stitching, refs)
    _refuse_changed(manifest, indexes, currents, draft_keys, folder, report)
    final_plan, first_frames = _as_drafted(plan, currents, folder)
    backend = video_backend(final)
    executor = None
    try:
        check_capabilities(plan, final, backend.capabilities(), backend.name)
        preflight(plan, final, backend)
        tasks = build_tasks(
            plan_for_shots(final_plan, stitching), final, folder, manifest, backend, refs, first_frames=first_frames
        )
        work, decided = _to_render(tasks, manifest, indexes, currents, folder)
        known = _final_clips(plan, folder, manifest, {task.shot.index for task in work})
        _refuse_broken_chains(tasks, work, known, currents, folder)
        # Paid for only where neither a clip (a final found again) nor a provider job already paid for is there.
        pending = [
            task.shot.index
            for task in work
            if not is_cached(task, manifest)
            and JobJournal(manifest, task.params_hash, shot=task.shot.index).existing_job() is None
        ]
        # Asked for by hand, like retakes: nothing is judged, no automatic retake made.
        manual = final.model_copy(update={"judge": final.judge.model_copy(update={"max_retakes": 0})})
        options.spending.guard()(plan, manual, folder, pending, Owed(references=0, retakes_left={}, judged=[]))
        outcomes: list[ShotOutcome] = []
        if work:
            emit(Event("message", detail=f"finalizing {len(work)} shot(s) with {backend.name}"))
            executor = open_executor(final, jobs=options.jobs, backend=backend)
            before: dict[int, TakeRecord | None] = {task.shot.index: currents[task.shot.index] for task in work}
            audit = AuditLog(folder.root, audit_prompts=final.audit_prompts)
            try:
                outcomes = run_shots(work, folder, manifest, executor, backend.name, emit, audit, known)
            finally:
                settle(folder, manifest, before, outcomes, keep=True)  # the drafts stay the current takes
    finally:
        if executor is not None:
            executor.close()
        else:
            backend.close()
    made = _record_finals(work, outcomes, manifest, currents)
    report.shots = sorted([*decided, *made], key=lambda shot: shot.shot)
    _cut_final(plan, folder, manifest, stitching, report, emit)
    return report


def _current_takes(
    plan: Plan, manifest: Manifest, indexes: list[int], folder: RunFolder
) -> dict[int, TakeRecord | None]:
    """Every shot's current take; each shot to finalize must have one."""
    currents: dict[int, TakeRecord | None] = {}
    for shot in plan.shots:
        # Whatever the entry's status: a finalize stopped midway leaves an entry on the final it was rendering, while
        # the shot's current take is still its draft.
        entry = manifest.data.shots.get(str(shot.index))
        currents[shot.index] = entry.current_take() if entry is not None else None
    bare = [index for index in indexes if currents[index] is None]
    if bare:
        raise InputError(
            f"shot {bare[0]} has no take to finalize; nothing was rendered",
            hint=f"`tale render --draft {folder.plan}` renders it",
        )
    return currents


def _refuse_changed(
    manifest: Manifest,
    indexes: list[int],
    currents: dict[int, TakeRecord | None],
    draft_keys: dict[int, str],
    folder: RunFolder,
    report: FinalizeReport,
) -> None:
    """A draft made for an earlier version of its shot (the plan edited since) is not finalized: the final film would
    not be the one the plan asks for, nor the draft film watched. A locked shot keeps its take: finalized as drafted."""
    changed = []
    for index in indexes:
        take = currents[index]
        if take is None or take.tier != "draft" or take.plan_hash == draft_keys[index]:
            continue
        if manifest.shot(index).locked:
            report.notes.append(f"shot {index} is locked: its take {take.take} is finalized as drafted, though the "
                                "plan changed since")  # fmt: skip
        else:
            changed.append(index)
    if changed:
        numbers = " ".join(str(index) for index in changed)
        raise InputError(
            f"shot(s) {', '.join(map(str, changed))} changed in the plan since their drafts; nothing was rendered",
            hint=f"`tale render --draft {folder.plan}` drafts them again (or `tale lock {folder.root} {numbers}` "
            "finalizes the takes as drafted)",
        )


def _as_drafted(
    plan: Plan, currents: dict[int, TakeRecord | None], folder: RunFolder
) -> tuple[Plan, dict[int, Path] | None]:
    """The plan as the drafts were made: each draft's seed and prompt, and the user's pictures they were animated
    from (their first frames)."""
    drafted = plan.model_copy(deep=True)
    first_frames: dict[int, Path] = {}
    for shot in drafted.shots:
        take = currents.get(shot.index)
        if take is None or take.tier != "draft":
            continue
        if take.seed is not None:
            shot.seed = take.seed
        if take.prompt is not None:
            shot.prompt = take.prompt
        if take.first_frame is not None:
            picture = folder.cache / f"{take.first_frame}.first.png"
            if not take.first_frame.isalnum() or not picture.is_file():
                raise InputError(
                    f"the picture shot {shot.index}'s take {take.take} was animated from is gone; nothing was rendered",
                    hint=f"`tale replace {folder.root} {shot.index} PICTURE --animate` animates it again",
                )
            first_frames[shot.index] = picture
    return drafted, first_frames or None


def _to_render(
    tasks: list[ShotTask],
    manifest: Manifest,
    indexes: list[int],
    currents: dict[int, TakeRecord | None],
    folder: RunFolder,
) -> tuple[list[ShotTask], list[FinalShot]]:
    """The tasks to run, and what is decided without them: a take that is not a draft (the user's own clip, a final
    take picked) is final as it is, and a draft finalized with these very parameters is not rendered again."""
    from tale_cli.run.takes import final_take, take_source

    work: list[ShotTask] = []
    decided: list[FinalShot] = []
    for task in tasks:
        index, current = task.shot.index, currents.get(task.shot.index)
        if index not in indexes or current is None:
            continue
        if current.tier != "draft":
            decided.append(FinalShot(index, current.take, current.take, "final as it is", current.seed, 0.0))
            continue
        done = final_take(manifest.shot(index))
        if done is not None and done.params_hash == task.params_hash and take_source(folder, index, done)[0]:
            decided.append(FinalShot(index, current.take, done.take, "finalized before", done.seed, 0.0))
            continue
        # The final take is made for the plan's shot the draft was made for: a render keeps it as it keeps the draft.
        task.plan_hash, task.kept, task.notice = current.plan_hash or "", None, ""
        work.append(task)
    return work, decided


def _final_clips(plan: Plan, folder: RunFolder, manifest: Manifest, rendering: set[int]) -> dict[int, ShotOutcome]:
    """The other shots' final clips, for a shot that continues from one (chain continuity)."""
    from tale_cli.run.takes import final_take, take_source

    known: dict[int, ShotOutcome] = {}
    for shot in plan.shots:
        if shot.index in rendering:
            continue
        entry = manifest.data.shots.get(str(shot.index))
        take = final_take(entry) if entry is not None else None
        source = take_source(folder, shot.index, take)[0] if take is not None else None
        if take is not None and source is not None:
            known[shot.index] = ShotOutcome(shot.index, ShotState.CACHED, take.params_hash or "", source)
        else:
            known[shot.index] = ShotOutcome(shot.index, ShotState.FAILED, "", error="it has no final take")
    return known


def _refuse_broken_chains(
    tasks: list[ShotTask],
    work: list[ShotTask],
    known: dict[int, ShotOutcome],
    currents: dict[int, TakeRecord | None],
    folder: RunFolder,
) -> None:
    """A shot that continues from the last frame of the shot before needs that shot's final clip: finalized with it,
    or before with the parameters its draft has now (the user's own clip before it is final as it is)."""
    keys = {task.shot.index: task.params_hash for task in tasks}
    rendering = {task.shot.index for task in work}
    for task in work:
        before = task.predecessor
        if before is None or before in rendering:
            continue
        draft = currents.get(before)
        finalized = known[before].path is not None and (
            draft is None or draft.tier != "draft" or known[before].params_hash == keys[before]
        )
        if not finalized:
            raise InputError(
                f"shot {task.shot.index} continues from shot {before}, whose current take has no final take yet; "
                "nothing was rendered",
                hint=f"finalize them together: `tale finalize {folder.root} {before} {task.shot.index}`",
            )


def _record_finals(
    work: list[ShotTask], outcomes: list[ShotOutcome], manifest: Manifest, currents: dict[int, TakeRecord | None]
) -> list[FinalShot]:
    """Each final take made or found again, marked as the final of the draft it renders."""
    by_index = {outcome.index: outcome for outcome in outcomes}
    made: list[FinalShot] = []
    for task in work:
        index, draft = task.shot.index, currents[task.shot.index]
        assert draft is not None
        outcome = by_index.get(index)
        if outcome is None or outcome.status == ShotState.FAILED:
            error = outcome.error if outcome is not None else "stopped"
            made.append(FinalShot(index, draft.take, None, "failed", task.request.seed, error=error))
            continue
        with manifest.finish_shot(index) as entry:
            take = entry.take_of(task.params_hash)
            assert take is not None  # run_shots recorded it
            take.tier, take.draft_take, take.plan_hash = "final", draft.take, draft.plan_hash
            if draft.first_frame is not None:
                take.first_frame = draft.first_frame
        rendered = outcome.status == ShotState.DONE
        made.append(
            FinalShot(
                index,
                draft.take,
                take.take,
                "rendered" if rendered else "found again",
                take.seed,
                (take.cost_usd or 0.0) if rendered else 0.0,
            )
        )
    return made


def _cut_final(
    plan: Plan, folder: RunFolder, manifest: Manifest, stitching: RenderOptions, report: FinalizeReport, emit: EventSink
) -> None:
    """film.mp4 cut from the finals (and the draft film checked), once every shot's current take has its final."""
    from tale_cli.pipeline.film import finish_film
    from tale_cli.pipeline.review import write_review
    from tale_cli.run.takes import final_take

    waiting = [s.index for s in plan.shots if final_take(manifest.shot(s.index)) is None]
    if waiting:
        numbers = " ".join(map(str, waiting))
        report.notes.append(
            f"no final film yet: shot(s) {', '.join(map(str, waiting))} have no final take "
            f"(`tale finalize {folder.root} {numbers}` renders them)"
        )
    film = finish_film(plan, folder, manifest, stitching, emit)
    report.draft_film = film.film
    if film.final is not None:
        report.film, report.unchanged, report.loudness_lufs = (
            film.final.film,
            film.final.unchanged,
            film.final.loudness_lufs,
        )
    report.review = write_review(folder.root)
