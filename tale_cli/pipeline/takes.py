"""Takes: every clip a shot has had, kept in shots/takes/. Retake shots, list their takes, pick one, replace a shot
with the user's own clip or still, lock shots against plan and recipe changes; the film is cut again after each.

A take records the cache key of the plan's shot it was made for (`plan_hash`). `tale render` keeps a shot's current
take while that key still holds, or whatever it is when the shot is locked; otherwise the plan's own clip wins.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import InputError, TaleError
from tale_cli.events import Event, EventSink, ignore_events
from tale_cli.pipeline.retake import RetakeOptions, ShotChange
from tale_cli.run.folder import Manifest, RunFolder, ShotRecord, ShotStatus, TakeRecord, copy_clip_fields
from tale_cli.run.open import open_run, shot_numbers
from tale_cli.story.plan import PROMPT_CHARS, Plan

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.pipeline.options import RenderOptions

__all__ = [
    "RetakeOptions",
    "ShotChange",
    "TakesListing",
    "TakesReport",
    "list_takes",
    "lock",
    "pick",
    "replace",
    "retake",
]


@dataclass
class TakeView:
    """One take as `tale takes` lists it."""

    shot: int
    take: int
    current: bool
    seed: int | None
    backend: str | None
    model: str | None
    cost_usd: float | None
    made_at: str | None
    path: str
    on_disk: bool  # False once `tale clean` removed its clip
    recipe: str | None = None
    prompt: str | None = None
    source: str | None = None
    tier: str | None = None  # in a run of drafts: "draft", or "final" (`tale finalize`'s render of `draft_take`)
    draft_take: int | None = None


@dataclass
class ShotTakes:
    shot: int
    locked: bool
    takes: list[TakeView]


@dataclass
class TakesListing:
    run_dir: Path
    shots: list[ShotTakes]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "shots": [
                {"shot": s.shot, "locked": s.locked, "takes": [asdict(take) for take in s.takes]} for s in self.shots
            ],
        }


@dataclass
class TakesReport:
    """What retake, pick, replace, lock or unlock did, and the film and review page cut afterwards."""

    run_dir: Path
    changes: list[ShotChange] = field(default_factory=list)
    film: Path | None = None
    fast_path: bool | None = None
    review: Path | None = None
    notes: list[str] = field(default_factory=list)  # what the user should know: why no film was stitched…
    unchanged: bool = False  # the film was already this cut: nothing was written
    loudness_lufs: float | None = None  # the film's loudness as measured, when it has a voice or music
    # In a run of drafts `film` is the draft film; film.mp4 when it was cut too (every current take has its final).
    final_film: Path | None = None

    @property
    def failed(self) -> list[ShotChange]:
        return [change for change in self.changes if change.how == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "shots": [asdict(change) for change in self.changes],
            "film": str(self.film) if self.film else None,
            "fast_path": self.fast_path,
            "unchanged": self.unchanged,
            "loudness_lufs": self.loudness_lufs,
            "final_film": str(self.final_film) if self.final_film else None,
            "review": str(self.review) if self.review else None,
            "notes": self.notes,
        }


@contextlib.contextmanager
def _holding(folder: RunFolder, doing: str, emit: EventSink, *, wait: bool = True) -> Iterator[Manifest]:
    """The run folder held for this command (tale_cli.run.open) and its manifest."""
    from tale_cli.run.open import holding

    with holding(folder, doing, wait=wait, say=lambda text: emit(Event("message", detail=text))) as manifest:
        yield manifest


def _takes_of(entry: ShotRecord | None, folder: RunFolder) -> tuple[list[TakeRecord], int | None]:
    """A shot's takes and its current take's number; a shot rendered before takes were kept has its clip as take 1."""
    if entry is None:
        return [], None
    if entry.takes:
        return entry.takes, entry.take
    clip = folder.shot_file(entry.index)
    if entry.status != ShotStatus.DONE or not clip.is_file():
        return [], None
    made_at = entry.finished_at or ""
    only = TakeRecord(take=1, path=clip.relative_to(folder.root).as_posix(), made_at=made_at)
    copy_clip_fields(entry, only)
    return [only], 1


def list_takes(run_dir: Path, shot: int | None = None) -> TakesListing:
    """`tale takes`: every take of every shot (or of one), numbered from 1 in the order made."""
    from tale_cli.run.takes import take_source

    folder, plan = open_run(run_dir)
    indexes = shot_numbers(plan, [shot]) if shot is not None else [s.index for s in plan.shots]
    data = Manifest.load(folder).data
    listing = TakesListing(run_dir=folder.root, shots=[])
    for index in indexes:
        entry = data.shots.get(str(index))
        takes, current = _takes_of(entry, folder)
        views = [
            TakeView(
                shot=index,
                take=take.take,
                current=take.take == current,
                seed=take.seed,
                backend=take.backend,
                model=take.model,
                cost_usd=take.cost_usd,
                made_at=take.made_at,
                path=take.path,
                # A shot from before takes were kept has its clip in shots/shot-NN.mp4 only.
                on_disk=take_source(folder, index, take)[0] is not None if entry and entry.takes else True,
                recipe=take.recipe,
                prompt=take.prompt,
                source=take.source,
                tier=take.tier,
                draft_take=take.draft_take,
            )
            for take in takes
        ]
        listing.shots.append(ShotTakes(shot=index, locked=bool(entry and entry.locked), takes=views))
    return listing


def _chained_after(plan: Plan, manifest: Manifest, changed: Sequence[int], recipe: Recipe | None) -> list[int]:
    """The shots that start from the last frame of a shot whose current take just changed (chain continuity):
    they were rendered from its earlier take."""
    from tale_cli.run.recipe import run_recipe_of

    try:
        continuity = run_recipe_of(manifest, recipe).continuity
    except TaleError:
        return []
    if continuity != "chain":
        return []
    after: set[int] = set()
    for index in changed:
        following = index + 1
        while following <= len(plan.shots) and plan.shots[following - 1].continuity:
            after.add(following)
            following += 1
    return sorted(after - set(changed))


def _cut(
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    stitching: RenderOptions,
    report: TakesReport,
    emit: EventSink,
    changed: Sequence[int] = (),
    recipe: Recipe | None = None,
) -> None:
    """Stitch the film again from the shots' current takes and refresh review.html."""
    from tale_cli.pipeline.film import finish_film
    from tale_cli.pipeline.review import write_review

    chained = _chained_after(plan, manifest, changed, recipe)
    if chained:
        shots = ", ".join(str(index) for index in chained)
        report.notes.append(
            f"shot(s) {shots} continue from the last frame of the shot before, as rendered from its earlier take: "
            f"`tale retake {folder.root} {' '.join(str(index) for index in chained)}` renders them again from the "
            "new one (and pays for them)"
        )

    without = [
        shot.index
        for shot in plan.shots
        if (entry := manifest.data.shots.get(str(shot.index))) is None
        or entry.status != ShotStatus.DONE
        or not folder.shot_file(shot.index).is_file()
    ]
    if without:
        report.notes.append(f"no film stitched: shot {without[0]} has no clip yet (`tale render` makes it)")
    else:
        film = finish_film(plan, folder, manifest, stitching, emit)
        report.film, report.fast_path, report.unchanged = film.film, film.fast_path, film.unchanged
        report.loudness_lufs = film.loudness_lufs
        report.final_film = film.final.film if film.final is not None else None
        if manifest.data.run.tier == "draft" and film.final is None and manifest.data.film is not None:
            from tale_cli.run.takes import final_take

            bare = [s.index for s in plan.shots if final_take(manifest.shot(s.index)) is None]
            report.notes.append(
                f"film.mp4 stays the final film as last finalized: shot(s) {', '.join(map(str, bare))} now have "
                f"takes not finalized (`tale finalize {folder.root} {' '.join(map(str, bare))}` renders them)"
            )
    report.review = write_review(folder.root)


def _cut_after(
    changes: list[ShotChange],
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    emit: EventSink,
    recipe: Recipe | None = None,
) -> TakesReport:
    """The report of new takes, with the film cut again when one of them became current."""
    from tale_cli.pipeline.retake import film_options
    from tale_cli.pipeline.review import write_review

    report = TakesReport(folder.root, changes)
    now_current = [change.shot for change in changes if change.how != "failed" and change.take == change.current]
    if now_current:
        _cut(plan, folder, manifest, film_options(manifest, None), report, emit, now_current, recipe)
    else:
        report.review = write_review(folder.root)
    return report


def pick(run_dir: Path, shot: int, take: int, *, emit: EventSink = ignore_events) -> TakesReport:
    """`tale pick`: make one of a shot's takes current and cut the film again."""
    from tale_cli.pipeline.retake import film_options
    from tale_cli.run.takes import adopt_current, use_take

    folder, plan = open_run(run_dir)
    [index] = shot_numbers(plan, [shot])
    with _holding(folder, "picking a take", emit) as manifest:
        adopt_current(folder, manifest, index)
        takes = manifest.shot(index).takes or []
        chosen = next((record for record in takes if record.take == take), None)
        if chosen is None:
            have = f"it has takes 1-{len(takes)}" if takes else "it has no takes yet"
            raise InputError(
                f"shot {index} has no take {take} ({have})", hint=f"`tale takes {run_dir} {index}` lists them"
            )
        stitching = film_options(manifest, None)
        use_take(folder, manifest, index, chosen)
        report = TakesReport(folder.root, [ShotChange(index, take, take, "picked", seed=chosen.seed)])
        # The last take was made for the shot as the plan has it now (as far as this run knows).
        if chosen.plan_hash != takes[-1].plan_hash and not manifest.shot(index).locked:
            report.notes.append(
                f"take {take} was made for an earlier version of shot {index}: `tale render` makes the plan's "
                f"clip again unless the shot is locked (`tale lock {run_dir} {index}`)"
            )
        _cut(plan, folder, manifest, stitching, report, emit, [index])
    return report


def lock(run_dir: Path, shots: Sequence[int], *, locked: bool = True, emit: EventSink = ignore_events) -> TakesReport:
    """`tale lock` / `tale unlock`: a locked shot keeps its current take whatever the plan or recipe says."""
    from tale_cli.pipeline.review import write_review
    from tale_cli.run.takes import adopt_current

    folder, plan = open_run(run_dir)
    indexes = shot_numbers(plan, shots)
    with _holding(folder, "locking shots" if locked else "unlocking shots", emit) as manifest:
        for index in indexes:
            adopt_current(folder, manifest, index)
        bare = [i for i in indexes if (e := manifest.data.shots.get(str(i))) is None or e.current_take() is None]
        if locked and bare:
            raise InputError(f"shot {bare[0]} has no clip to lock; nothing was locked", hint="render it first")
        report = TakesReport(folder.root)
        for index in indexes:
            entry = manifest.data.shots.get(str(index))
            if entry is not None and bool(entry.locked) != locked:
                with manifest.finish_shot(index) as entry:
                    entry.locked = locked
            current = entry.take if entry is not None else None
            report.changes.append(ShotChange(index, current, current, "locked" if locked else "unlocked"))
        report.review = write_review(folder.root)
    return report


def retake(
    run_dir: Path, shots: Sequence[int], options: RetakeOptions, *, emit: EventSink = ignore_events
) -> TakesReport:
    """`tale retake`: a new take of each shot (another seed, prompt or recipe), current unless `options.keep`;
    then the film is cut again. What would be paid for is held to `options.spending` first (budget, confirmation)."""
    from tale_cli.pipeline.retake import render_takes

    folder, plan = open_run(run_dir)
    indexes = shot_numbers(plan, shots)
    if options.seed is not None and options.new_seed:
        raise InputError("give --seed or --new-seed, not both")
    if options.seed is not None and not 0 <= options.seed < 2**32:
        raise InputError(f"seed {options.seed} is out of range (0 to {2**32 - 1})")
    if options.prompt is not None and not 0 < len(options.prompt.strip()) <= PROMPT_CHARS:
        raise InputError(f"a prompt has 1 to {PROMPT_CHARS} characters")
    with _holding(folder, "retaking shots", emit, wait=options.wait) as manifest:
        changes = render_takes(folder, plan, manifest, indexes, options, emit)
        return _cut_after(changes, plan, folder, manifest, emit, options.recipe)


def replace(
    run_dir: Path,
    shot: int,
    file: Path,
    *,
    animate: bool = False,
    options: RetakeOptions | None = None,
    emit: EventSink = ignore_events,
) -> TakesReport:
    """`tale replace`: the user's clip (conformed to the film) or still (under the animatic's camera move, or with
    `animate` the first frame of the recipe's image-to-video backend) becomes a new, current take of the shot."""
    options = options or RetakeOptions()
    from tale_cli.media.ffmpeg import probe
    from tale_cli.pipeline.retake import is_still, render_takes, store_picture, user_take

    folder, plan = open_run(run_dir)
    [index] = shot_numbers(plan, [shot])
    if not file.is_file():
        raise InputError(f"file not found: {file}")
    still = is_still(file)
    if animate and not still:
        raise InputError(f"--animate takes a still picture; {file} is not one")
    if not still:
        probe(file)  # neither picture nor video: refused before anything is held or made
    with _holding(folder, "replacing a shot", emit, wait=options.wait) as manifest:
        if animate:
            picture = store_picture(file, folder)
            changes = render_takes(
                folder, plan, manifest, [index], options, emit, first_frame=picture, source=file.name
            )
        else:
            changes = [user_take(folder, plan, manifest, index, file, still=still, recipe=options.recipe)]
        return _cut_after(changes, plan, folder, manifest, emit, options.recipe)
