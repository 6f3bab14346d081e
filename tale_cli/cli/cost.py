"""`tale cost`: the source document's scenario comparison, per-render estimates, and what runs spent."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer

from tale_cli.cli.common import console, errors_handled, escape, print_json

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


def _money(value: float) -> str:
    """Dollars with cents below $100 (a video, a user), whole dollars above (a month)."""
    sign = "−" if value < 0 else ""
    amount = abs(value)
    return f"{sign}${amount:,.0f}" if amount >= 100 else f"{sign}${amount:,.2f}"


def _monthly(value: float) -> str:
    return f"{'−' if value < 0 else ''}${abs(value):,.0f}"


def _span(low: float, high: float) -> str:
    return _monthly(low) if abs(low - high) < 0.005 else f"{_monthly(low)}–{_monthly(high)}"


def _table(title: str, *columns: str, right: tuple[int, ...] = ()) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold", show_edge=False, pad_edge=False)
    for position, column in enumerate(columns):
        table.add_column(column, justify="right" if position in right else "left")
    return table


def _show(out: Any, table: Any, notes: list[str] | None = None) -> None:
    # The "doc" columns (what the source document prints) only mean something for its own price book.
    table.columns[:] = [
        column for column in table.columns if not str(column.header).startswith("doc") or any(column.cells)
    ]
    out.print(table)
    for note in notes or []:
        out.print(f"[dim]  note: {escape(note)}[/]")
    out.print()


def _print_comparison(result: Any) -> None:
    out = console()
    notes: dict[str, list[str]] = result.notes
    out.print(
        f"[bold]Price book {escape(result.price_book)}[/] — {escape(result.price_book_title)}; "
        f"one video = {result.shots} shots × {result.seconds:g} s; A-1 pays {escape(result.api)}\n"
    )

    table = _table(
        "Video APIs: price per second and one video",
        "API",
        "res.",
        "$/s",
        "one video",
        "doc",
        "verified",
        right=(2, 3, 4),
    )
    for row in result.per_video:
        table.add_row(
            escape(row.label),
            row.resolution,
            f"${row.usd_per_second:.2f}",
            _money(row.usd_per_video),
            _money(row.document) if row.document is not None else "",
            "yes" if row.verified else "[yellow]no[/]",
        )
    _show(out, table, notes.get("per_video"))

    seconds = [f"{s:g}" for s in result.shot_seconds]
    table = _table(
        f"One video by shot length ({result.shots} shots)",
        "API",
        *(f"{s} s × {result.shots}" for s in seconds),
        right=tuple(range(1, len(seconds) + 1)),
    )
    for row in result.per_video:
        table.add_row(escape(row.label), *(_money(row.by_shot_seconds[s]) for s in seconds))
    _show(out, table, notes.get("shot_seconds"))

    table = _table("Common infrastructure (every scenario), per month", "item", "service", "USD", right=(2,))
    for item in result.fixed_infra:
        table.add_row(escape(item.item), escape(item.service), _span(item.usd.low, item.usd.high))
    table.add_row(
        "[bold]subtotal[/]", "", f"[bold]{_span(result.fixed_infra_total.low, result.fixed_infra_total.high)}[/]"
    )
    _show(out, table, notes.get("fixed_infra"))

    table = _table(
        f"A-1: the platform pays the APIs ({result.api})",
        "videos/month",
        "infra",
        "API",
        "total",
        "doc",
        right=(0, 1, 2, 3, 4),
    )
    for row in result.a1:
        table.add_row(
            f"{row.videos_per_month:,}",
            _monthly(row.infra),
            _monthly(row.api),
            f"[bold]{_monthly(row.total)}[/]",
            _monthly(row.document["total"]) if row.document else "",
        )
    _show(out, table, notes.get("a1"))

    table = _table(
        "A-2: users bring their own keys (BYOK)", "videos/month", "infra", "API", "total", right=(0, 1, 2, 3)
    )
    for row in result.a2:
        table.add_row(f"{row.videos_per_month:,}", _monthly(row.infra), "$0", f"[bold]{_monthly(row.total)}[/]")
    _show(out, table, notes.get("a2"))

    table = _table(
        "B: the document's GPU fleet, per month", "use", "GPU", "count", "$/h", "24/7", "12 h/day", right=(2, 3, 4, 5)
    )
    for pool in result.pools:
        rate = f"${pool.usd_per_hour:.2f}" + (" spot" if pool.rate == "spot" else "")
        count = f"+{pool.count} auto" if pool.autoscaled else str(pool.count)
        table.add_row(
            escape(pool.label), escape(pool.gpu), count, rate, _monthly(pool.monthly_24x7), _monthly(pool.monthly_12h)
        )
    table.add_row(
        "[bold]GPU subtotal[/]",
        "",
        "",
        "",
        f"[bold]{_monthly(result.b_gpu_monthly['24x7'])}[/]",
        f"[bold]{_monthly(result.b_gpu_monthly['12h'])}[/]",
    )
    _show(out, table, notes.get("b_gpu"))

    table = _table("B: GPU strategies, per month", "strategy", "USD", right=(1,))
    for strategy in result.strategies:
        label = escape(strategy.label) + (" [dim](as stated)[/]" if strategy.stated else "")
        table.add_row(label, _span(strategy.usd.low, strategy.usd.high))
    _show(out, table, notes.get("strategies"))

    table = _table("B: extra infrastructure and security, per month", "item", "service", "USD", right=(2,))
    for item in [*result.b_extras, *result.b_security]:
        table.add_row(escape(item.item), escape(item.service), _span(item.usd.low, item.usd.high))
    _show(out, table, notes.get("b_extras"))

    table = _table("B: monthly total as the document sums it (section 4)", "line", "USD", right=(1,))
    for label, value in result.b_total_lines:
        table.add_row(escape(label), _span(value.low, value.high))
    table.add_row("[bold]total[/]", f"[bold]{_span(result.b_total.low, result.b_total.high)}[/]")
    _show(out, table, notes.get("b_total"))

    table = _table(
        "B per volume: the fleet of each tier",
        "videos/month",
        "infra",
        "extras",
        "GPUs",
        "total",
        "fleet",
        right=(0, 1, 2, 3, 4),
    )
    for tier in result.b_tiers:
        table.add_row(
            f"{tier.videos_per_month:,}",
            _monthly(tier.infra),
            _monthly(tier.extras),
            _monthly(tier.gpu),
            f"[bold]{_monthly(tier.total)}[/]",
            escape(tier.fleet),
        )
    _show(out, table)

    table = _table(
        "Comparison per month (cheapest in green)",
        "videos/month",
        "A-1",
        "A-2",
        "B",
        "cheapest",
        "doc (A-1 / A-2 / B)",
        right=(0, 1, 2, 3),
    )
    for row in result.comparison:
        cells = [
            f"[bold green]{_monthly(row.costs[name])}[/]" if name == row.cheapest else _monthly(row.costs[name])
            for name in ("A-1", "A-2", "B")
        ]
        doc = row.document
        printed = " / ".join(_monthly(float(doc[name])) for name in ("A-1", "A-2", "B")) if doc else ""
        table.add_row(f"{row.videos_per_month:,}", *cells, row.cheapest, printed)
    _show(out, table, notes.get("comparison"))

    be = result.break_even
    out.print("[bold]Break-even[/]")
    if be["B_vs_A-1_videos_per_month"] is None:
        out.print("  B never costs less than A-1 at these prices.")
    else:
        out.print(
            f"  B costs less than A-1 from [bold]{be['B_vs_A-1_videos_per_month']:,}[/] videos a month "
            f"(A-1 pays {_money(be['A-1_usd_per_video'])} a video; B's first tier costs "
            f"{_monthly(be['B_first_tier_fixed_usd'])} a month beyond the shared infrastructure)."
        )
    low, high = be["fixed_B_vs_A-1_videos_per_month"]
    if low is not None:
        out.print(
            f"  Against B as one fixed sum (section 4's {_span(result.b_total.low, result.b_total.high)}): "
            f"from {low:,}–{'never' if high is None else f'{high:,}'} videos a month."
        )
    if be["A-2_cheaper_than_B_at_every_volume"]:
        out.print(
            "  For the platform, A-2 (BYOK) is cheaper than B at every volume: "
            "B adds GPUs and extras to the same infrastructure."
        )
    out.print()

    table = _table(
        "Capacity: B's video GPU-hours a month",
        "videos/month",
        "model",
        "s/clip",
        "needed",
        "always-on",
        "autoscaled",
        "enough",
        right=(0, 2, 3, 4, 5),
    )
    for row in result.capacity:
        verdict = (
            "[green]yes[/]"
            if row.enough
            else ("[yellow]with autoscale[/]" if row.enough_with_autoscaled else "[bold red]no[/]")
        )
        table.add_row(
            f"{row.videos_per_month:,}",
            escape(f"{row.model} ({row.gpu})"),
            f"{row.seconds_per_clip:g}",
            f"{row.gpu_hours_needed:,.0f}",
            f"{row.gpu_hours_available:,.0f}",
            f"{row.gpu_hours_autoscaled:,.0f}",
            verdict,
        )
    _show(out, table, notes.get("capacity"))
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.warnings:
        out.print()

    if result.unit_economics:
        users = result.unit_economics[0].users
        table = _table(
            f"Unit economics: margin per user a month ({users:,} users, all on one plan)",
            "plan",
            "price",
            "videos",
            "A-1",
            "A-2",
            "B",
            "BYOK user pays",
            right=(1, 2, 3, 4, 5, 6),
        )
        for row in result.unit_economics:
            margins = [
                f"[red]{_money(row.margin_per_user[name])}[/]"
                if row.margin_per_user[name] < 0
                else _money(row.margin_per_user[name])
                for name in ("A-1", "A-2", "B")
            ]
            table.add_row(
                escape(row.plan),
                _money(row.usd_per_month),
                f"{row.videos_per_user:g}",
                *margins,
                _money(row.byok_user_api_usd),
            )
        _show(
            out,
            table,
            [
                "margin = plan price − the scenario's monthly cost at that volume ÷ users; "
                "BYOK users pay the APIs themselves."
            ],
        )


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
    if as_json:
        print_json(result.to_json())
    else:
        _print_comparison(result)


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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """What rendering a story or plan with a recipe would cost, before spending anything."""
    with errors_handled():
        from tale_cli import cost
        from tale_cli.cli.settings import resolve_recipe
        from tale_cli.plan import load_plan

        chosen = resolve_recipe(recipe)
        from_story = source.suffix.lower() != ".json"
        if from_story:
            from tale_cli.planners import plan_story
            from tale_cli.story import read_story

            # The offline planner gives the shot and character structure without calling a paid model.
            plan = plan_story(read_story(source), chosen, planner_name="offline")
        else:
            plan = load_plan(source)
        book = cost.resolve_book(prices)
        result = cost.estimate_render(plan, chosen, book=book, include_planner=from_story, gpu=gpu)
        if as_json:
            print_json(result.to_json())
        else:
            _print_estimate(result)
        cost.check_budget(result, max_cost)


def _print_estimate(result: Any) -> None:
    out = console()
    model = f"{result.video_backend}/{result.video_model}" if result.video_model else result.video_backend
    table = _table(
        f"Estimate: recipe {result.recipe}, {model}, price book {result.price_book}",
        "shot",
        "seconds",
        "billed s",
        "GPU s",
        "USD",
        "price",
        right=(0, 1, 2, 3, 4),
    )
    for shot in result.shots:
        table.add_row(
            str(shot.index),
            f"{shot.seconds:g}",
            "" if shot.billed_seconds is None else f"{shot.billed_seconds:g}",
            "" if shot.gpu_seconds is None else f"{shot.gpu_seconds:g}",
            f"${shot.usd:.2f}",
            escape(shot.price or ""),
        )
    out.print(table)
    out.print(f"  video        ${result.video_usd:.2f}")
    out.print(
        f"  references   ${result.references_usd:.2f} "
        f"({result.references} image{'s' if result.references != 1 else ''})"
    )
    out.print(f"  planner      ${result.planner_usd:.2f}")
    out.print(
        f"  [bold]total        ${result.total_usd:.2f}[/]"
        + ("" if result.paid else " [dim](nothing billed by a provider)[/]")
    )
    for item in result.unpriced:
        out.print(f"[yellow]unpriced:[/] {escape(item)}")
    for note in result.notes:
        out.print(f"[dim]  note: {escape(note)}[/]")


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
        return
    out = console()
    if not report.runs:
        out.print("No runs found (looked for ./out/*/manifest.json).")
        return
    for title, lines in (("Per backend", report.by_backend), ("Per day", report.by_day), ("Per run", report.runs)):
        table = _table(title, "", "items", "billed s", "credits", "GPU s", "USD", right=(1, 2, 3, 4, 5))
        for line in lines:
            table.add_row(
                escape(line.key),
                str(line.items),
                f"{line.billed_seconds:g}",
                f"{line.billed_credits:g}",
                f"{line.gpu_seconds:,.0f}",
                f"${line.usd:,.2f}",
            )
        _show(out, table)
    out.print(
        f"[bold]total ${report.total_usd:,.2f}[/] across {len(report.runs)} run{'s' if len(report.runs) != 1 else ''}"
    )
    if report.unrecorded:
        out.print(
            f"[yellow]warning:[/] {report.unrecorded} finished item(s) on paid backends recorded no cost; "
            "the total leaves them out."
        )


# ── The guard `tale render` runs after planning and before the first paid call ──────────────────────


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty() and sys.stdout.isatty()


def _keep_plan(plan: Any, folder: Any) -> None:
    """A refused render leaves only its plan behind, so it can be edited and rendered later."""
    import shutil

    text = plan.to_json()
    if folder.plan.is_file() and folder.plan.read_text(encoding="utf-8") == text:
        return
    folder.check_writable()
    folder.root.mkdir(parents=True, exist_ok=True, mode=0o700 if folder.private else 0o755)
    if folder.plan.is_file():
        shutil.copyfile(folder.plan, folder.root / "plan.prev.json")
    folder.write_text(folder.plan, text)


def spend_guard(
    *,
    prices: str | None,
    max_cost: float | None,
    yes: bool,
    quiet: bool,
    pause: Callable[[], AbstractContextManager[Any]],
) -> Callable[[Any, Any, Any, list[int]], None]:
    """Show a render's estimate, hold it to the budget (--max-cost, else the recipe's) and, on a terminal,
    ask before a paid render starts (unless --yes). Refusing raises BudgetError with nothing spent."""

    def guard(plan: Any, recipe: Any, folder: Any, pending: list[int]) -> None:
        from tale_cli import cost
        from tale_cli.errors import BudgetError

        # Only the shots that will render: a resumed run pays nothing for its cached shots.
        estimate = cost.estimate_render(
            plan, recipe, book=cost.resolve_book(prices), include_planner=False, only_shots=pending
        )
        budget = max_cost if max_cost is not None else recipe.budget_usd
        if estimate.paid or estimate.unpriced or budget is not None:
            out = console(stderr=quiet)
            count = len(estimate.shots)
            parts = [f"{count} shot{'s' if count != 1 else ''} on {estimate.video_backend}"]
            if estimate.references:
                parts.append(f"{estimate.references} reference image{'s' if estimate.references != 1 else ''}")
            limit = f"; budget ${budget:.2f}" if budget is not None else ""
            out.print(
                f"[bold]estimate ${estimate.total_usd:.2f}[/] ({', '.join(parts)}; "
                f"price book {escape(estimate.price_book)}{limit})"
            )
            for item in estimate.unpriced:
                out.print(f"[yellow]unpriced:[/] {escape(item)}")
        try:
            cost.check_budget(estimate, budget)
            if estimate.paid and not yes and not quiet and _interactive():
                with pause():
                    confirmed = typer.confirm(f"Spend about ${estimate.total_usd:.2f}?", default=False)
                if not confirmed:
                    raise BudgetError("not confirmed; nothing was spent", hint="pass --yes to render without asking")
        except BudgetError:
            _keep_plan(plan, folder)
            raise

    return guard
