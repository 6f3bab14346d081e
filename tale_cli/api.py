"""Tale's Python API: the commands a script calls, with the same guarantees as the command line — the run folder held
against every other command, the budget (the recipe's `budget_usd`, and `max_cost`) enforced before anything is
spent, private mode, the job journal, and the film cut the one way (tale_cli.run.cut).

Errors are the typed `TaleError` family the CLI turns into exit codes (`error.exit_code`): `BudgetError` (9) for a
render over its budget or not confirmed, `KeysError`, `InputError`, `RecipeError`, `ShotsFailedError` (8)…

    import tale_cli
    report = tale_cli.render("story.md", recipe="veo-3.1-fast", max_cost=5.0, yes=True)
    print(report.film, report.cost_usd)

    drafts = tale_cli.render("story.md", recipe="veo-3.1-fast", draft=True, yes=True)  # film.draft.mp4
    tale_cli.finalize(drafts.run_dir, yes=True)  # film.mp4 from the current takes, at the final tier
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.cost.guard import SpendCheck
    from tale_cli.events import Event
    from tale_cli.pipeline.finalize import FinalizeReport
    from tale_cli.pipeline.report import RenderReport
    from tale_cli.pipeline.restitch import StitchReport
    from tale_cli.pipeline.takes import TakesReport


def _recipe(recipe: str | Path | Recipe) -> Recipe:
    from tale_cli.config import Recipe, load_recipe

    return recipe if isinstance(recipe, Recipe) else load_recipe(str(recipe))


def render(
    story_or_plan: str | Path,
    *,
    recipe: str | Path | Recipe = "preview",
    out: str | Path | None = None,
    yes: bool = False,
    max_cost: float | None = None,
    confirm: Callable[[str], bool] | None = None,
    show_spend: Callable[[SpendCheck], None] | None = None,
    private: bool = False,
    seal: bool | None = None,
    seal_media: bool = False,
    planner: str | None = None,
    jobs: int | None = None,
    aspect: str | None = None,
    resolution: str | None = None,
    voice: str | None = None,
    no_voice: bool = False,
    music: str | None = None,
    burn_subtitles: bool = False,
    transition: str | None = None,
    c2pa: bool = True,
    watermark: str | None = None,
    invisible_watermark: str | None = None,
    prices: str | None = None,
    dry_run: bool = False,
    draft: bool = False,
    wait: bool = True,
    on_event: Callable[[Event], None] | None = None,
) -> RenderReport:
    """Render a story (story.md) or a plan (plan.json) into a run folder with film.mp4, as `tale render` does; with
    `draft`, at the recipe's [draft] tier into film.draft.mp4 (then `finalize` makes film.mp4).

    A paid render asks `confirm("Spend about $X?")` unless `yes`; with neither, it starts without asking, held to
    the budget: the lower of `max_cost` and the recipe's `budget_usd`. Over it, `BudgetError` is raised with nothing
    spent. Returns the report (run folder, film, shots, cost); a render whose shots failed returns its report with
    `report.failed` set, as the command does before exiting 8.
    """
    from tale_cli.config import draft_recipe, with_sound_overrides
    from tale_cli.errors import InputError
    from tale_cli.events import ignore_events
    from tale_cli.film.music import composes
    from tale_cli.pipeline import RenderOptions
    from tale_cli.pipeline import render as render_film
    from tale_cli.pricing.book import with_prices

    source = Path(story_or_plan)
    if music not in (None, "none") and not composes(music) and not Path(music).expanduser().is_file():
        raise InputError(f"music file not found: {music}", hint="give an audio file, lyria, or none")
    tiered = draft_recipe(_recipe(recipe)) if draft else _recipe(recipe)
    chosen = with_sound_overrides(tiered, voice=voice, no_voice=no_voice, music=music)
    chosen = with_prices(chosen, prices)
    options = RenderOptions(
        recipe=chosen,
        out_root=Path(out) if out is not None else None,
        jobs=jobs,
        dry_run=dry_run,
        planner=planner,
        burn_subtitles=burn_subtitles,
        transition=transition,
        c2pa=c2pa,
        watermark=watermark,
        invisible_watermark=invisible_watermark,
        private=private,
        seal=seal,
        seal_media=seal_media,
        aspect=aspect,
        resolution=resolution,
        wait=wait,
        max_cost=max_cost,
        yes=yes,
        confirm=confirm,
        show_spend=show_spend,
    )
    return render_film(source, options, on_event or ignore_events)


def retake(
    run_dir: str | Path,
    shots: Sequence[int],
    *,
    recipe: str | Path | Recipe | None = None,
    seed: int | None = None,
    new_seed: bool = False,
    prompt: str | None = None,
    keep: bool = False,
    yes: bool = False,
    max_cost: float | None = None,
    confirm: Callable[[str], bool] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> TakesReport:
    """New takes of `shots`, as `tale retake` makes them (held to the budget like a render), and the film cut again."""
    from tale_cli.cost.guard import Spending
    from tale_cli.events import ignore_events
    from tale_cli.pipeline.takes import RetakeOptions
    from tale_cli.pipeline.takes import retake as retake_shots

    options = RetakeOptions(
        recipe=_recipe(recipe) if recipe is not None else None,
        seed=seed,
        new_seed=new_seed,
        prompt=prompt,
        keep=keep,
        spending=Spending(max_cost=max_cost, yes=yes, confirm=confirm),
    )
    return retake_shots(Path(run_dir), list(shots), options, emit=on_event or ignore_events)


def finalize(
    run_dir: str | Path,
    shots: Sequence[int] = (),
    *,
    recipe: str | Path | Recipe | None = None,
    yes: bool = False,
    max_cost: float | None = None,
    confirm: Callable[[str], bool] | None = None,
    show_spend: Callable[[SpendCheck], None] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> FinalizeReport:
    """Render the current takes of a run made with `render(..., draft=True)` at the recipe's final tier and cut
    film.mp4, as `tale finalize` does (held to the budget like a render; a take finalized before is not paid again)."""
    from tale_cli.cost.guard import Spending
    from tale_cli.events import ignore_events
    from tale_cli.pipeline.finalize import FinalizeOptions
    from tale_cli.pipeline.finalize import finalize as finalize_run

    options = FinalizeOptions(
        recipe=_recipe(recipe) if recipe is not None else None,
        spending=Spending(max_cost=max_cost, yes=yes, confirm=confirm, show=show_spend),
    )
    return finalize_run(Path(run_dir), list(shots), options, emit=on_event or ignore_events)


def pick(run_dir: str | Path, shot: int, take: int) -> TakesReport:
    """Make one of a shot's takes current and cut the film again, as `tale pick` does."""
    from tale_cli.pipeline.takes import pick as pick_take

    return pick_take(Path(run_dir), shot, take)


def stitch(run_dir: str | Path, *, out: str | Path | None = None, wait: bool = True) -> StitchReport:
    """Cut the run's film again as it is (`tale stitch RUN_DIR`): "unchanged" when nothing that makes it changed."""
    from tale_cli.pipeline.restitch import stitch_run

    return stitch_run(Path(run_dir), out=Path(out) if out is not None else None, wait=wait)


__all__ = ["pick", "render", "retake", "stitch"]
