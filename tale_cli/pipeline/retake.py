"""New takes of chosen shots: rendered again (another seed, prompt or recipe, or a user's picture as the first
frame) or made from the user's own clip or still; each recorded as a take of its shot (see tale_cli.pipeline.takes)."""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.cost.guard import Owed, Spending
from tale_cli.errors import InputError, RecipeError
from tale_cli.events import EventSink, ShotState
from tale_cli.keys.seal import clear_path, place_media
from tale_cli.pipeline.report import ShotOutcome
from tale_cli.registry import check_lifecycles
from tale_cli.run.folder import Manifest, RunFolder, ShotRecord, ShotStatus, TakeRecord, now_iso
from tale_cli.run.recipe import _recorded_recipe, cut_record, run_recipe_of, with_film_sound
from tale_cli.story.plan import Plan

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.pipeline.options import RenderOptions

USER_BACKEND = "user"  # the backend a take made from the user's own file is recorded with
SEED_STEP = 7_919  # between a shot's seed and its next takes' (a prime: the seeds never repeat within 2**32)


@dataclass
class ShotChange:
    """What a command did to one shot: the take it made, found again or chose, and the current take after it."""

    shot: int
    take: int | None
    current: int | None
    how: str  # rendered, found again, picked, replaced, locked, unlocked, failed
    seed: int | None = None
    cost_usd: float | None = None
    error: str | None = None


@dataclass
class RetakeOptions:
    """How to make new takes: seed, prompt and recipe (else the plan's and the run's), and the spend guard."""

    recipe: Recipe | None = None
    seed: int | None = None
    new_seed: bool = False
    prompt: str | None = None
    keep: bool = False  # the new take joins the list; the current take stays current
    jobs: int | None = None
    wait: bool = True
    # How the takes may spend (budget besides the recipe's, --yes, who confirms, where the estimate is shown).
    spending: Spending = field(default_factory=Spending)


def film_options(manifest: Manifest, recipe: Recipe | None) -> RenderOptions:
    """How the film was stitched (subtitles burned in, transition, music bed), to cut a new take in the same way.

    A music bed that is gone is refused before anything is made or spent.
    """
    from tale_cli.config import load_defaults, load_recipe
    from tale_cli.pipeline.options import RenderOptions

    film = cut_record(manifest.data)
    audio = Path(film.audio) if film is not None and film.audio else None
    if audio is not None and not audio.is_file():
        raise InputError(
            f"the film's music bed {audio} is gone; nothing was changed",
            hint="put it back, or render the film again with another --audio",
        )
    # Stitching reads only how to cut; the recipe is the run's when it can be found, with the film's sound as it
    # was made (a --voice, --no-voice or --music of the render or of `tale stitch` included).
    chosen = recipe or _recorded_recipe(manifest) or load_recipe(load_defaults().recipe)
    return RenderOptions(
        recipe=with_film_sound(chosen, manifest),
        burn_subtitles=bool(film is not None and film.burn_subtitles),
        transition=film.transition if film is not None else None,
        audio=audio,
        c2pa=film is None or film.c2pa is not False,
        watermark=film.watermark if film is not None else None,
        invisible_watermark=film.invisible_watermark if film is not None else None,
    )


def references(plan: Plan, folder: RunFolder) -> dict[str, Path]:
    """The run's character references as they are: a take never draws them again."""
    from tale_cli.run.folder import expected_refs

    refs = expected_refs(plan, folder)
    for character_id, path in refs.items():
        if not path.is_file():
            raise InputError(
                f"the reference picture of '{character_id}' is missing ({path})",
                hint="`tale render` the run first: it draws the references",
            )
    return refs


def plan_hashes_of(
    plan: Plan, recipe: Recipe, folder: RunFolder, manifest: Manifest, stitching: RenderOptions, refs: dict[str, Path]
) -> dict[int, str]:
    """Each shot's cache key as `tale render` with the run's recipe computes it."""
    from tale_cli.backends import video_backend
    from tale_cli.pipeline.checks import plan_for_shots
    from tale_cli.pipeline.shots import build_tasks

    backend = video_backend(recipe)
    try:
        tasks = build_tasks(plan_for_shots(plan, stitching), recipe, folder, manifest, backend, refs)
    finally:
        backend.close()
    return {task.shot.index: task.params_hash for task in tasks}


def render_takes(
    folder: RunFolder,
    plan: Plan,
    manifest: Manifest,
    indexes: list[int],
    options: RetakeOptions,
    emit: EventSink,
    *,
    first_frame: Path | None = None,
    source: str | None = None,
    stitching: RenderOptions | None = None,
) -> list[ShotChange]:
    """New takes of the shots `indexes` (the run folder held): rendered with `options`' seed, prompt and recipe
    (or from `first_frame`, a user's picture), current unless `options.keep`. A shot whose retake fails or is
    stopped keeps the take it had."""
    from tale_cli.backends import video_backend
    from tale_cli.executors import open_executor
    from tale_cli.keys.audit import AuditLog
    from tale_cli.keys.privacy import check_private
    from tale_cli.pipeline.checks import check_capabilities, line_voices, plan_for_shots, preflight
    from tale_cli.pipeline.shots import build_tasks, is_cached, run_shots
    from tale_cli.run.journal import JobJournal
    from tale_cli.run.takes import adopt_current

    run_recipe = run_recipe_of(manifest, options.recipe)
    # The run's own recipe renders at the run's tier (a draft in a run of drafts); another recipe as it is given.
    recipe = run_recipe if options.recipe is None or options.recipe.name == run_recipe.name else options.recipe
    check_private(recipe, private=folder.private)
    check_lifecycles(recipe)
    # A render's own retakes pass how it cuts the film; afterwards, the film as it was stitched says.
    stitching = stitching or film_options(manifest, run_recipe)
    refs = references(plan, folder)
    plan_hashes = plan_hashes_of(plan, run_recipe, folder, manifest, stitching, refs)
    backend = video_backend(recipe)
    executor = None
    try:
        capabilities = backend.capabilities()
        check_capabilities(plan, recipe, capabilities, backend.name)
        if first_frame is not None and not capabilities.image_to_video:
            raise RecipeError(
                f"the {backend.name} backend cannot start a clip from a picture",
                hint="leave out --animate, or pass --recipe with an image-to-video recipe",
            )
        preflight(plan, recipe, backend)
        for index in indexes:
            adopt_current(folder, manifest, index)
        before = {index: manifest.shot(index).current_take() for index in indexes}
        # With the run's recipe and no seed, prompt or picture given, only a new seed makes a new take.
        fresh = first_frame is None and recipe.name == run_recipe.name
        retaken = _with_retakes(plan, indexes, manifest, options, fresh_by_default=fresh)
        first_frames = dict.fromkeys(indexes, first_frame) if first_frame is not None else None
        tasks = [
            task
            for task in build_tasks(
                plan_for_shots(retaken, stitching), recipe, folder, manifest, backend, refs, first_frames=first_frames
            )
            if task.shot.index in indexes
        ]
        for task in tasks:
            # A retake is made whatever the shot keeps now, and made for the plan's shot as it is.
            task.plan_hash, task.kept, task.notice = plan_hashes[task.shot.index], None, ""
        # Paid for only where neither a clip (a take found again) nor a provider job already paid for is there.
        pending = [
            task.shot.index
            for task in tasks
            if not is_cached(task, manifest)
            and JobJournal(manifest, task.params_hash, shot=task.shot.index).existing_job() is None
        ]
        # These takes are asked for by hand: no reference is drawn, nothing is judged, no automatic retake made.
        manual = recipe.model_copy(update={"judge": recipe.judge.model_copy(update={"max_retakes": 0})})
        options.spending.guard()(plan, manual, folder, pending, Owed(references=0, retakes_left={}, judged=[]))
        audit = AuditLog(folder.root, audit_prompts=recipe.audit_prompts)
        line_voices(plan, recipe, folder, capabilities, manifest, make=True, audit=audit)
        executor = open_executor(recipe, jobs=options.jobs, backend=backend)
        outcomes: list[ShotOutcome] = []
        try:
            known = _current_clips(plan, folder, manifest, indexes)
            outcomes = run_shots(tasks, folder, manifest, executor, backend.name, emit, audit, known)
        finally:
            settle(folder, manifest, before, outcomes, keep=options.keep)
    finally:
        if executor is not None:
            executor.close()
        else:
            backend.close()
    changes: list[ShotChange] = []
    by_index = {outcome.index: outcome for outcome in outcomes}
    for task in tasks:
        index, outcome = task.shot.index, by_index[task.shot.index]
        if outcome.status == ShotState.FAILED:
            current = manifest.shot(index).take
            changes.append(ShotChange(index, None, current, "failed", task.request.seed, error=outcome.error))
            continue
        with manifest.finish_shot(index) as entry:
            made = entry.take_of(task.params_hash)
            assert made is not None  # run_shots recorded it
            made.recipe = recipe.name
            if options.prompt is not None:
                made.prompt = options.prompt
            if source is not None:
                made.source = source
            if first_frame is not None:
                made.first_frame = first_frame.name.removesuffix(".first.png")
        how = "rendered" if outcome.status == ShotState.DONE else "found again"
        cost = made.cost_usd if outcome.status == ShotState.DONE else 0.0
        changes.append(ShotChange(index, made.take, entry.take, how, made.seed, cost))
    return changes


def _with_retakes(
    plan: Plan, indexes: list[int], manifest: Manifest, options: RetakeOptions, *, fresh_by_default: bool
) -> Plan:
    """The plan as the retakes see it: each shot with its new seed and prompt. Without --seed or --prompt (and
    `fresh_by_default`), a retake is a new seed: the same settings would only find the same clip again."""
    fresh = options.new_seed or (fresh_by_default and options.seed is None and options.prompt is None)
    retaken = plan.model_copy(deep=True)
    for index in indexes:
        shot = retaken.shots[index - 1]
        if options.prompt is not None:
            shot.prompt = options.prompt
        if options.seed is not None:
            shot.seed = options.seed
        elif fresh:
            used = {take.seed for take in manifest.shot(index).takes or []}
            shot.seed = next_seed(plan.shot_seed(plan.shots[index - 1]), used)
    return retaken


def next_seed(base: int, used: set[int | None]) -> int:
    """The first seed after `base` that no take used. Not random: a retake that was stopped (or failed) asks for
    the same seed when run again, so a provider job already paid for is found in the journal, not paid twice."""
    step = 1
    while (seed := (base + step * SEED_STEP) % 2**32) in used:
        step += 1
    return seed


def _current_clips(plan: Plan, folder: RunFolder, manifest: Manifest, retaken: list[int]) -> dict[int, ShotOutcome]:
    """The other shots as they are, for a retaken shot that continues from one (chain continuity)."""
    known: dict[int, ShotOutcome] = {}
    for shot in plan.shots:
        if shot.index in retaken:
            continue
        entry = manifest.data.shots.get(str(shot.index))
        clip = folder.shot_file(shot.index)
        if entry is not None and entry.status == ShotStatus.DONE and clip.is_file():
            known[shot.index] = ShotOutcome(shot.index, ShotState.CACHED, entry.params_hash or "", clip)
        else:
            known[shot.index] = ShotOutcome(shot.index, ShotState.FAILED, "", error="it has no clip")
    return known


def settle(
    folder: RunFolder,
    manifest: Manifest,
    before: dict[int, TakeRecord | None],
    outcomes: list[ShotOutcome],
    *,
    keep: bool,
) -> None:
    """After the retakes (or a stop): a shot whose retake failed, was stopped or is kept aside describes its
    current take again, so nothing a shot had is lost; every take made stays on its list."""
    from tale_cli.run.takes import use_take

    made = {outcome.index for outcome in outcomes if outcome.status != ShotState.FAILED}
    for index, previous in before.items():
        if previous is not None and (index not in made or keep):
            use_take(folder, manifest, index, previous)


def is_still(path: Path) -> bool:
    """A single picture (not a video, nor an animated picture)."""
    from PIL import Image

    try:
        with clear_path(path) as readable, Image.open(readable) as picture:
            return getattr(picture, "n_frames", 1) == 1
    except Exception:
        # Pillow's format plugins, guessing at a file that is no picture, raise more than UnidentifiedImageError.
        return False


def as_png(picture: Path, target: Path) -> Path:
    """The user's picture as an upright RGB PNG, which ffmpeg and every backend read."""
    from PIL import Image, ImageOps

    try:
        with clear_path(picture) as readable, Image.open(readable) as image:
            ImageOps.exif_transpose(image).convert("RGB").save(target, format="PNG")
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {picture} as a picture: {error}") from None
    return target


def store_picture(file: Path, folder: RunFolder) -> Path:
    """The user's picture kept in shots/by-hash/<hash>.first.png, named by its content like every clip."""
    from tale_cli.run.identity import file_digest

    part = folder.cache / "user.first.png.part"
    try:
        target = folder.cache / f"{file_digest(as_png(file, part))[:32]}.first.png"
        place_media(part, target)  # sealed on the way in a media-sealed run
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    folder.secure(target)
    return target


def user_take(
    folder: RunFolder, plan: Plan, manifest: Manifest, index: int, file: Path, *, still: bool, recipe: Recipe | None
) -> ShotChange:
    """The user's clip, conformed to the film's size, fps and shot length (trimmed, or held on its last frame), or
    still, under the animatic's camera move for the shot: a new take of shot `index`, made current."""
    from tale_cli.backends.local.preview import animate_still
    from tale_cli.config import load_defaults
    from tale_cli.media.ffmpeg import EncodeSettings, check_clip, conform_clip
    from tale_cli.run.identity import file_digest, file_record
    from tale_cli.run.takes import adopt_current, record_take, use_take

    run_recipe = run_recipe_of(manifest, recipe)
    stitching = film_options(manifest, run_recipe)
    plan_hash = plan_hashes_of(plan, run_recipe, folder, manifest, stitching, references(plan, folder))[index]
    shot = plan.shots[index - 1]
    defaults = load_defaults()
    # The encoding of Tale's own clips, which joining them by stream copy needs.
    encode = EncodeSettings(preset=defaults.x264_preset, crf=defaults.x264_crf, audio_bitrate=defaults.audio_bitrate)
    width, height, fps, seconds = plan.width, plan.height, plan.fps, shot.duration_s
    adopt_current(folder, manifest, index)
    part = folder.cache / f"shot-{index:02d}.user.mp4.part"
    started = time.monotonic()
    try:
        if still:
            with tempfile.TemporaryDirectory(prefix="tale-still-") as tmp:
                picture = as_png(file, Path(tmp) / "still.png")
                animate_still(
                    picture,
                    part,
                    width=width,
                    height=height,
                    fps=fps,
                    duration_s=seconds,
                    camera=shot.camera,
                    encode=encode,
                )
        else:
            conform_clip(
                file, part, width=width, height=height, fps=fps, duration_s=seconds, settings=encode, silence=True
            )
        check_clip(part, expected_s=shot.duration_s, fps=plan.fps)
        key = file_digest(part)[:32]
        clip = folder.cache / f"{key}.mp4"
        place_media(part, clip)  # sealed on the way in a media-sealed run
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    folder.secure(clip)
    made = ShotRecord(
        index=index,
        backend=USER_BACKEND,
        model="still" if still else "clip",
        params_hash=key,
        status=ShotStatus.DONE,
        path=str(folder.shot_file(index).relative_to(folder.root)),
        cost_usd=0.0,
        render_s=round(time.monotonic() - started, 3),
        finished_at=now_iso(),
        file=file_record(clip),
    )
    with manifest.finish_shot(index, start_from=made) as entry:
        take = record_take(folder, entry, plan_hash=plan_hash, clip=clip)
        take.source = file.name
    use_take(folder, manifest, index, take)
    return ShotChange(index, take.take, take.take, "replaced", cost_usd=0.0)
