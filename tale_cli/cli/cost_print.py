"""Rich tables for `tale cost`: the scenario comparison, a render's estimate, what runs spent, the spend check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tale_cli.cli.common import console, escape

if TYPE_CHECKING:
    from tale_cli.cost import Comparison, RenderEstimate, SpendCheck, SpendReport, TiersEstimate


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


def print_comparison(result: Comparison) -> None:
    """The document's tables in its order, each with its notes, then break-even, capacity and margins."""
    out = console()
    out.print(
        f"[bold]Price book {escape(result.price_book)}[/] — {escape(result.price_book_title)}; "
        f"one video = {result.inputs.shots} shots × {result.inputs.seconds:g} s; A-1 pays {escape(result.inputs.api)}\n"
    )
    _print_video_apis(out, result)
    _print_scenario_a(out, result)
    _print_scenario_b(out, result)
    _print_comparison_rows(out, result)
    _print_capacity(out, result)
    _print_unit_economics(out, result)


def _print_video_apis(out: Any, result: Comparison) -> None:
    """Video APIs: price per second, one video, and one video by shot length."""
    notes = result.notes
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
        f"One video by shot length ({result.inputs.shots} shots)",
        "API",
        *(f"{s} s × {result.inputs.shots}" for s in seconds),
        right=tuple(range(1, len(seconds) + 1)),
    )
    for row in result.per_video:
        table.add_row(escape(row.label), *(_money(row.by_shot_seconds[s]) for s in seconds))
    _show(out, table, notes.get("shot_seconds"))


def _print_scenario_a(out: Any, result: Comparison) -> None:
    """Common infrastructure, then A-1 (the platform pays the APIs) and A-2 (BYOK)."""
    notes = result.notes
    table = _table("Common infrastructure (every scenario), per month", "item", "service", "USD", right=(2,))
    for item in result.fixed_infra.items:
        table.add_row(escape(item.item), escape(item.service), _span(item.usd.low, item.usd.high))
    table.add_row(
        "[bold]subtotal[/]", "", f"[bold]{_span(result.fixed_infra.total.low, result.fixed_infra.total.high)}[/]"
    )
    _show(out, table, notes.get("fixed_infra"))

    table = _table(
        f"A-1: the platform pays the APIs ({result.inputs.api})",
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
            _monthly(row.document.total) if row.document else "",
        )
    _show(out, table, notes.get("a1"))

    table = _table(
        "A-2: users bring their own keys (BYOK)", "videos/month", "infra", "API", "total", right=(0, 1, 2, 3)
    )
    for row in result.a2:
        table.add_row(f"{row.videos_per_month:,}", _monthly(row.infra), "$0", f"[bold]{_monthly(row.total)}[/]")
    _show(out, table, notes.get("a2"))


def _print_scenario_b(out: Any, result: Comparison) -> None:
    """Scenario B: the fleet, its strategies, extras, the document's total, and each volume's tier."""
    notes = result.notes
    table = _table(
        "B: the document's GPU fleet, per month", "use", "GPU", "count", "$/h", "24/7", "12 h/day", right=(2, 3, 4, 5)
    )
    for pool in result.b_gpu_pools:
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
    for strategy in result.b_strategies:
        label = escape(strategy.label) + (" [dim](as stated)[/]" if strategy.stated_by_document else "")
        table.add_row(label, _span(strategy.usd.low, strategy.usd.high))
    _show(out, table, notes.get("strategies"))

    table = _table("B: extra infrastructure and security, per month", "item", "service", "USD", right=(2,))
    for item in [*result.b_extras.items, *result.b_extras.security]:
        table.add_row(escape(item.item), escape(item.service), _span(item.usd.low, item.usd.high))
    _show(out, table, notes.get("b_extras"))

    table = _table("B: monthly total as the document sums it (section 4)", "line", "USD", right=(1,))
    for line in result.b_total.lines:
        table.add_row(escape(line.item), _span(line.usd.low, line.usd.high))
    table.add_row("[bold]total[/]", f"[bold]{_span(result.b_total.usd.low, result.b_total.usd.high)}[/]")
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


def _print_comparison_rows(out: Any, result: Comparison) -> None:
    """The three scenarios side by side at each volume, and where B breaks even."""
    notes = result.notes
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
        printed = " / ".join(_monthly(value) for value in (doc.a1, doc.a2, doc.b)) if doc else ""
        table.add_row(f"{row.videos_per_month:,}", *cells, row.cheapest, printed)
    _show(out, table, notes.get("comparison"))

    be = result.break_even
    out.print("[bold]Break-even[/]")
    if be.b_vs_a1_videos_per_month is None:
        out.print("  B never costs less than A-1 at these prices.")
    else:
        out.print(
            f"  B costs less than A-1 from [bold]{be.b_vs_a1_videos_per_month:,}[/] videos a month "
            f"(A-1 pays {_money(be.a1_usd_per_video)} a video; B's first tier costs "
            f"{_monthly(be.b_first_tier_fixed_usd)} a month beyond the shared infrastructure)."
        )
    low, high = be.fixed_b_vs_a1_videos_per_month
    if low is not None:
        out.print(
            f"  Against B as one fixed sum (section 4's {_span(result.b_total.usd.low, result.b_total.usd.high)}): "
            f"from {low:,}–{'never' if high is None else f'{high:,}'} videos a month."
        )
    if be.a2_cheaper_than_b_at_every_volume:
        out.print(
            "  For the platform, A-2 (BYOK) is cheaper than B at every volume: "
            "B adds GPUs and extras to the same infrastructure."
        )
    out.print()


def _print_capacity(out: Any, result: Comparison) -> None:
    """Whether B's video GPUs can render each volume, with the warnings where they cannot."""
    notes = result.notes
    table = _table(
        "Capacity: B's video GPU-hours a month",
        "videos/month",
        "model",
        "s/clip",
        "needed",
        "always-on",
        "autoscaled",
        "enough",
        "room",
        right=(0, 2, 3, 4, 5, 7),
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
            f"{row.videos_capacity:,}",
        )
    _show(out, table, notes.get("capacity"))
    out.print("room: videos a month the always-on video GPUs could render at that timing")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.warnings:
        out.print()


def _print_unit_economics(out: Any, result: Comparison) -> None:
    """Each plan's margin per user in every scenario."""
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


def print_estimate(result: RenderEstimate) -> None:
    """One row per shot, then video, references, planner and the total."""
    out = console()
    model = f"{result.video.backend}/{result.video.model}" if result.video.model else result.video.backend
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
    if result.voice_seconds:
        out.print(f"  voice        ${result.voice_usd:.2f} (about {result.voice_seconds:.0f} s of speech)")
    if result.music_usd:
        out.print(f"  music        ${result.music_usd:.2f} (a composed score)")
    if result.judge_usd:
        out.print(f"  judge        ${result.judge_usd:.2f} (every take scored, retakes included)")
    if result.retakes:
        out.print(f"  retakes      ${result.retakes_usd:.2f} (at most {result.retakes} shots retaken below the bar)")
    out.print(
        f"  [bold]total        ${result.total_usd:.2f}[/]"
        + ("" if result.paid else " [dim](nothing billed by a provider)[/]")
    )
    for item in result.unpriced:
        out.print(f"[yellow]unpriced:[/] {escape(item)}")
    for note in result.notes:
        out.print(f"[dim]  note: {escape(note)}[/]")
    if result.tiers is not None:
        _print_tiers(result.tiers)


def _print_tiers(tiers: TiersEstimate) -> None:
    """A recipe with a [draft]: the draft render, finalize at the final tier, their sum, and a retake at each tier."""
    out = console()
    table = _table("Drafts first, then the final film", "tier", "command", "renders", "USD", right=(3,))
    for name, command, estimate in (
        ("draft", "tale render --draft", tiers.draft),
        ("final", "tale finalize", tiers.final),
    ):
        video = estimate.video
        model = f"{video.backend}/{video.model}" if video.model else video.backend
        what = f"{len(estimate.shots)} shots on {model}"
        if name == "draft" and estimate.total_usd > estimate.video_usd:
            what += ", and the plan, references and sound"
        table.add_row(name, command, escape(what), f"${estimate.total_usd:.2f}")
    table.add_row("[bold]both[/]", "", "", f"[bold]${tiers.total_usd:.2f}[/]")
    out.print(table)
    out.print(
        f"  a retake of one shot: ${tiers.draft_retake_usd:.2f} as a draft, ${tiers.final_retake_usd:.2f} at the final "
        "tier"
    )
    for item in [*tiers.draft.unpriced, *tiers.final.unpriced]:
        out.print(f"[yellow]unpriced:[/] {escape(item)}")


def print_spend(report: SpendReport) -> None:
    """What runs spent: per backend, per day and per run, then the total."""
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


def print_spend_check(check: SpendCheck, *, stderr: bool) -> None:
    """The line `tale render` prints before it spends: the estimate, what it covers, the book and the budget."""
    estimate = check.estimate
    out = console(stderr=stderr)
    count = len(estimate.shots)
    parts = [f"{count} shot{'s' if count != 1 else ''} on {estimate.video.backend}"]
    if estimate.references:
        parts.append(f"{estimate.references} reference image{'s' if estimate.references != 1 else ''}")
    limit = f"; budget ${check.budget:.2f}" if check.budget is not None else ""
    tier = f" at the {estimate.tier} tier" if estimate.tier is not None else ""
    out.print(
        f"[bold]estimate ${estimate.total_usd:.2f}[/]{tier} ({', '.join(parts)}; "
        f"price book {escape(estimate.price_book)}{limit})"
    )
    for item in estimate.unpriced:
        out.print(f"[yellow]unpriced:[/] {escape(item)}")
