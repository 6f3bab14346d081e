"""`tale cost`: the source document's scenario comparison, per-render estimates, and what runs spent."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tale_cli.cli.common import console, errors_handled, escape, print_json

if TYPE_CHECKING:
    from tale_cli.cost.guard import Spending

app = typer.Typer(
    help="Costs: compare the scenarios, estimate a render, sum what runs spent.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

PRICES_HELP = "Price book: an id in configs/pricing/ (2026-02 = the source document, 2026-11 = today) or a .toml file."


def _volumes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        volumes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            "give whole numbers of videos a month, e.g. 5000,15000,30000", param_hint="--volumes"
        ) from None
    if not volumes or any(v <= 0 for v in volumes):
        raise typer.BadParameter("give positive numbers of videos a month", param_hint="--volumes")
    return volumes


def _plans(values: list[str] | None) -> list[tuple[str, float, float]] | None:
    """`--plan NAME=PRICE:VIDEOS` (or `PRICE:VIDEOS`): a subscription and the videos a user makes a month."""
    if not values:
        return None
    plans = []
    for value in values:
        name, _, terms = value.rpartition("=")
        price, _, videos = terms.partition(":")
        try:
            plans.append((name or f"${float(price):g}", float(price), float(videos)))
        except ValueError:
            raise typer.BadParameter(
                f"'{value}' is not NAME=PRICE:VIDEOS, e.g. pro=49:20", param_hint="--plan"
            ) from None
    return plans


@app.command("compare")
def compare(
    prices: Annotated[str | None, typer.Option("--prices", help=PRICES_HELP)] = None,
    volumes: Annotated[
        str | None, typer.Option("--volumes", help="Videos a month, comma-separated (default: 5000,15000,30000,45000).")
    ] = None,
    api: Annotated[
        str | None, typer.Option("--api", help="The video API scenario A-1 pays for (default: veo-3.1-fast).")
    ] = None,
    shots: Annotated[int | None, typer.Option("--shots", min=1, max=64, help="Shots per video (default 8).")] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", min=0.5, max=60, help="Seconds per shot (default 8).")
    ] = None,
    users: Annotated[
        int | None, typer.Option("--users", min=1, help="Users for the unit economics (default: the book's 1,000).")
    ] = None,
    plan: Annotated[
        list[str] | None,
        typer.Option("--plan", help="A subscription NAME=PRICE:VIDEOS a month (repeatable), e.g. pro=49:20."),
    ] = None,
    benchmark: Annotated[
        Path | None,
        typer.Option("--benchmark", help='Measured GPU time: JSON {"model", "gpu", "seconds_per_clip"} or a list.'),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="FILE.svg|.png", help="Also draw the comparison as a chart (the plot extra)."),
    ] = None,
) -> None:
    """Recompute the source document's cost comparison, then break-even, capacity and unit economics."""
    parsed_volumes = _volumes(volumes)
    parsed_plans = _plans(plan)
    with errors_handled():
        from tale_cli import cost

        book = cost.resolve_book(prices)
        subscriptions = (
            [
                cost.SubscriptionPlan(name=name, usd_per_month=price, videos_per_month=videos)
                for name, price, videos in parsed_plans
            ]
            if parsed_plans
            else None
        )
        timings = cost.load_timings(benchmark) if benchmark else []
        result = cost.compare(
            book,
            volumes=parsed_volumes,
            api=api,
            shots=shots,
            seconds=seconds,
            users=users,
            plans=subscriptions,
            timings=timings,
        )
        chart = None
        if plot is not None:
            from tale_cli.cost.plot import plot_comparison

            chart = plot_comparison(book, result, plot)
    if as_json:
        print_json(result.to_json())
    else:
        from tale_cli.cli.cost_print import print_comparison

        print_comparison(result)
    if chart is not None:
        console(stderr=as_json).print(f"chart {escape(str(chart))}")


@app.command("estimate")
def estimate(
    source: Annotated[Path, typer.Argument(help="A story (.md) or a plan.json.")],
    recipe: Annotated[
        str | None,
        typer.Option("--recipe", "-r", help="Recipe name or .toml file [default: TALE_RECIPE, else preview]."),
    ] = None,
    prices: Annotated[str | None, typer.Option("--prices", help=PRICES_HELP)] = None,
    gpu: Annotated[
        str | None, typer.Option("--gpu", help="GPU that prices local rendering (a key of the book's [gpus]).")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", min=0, help="Exit with code 9 if the estimate exceeds this many USD.")
    ] = None,
    on: Annotated[
        str | None,
        typer.Option("--on", metavar="YYYY-MM-DD", help="Price at the prices in force on this day [today]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """What rendering a story or plan with a recipe would cost, before spending anything; for a recipe with a
    [draft], also the draft render, `tale finalize` at the final tier and their sum."""
    with errors_handled():
        from tale_cli import cost
        from tale_cli.cli.settings import resolve_recipe
        from tale_cli.pricing.rates import priced_on
        from tale_cli.story.plan import load_plan
        from tale_cli.story.reader import source_shape
        from tale_cli.story.shape import shaped_recipe

        chosen = resolve_recipe(recipe)
        # Priced at the film's own shape: a story asking for 1080p is a 1080p render.
        chosen = shaped_recipe(chosen, source_shape(source, chosen))
        from_story = source.suffix.lower() != ".json"
        if from_story:
            from tale_cli.planners import plan_story
            from tale_cli.story.reader import read_story

            # The offline planner gives the shot and character structure without calling a paid model.
            plan = plan_story(read_story(source), chosen, planner_name="offline")
        else:
            plan = load_plan(source)
        book = cost.resolve_book(prices or chosen.prices)
        with priced_on(_day(on)):
            result = cost.estimate_render(plan, chosen, book=book, include_planner=from_story, gpu=gpu)
            tiers = cost.estimate_tiers(plan, chosen, book=book, include_planner=from_story, gpu=gpu)
        if tiers is not None:
            result = result.model_copy(update={"tiers": tiers})
        if as_json:
            print_json(result.to_json())
        else:
            from tale_cli.cli.cost_print import print_estimate

            print_estimate(result)
        cost.check_budget(result, max_cost)


@app.command("spent")
def spent(
    run_dirs: Annotated[
        list[Path] | None, typer.Argument(help="Run folders (default: every ./out/*/ with a manifest.json).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """What runs actually cost, from their manifests: per run, per backend and per day."""
    with errors_handled():
        from tale_cli import cost

        report = cost.spent(run_dirs or [])
    if as_json:
        print_json(report.to_json())
    else:
        from tale_cli.cli.cost_print import print_spend

        print_spend(report)


# ── The guard `tale render` runs after planning and before the first paid call ──────────────────────


def terminal_spending(
    *,
    max_cost: float | None,
    yes: bool,
    quiet: bool,
    pause: Callable[[], AbstractContextManager[Any]],
) -> Spending:
    """How a command at this terminal may spend: its estimate printed here (on stderr under --json), its question
    asked here with the progress display paused (never under --json or --yes, nor where no one is at a terminal).
    The library holds the budget and asks through it."""
    from tale_cli.cli.cost_print import print_spend_check
    from tale_cli.cost.guard import Spending, interactive

    def confirm(question: str) -> bool:
        with pause():
            return typer.confirm(question, default=False)

    return Spending(
        max_cost=max_cost,
        yes=yes,
        confirm=None if quiet or not interactive() else confirm,
        show=lambda check: print_spend_check(check, stderr=quiet),
    )


def _day(text: str | None) -> datetime.date | None:
    """--on: a calendar day as YYYY-MM-DD."""
    if text is None:
        return None
    from tale_cli.errors import InputError

    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--on {text!r} is not a day", hint="give it as YYYY-MM-DD, e.g. 2027-01-15") from None
