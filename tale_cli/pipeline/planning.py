"""Stage 1, the plan: read plan.json or plan the story, choose the run folder, write plan.json."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.errors import InputError
from tale_cli.keys.audit import AuditLog
from tale_cli.keys.privacy import check_private, private_files
from tale_cli.keys.seal import identity_at_hand
from tale_cli.media.pictures import check_picture
from tale_cli.pipeline.options import RenderOptions
from tale_cli.run.folder import Manifest, PlannerRecord, PlanOrigin, RunFolder, now_iso
from tale_cli.run.plan_file import save_plan
from tale_cli.story.plan import Plan, Voices, load_plan

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.reader import Story


def default_out_root() -> Path:
    from tale_cli.config import load_defaults

    return Path(load_defaults().out_dir)


def is_plan_file(source: Path) -> bool:
    return source.suffix.lower() == ".json"


class PlanSource(StrEnum):
    """Where a render's plan came from."""

    READ = "read"  # the plan.json given
    REUSED = "reused"  # the run folder's plan.json, made from the same story with the same settings
    RESHAPED = "reshaped"  # that plan.json at the film's new aspect or resolution: nothing to plan again
    PLANNED = "planned"  # the planner, just now
    NOT_PLANNED = "not planned"  # a dry run's stand-in: a planner that sends the story away is not called


@dataclass
class PreparedPlan:
    plan: Plan
    folder: RunFolder
    source: PlanSource
    how: str  # said to the user and kept in the manifest: "planned with offline", "read plan.json"…
    origin: PlanOrigin | None  # what a story's plan is made from; None for a plan.json


def choose_folder(source: Path, options: RenderOptions) -> RunFolder:
    """The run folder a render or plan of `source` writes: the plan.json's own (or OUT/<slug>), else OUT/<story-slug>."""
    if source.is_dir():
        raise InputError(f"{source} is a directory, not a story or plan file", hint="pass story.md or plan.json")
    private = options.private or options.recipe.private
    media = options.seal_media or options.recipe.seal_media
    seal = media or (
        options.seal if options.seal is not None else options.recipe.seal or (private and identity_at_hand())
    )
    if is_plan_file(source):
        plan = load_plan(source)
        root = options.run_dir or (source.parent if options.out_root is None else options.out_root / plan.slug)
        return RunFolder(root, private=private, seal=seal, seal_media=media)
    from tale_cli.story.plan import slugify
    from tale_cli.story.reader import read_story

    slug = slugify(read_story(source, warn=False).title, fallback=slugify(source.stem))
    out_root = options.out_root if options.out_root is not None else default_out_root()
    return RunFolder(options.run_dir or out_root / slug, private=private, seal=seal, seal_media=media)


def prepare_plan(
    source: Path,
    options: RenderOptions,
    folder: RunFolder | None = None,
    *,
    before_planning: Callable[[Plan], None] | None = None,
) -> PreparedPlan:
    """Load or make the plan, in the run folder given or chosen here. `before_planning` is called with the offline
    planner's sketch of the shots just before a remote (paid) planner is asked, so a budget can refuse first."""
    recipe = options.recipe
    folder = folder or choose_folder(source, options)
    if is_plan_file(source):
        plan = load_plan(source)
        how = f"read {source}"
        if options.aspect or options.resolution:
            from tale_cli.story.shape import plan_shape, reshape

            shape = plan_shape(plan, aspect=options.aspect, resolution=options.resolution)
            if (shape.width, shape.height) != (plan.width, plan.height):
                plan = reshape(plan, shape.width, shape.height, shape.aspect)
                how += f", reshaped to {shape.aspect} {shape.width}x{shape.height}"
        return PreparedPlan(plan, folder, PlanSource.READ, how, None)

    from tale_cli.planners import shot_settings
    from tale_cli.story.reader import read_story

    story = read_story(source)
    planner_name = options.planner or recipe.planner.backend
    shots, seconds = shot_settings(story, recipe)
    origin = PlanOrigin(
        story_sha256=story.sha256,
        planner=planner_name,
        model=recipe.planner.model,
        shots=shots,
        seconds=seconds,
        size=[recipe.width, recipe.height, recipe.fps],
    )
    folder.check_writable()
    earlier = Manifest.load(folder).data.plan_origin
    if earlier == origin and folder.plan.is_file():
        how = f"reused {folder.plan} (story unchanged)"
        return PreparedPlan(load_plan(folder.plan), folder, PlanSource.REUSED, how, origin)
    reshaped = _reshaped(folder, earlier, origin, recipe)
    if reshaped is not None:
        how = f"reused {folder.plan} (story unchanged) at {reshaped.aspect} {reshaped.width}x{reshaped.height}"
        return PreparedPlan(reshaped, folder, PlanSource.RESHAPED, how, origin)
    if options.dry_run and _is_remote(planner_name, recipe):
        plan, shown = _not_planned(story, recipe, folder)
        how = f"not planned: a dry run does not call {planner_name}; showing {shown}"
        return PreparedPlan(plan, folder, PlanSource.NOT_PLANNED, how, origin)
    if before_planning is not None and _is_remote(planner_name, recipe):
        from tale_cli.planners import plan_story

        sketch = plan_story(story, recipe, planner_name="offline")
        _adopt_story_images(sketch, story.path.parent, folder, dry_run=True)
        before_planning(sketch)
    plan = _plan_audited(story, recipe, planner_name, folder, dry_run=options.dry_run, kept=_earlier_voices(folder))
    _adopt_story_images(plan, story.path.parent, folder, dry_run=options.dry_run)
    return PreparedPlan(plan, folder, PlanSource.PLANNED, f"planned with {planner_name}", origin)


def _reshaped(folder: RunFolder, earlier: PlanOrigin | None, origin: PlanOrigin, recipe: Recipe) -> Plan | None:
    """The run folder's plan at the film's new shape, when only the shape changed since it was planned: a new
    aspect needs no new prompts, and changing it back then finds every clip of the first shape cached."""
    from tale_cli.errors import PlanError
    from tale_cli.story.shape import film_aspect, reshape

    if earlier is None or earlier.model_copy(update={"size": origin.size}) != origin or not folder.plan.is_file():
        return None
    try:
        plan = load_plan(folder.plan)
    except PlanError:
        return None
    return reshape(plan, recipe.width, recipe.height, film_aspect(recipe))


def shaped_options(source: Path, options: RenderOptions) -> RenderOptions:
    """The options with the recipe made for the film's shape: flag > story front matter (or plan.json) > recipe."""
    from tale_cli.story.reader import source_shape
    from tale_cli.story.shape import shaped_recipe

    shape = source_shape(source, options.recipe, aspect=options.aspect, resolution=options.resolution)
    return replace(options, recipe=shaped_recipe(options.recipe, shape))


def _is_remote(planner_name: str, recipe: Recipe) -> bool:
    """A planner that sends the story off this machine (and may bill for it)."""
    from tale_cli.registry import Role, provider

    return not provider(planner_name, Role.PLANNER).runs_locally(recipe.planner.base_url)


def _not_planned(story: Story, recipe: Recipe, folder: RunFolder) -> tuple[Plan, str]:
    """What a dry run shows instead of calling a remote planner: the run folder's plan.json when it has a valid
    one, else the offline planner's sketch of the same shots (what the estimate needs)."""
    from tale_cli.errors import PlanError
    from tale_cli.planners import plan_story

    if folder.plan.is_file():
        with contextlib.suppress(PlanError):
            return load_plan(folder.plan), str(folder.plan)
    plan = plan_story(story, recipe, planner_name="offline")
    _adopt_story_images(plan, story.path.parent, folder, dry_run=True)
    return plan, "the offline planner's sketch of its shots"


def _earlier_voices(folder: RunFolder) -> dict[str, Voices]:
    """The voices the run folder's plan.json gives its characters (by id): a story planned again keeps them."""
    from tale_cli.errors import PlanError

    if not folder.plan.is_file():
        return {}
    try:
        earlier = load_plan(folder.plan)
    except PlanError:
        return {}
    return {character.id: character.voice for character in earlier.characters if character.voice is not None}


def _plan_audited(
    story: Story, recipe: Recipe, planner_name: str, folder: RunFolder, *, dry_run: bool, kept: dict[str, Voices]
) -> Plan:
    """Plan the story and add the planner request to the run's audit log (not in a dry run, which writes nothing)."""
    from tale_cli.planners import plan_story

    started = time.monotonic()
    remote = _is_remote(planner_name, recipe)

    def audit(outcome: str, error: str | None = None) -> None:
        # A remote planner's request is written at once (it may have been billed even if the render is then
        # refused); a local planner's waits until the run folder is written.
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
        plan = plan_story(story, recipe, planner_name=planner_name, kept=kept)
    except Exception as error:
        # A local planner that fails has sent nothing anywhere; a remote one may have been billed.
        if not dry_run and remote:
            audit("error", getattr(error, "message", None) or str(error))
        raise
    if not dry_run:
        audit("ok")
    return plan


def inside_folder(base: Path, candidate: Path) -> Path:
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise InputError(f"{candidate} points outside {base}", hint="keep reference images beside the story or plan")
    return resolved


def _adopt_story_images(plan: Plan, story_dir: Path, folder: RunFolder, *, dry_run: bool) -> None:
    """Front-matter images live beside the story: copy them into refs/ so the plan is self-contained."""
    for subject in plan.subjects():
        if not subject.reference_image:
            continue
        source = inside_folder(story_dir, story_dir / subject.reference_image)
        check_picture(source, f"reference image for {subject.name} ({subject.reference_image})")
        target = f"refs/{subject.id}{source.suffix.lower() or '.png'}"
        if not dry_run:
            folder.create()
            shutil.copyfile(source, folder.root / target)
        subject.reference_image = target


def planner_record(prepared: PreparedPlan, recipe: Recipe, planner: str | None) -> PlannerRecord:
    """Who planned this film and what that cost: nothing unless planned now (or, in a dry run, about to be),
    else the price book's figure."""
    backend = planner or recipe.planner.backend
    record = PlannerRecord(
        backend=backend, model=recipe.planner.model, how=prepared.how, finished_at=now_iso(), cost_usd=0.0
    )
    if prepared.source not in (PlanSource.PLANNED, PlanSource.NOT_PLANNED):
        return record
    from tale_cli.cost import estimate_render

    planner_recipe = recipe.model_copy(update={"planner": recipe.planner.model_copy(update={"backend": backend})})
    estimate = estimate_render(prepared.plan, planner_recipe)
    record.cost_usd = round(estimate.planner_usd, 6)
    record.estimated = estimate.planner_usd > 0
    return record


@dataclass
class PlanResult:
    plan: Plan
    path: Path
    how: str


def write_plan(
    story: Path,
    *,
    recipe: Recipe,
    out_root: Path | None,
    planner: str | None = None,
    private: bool = False,
    seal: bool | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    aspect: str | None = None,
    resolution: str | None = None,
) -> PlanResult:
    """`tale plan`: plan the story and write OUT/<slug>/plan.json (an edited one is kept as plan.prev.json).

    Another command writing the run folder is waited for (`on_wait` hears why), or with `wait=False` refused.
    `aspect` and `resolution` (the flags) win over the story's front matter, which wins over the recipe.
    """
    from tale_cli.run.open import held

    if is_plan_file(story):
        raise InputError(f"{story} is already a plan", hint="`tale render` renders a plan.json")
    check_private(recipe, private=private, planner=planner)
    options = RenderOptions(
        recipe=recipe,
        out_root=out_root,
        planner=planner,
        private=private,
        seal=seal,
        aspect=aspect,
        resolution=resolution,
    )
    with private_files(private or recipe.private):
        folder = choose_folder(story, options)
        folder.check_seal()
        options = shaped_options(story, options)
        with held(folder, "planning", wait=wait, say=on_wait):
            return _write_plan(story, options, folder)


def _write_plan(story: Path, options: RenderOptions, folder: RunFolder) -> PlanResult:
    from tale_cli.config import recipe_file

    recipe = options.recipe
    prepared = prepare_plan(story, options, folder)
    plan, folder = prepared.plan, prepared.folder
    if prepared.source is PlanSource.REUSED:
        return PlanResult(plan, folder.plan, prepared.how)
    folder.create()
    AuditLog(folder.root, audit_prompts=recipe.audit_prompts).write_deferred()
    save_plan(plan, folder, story)
    with Manifest.load(folder).edit() as data:
        data.plan_origin = prepared.origin
        data.run.slug = plan.slug
        data.run.recipe = recipe.name
        own = recipe_file(recipe)
        if own is not None:
            data.run.recipe_file = str(own)
        data.run.private = folder.private  # recorded as a render records them: later commands read them
    return PlanResult(plan, folder.plan, prepared.how)
