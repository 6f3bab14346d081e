"""`tale cost compare --plot`: the comparison as a chart — monthly cost against videos a month for A-1, A-2 and B.

B's fleet steps up tier by tier, the break-even volume is marked, and the volumes beyond what B's largest
fleet can render are shaded. The numbers come from the same arithmetic as the tables; matplotlib (the
`plot` extra) is imported only here, only when a chart is drawn.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.cost.scenarios import SCENARIOS, pool_gpu_hours, scenario_costs
from tale_cli.errors import InputError, missing_extra
from tale_cli.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tale_cli.cost.comparison import Comparison
    from tale_cli.pricing.book import PriceBook

FORMATS = (".svg", ".png")
SERIES_LABELS = {
    "A-1": "A-1: the platform pays the video API ({api})",
    "A-2": "A-2: users bring their own keys",
    "B": "B: own GPU fleet (steps at each tier)",
}
_COLOURS = {"A-1": "#d1495b", "A-2": "#2e86ab", "B": "#edae49"}


@dataclass
class CapacityLimit:
    """The most videos a month B's largest fleet renders at one GPU time per clip."""

    videos_per_month: float
    label: str


@dataclass
class CostChart:
    """What the chart shows: each scenario's monthly cost at each volume, the break-even, the fleet's limits."""

    title: str
    volumes: list[float]
    costs: dict[str, list[float]]
    break_even: tuple[int, float] | None
    limits: list[CapacityLimit] = field(default_factory=list)
    api: str = ""


def chart_data(book: PriceBook, comparison: Comparison) -> CostChart:
    """The chart's numbers, from the book and the comparison `compare()` made of it (same API, shots, seconds)."""
    inputs = comparison.inputs
    tiers = [tier.videos for tier in book.scenario_b.tiers]
    limits = _limits(book, comparison)
    top = max([*inputs.volumes, *tiers, *(limit.videos_per_month for limit in limits)]) * 1.6
    grid = {round(10 ** (1 + k * (math.log10(top) - 1) / 400), 3) for k in range(401)}
    # Both sides of each tier's edge, so B's steps stand upright.
    grid |= {float(volume) for volume in (*tiers, *inputs.volumes)} | {volume + 1e-6 for volume in tiers}
    volumes = sorted(v for v in grid if v <= top)
    costs: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    for videos in volumes:
        for name, usd in scenario_costs(
            book, videos, api=inputs.api, shots=inputs.shots, seconds=inputs.seconds
        ).items():
            costs[name].append(usd)
    even = comparison.break_even.b_vs_a1_videos_per_month
    break_even = None
    if even is not None:
        at = scenario_costs(book, even, api=inputs.api, shots=inputs.shots, seconds=inputs.seconds)
        break_even = (even, at["A-1"])
    title = f"Monthly cost by volume · price book {book.id}, as of {book.as_of.isoformat()}"
    return CostChart(title=title, volumes=volumes, costs=costs, break_even=break_even, limits=limits, api=inputs.api)


def _limits(book: PriceBook, comparison: Comparison) -> list[CapacityLimit]:
    """B's largest fleet's video GPU-hours (always on plus its autoscaled budget) at each GPU time compared."""
    largest = book.scenario_b.tiers[-1]
    hours = sum(pool_gpu_hours(book, pool) for pool in largest.pools if pool.role == "video")
    timings = {(row.model, row.gpu, row.seconds_per_clip) for row in comparison.capacity}
    shots = comparison.inputs.shots
    return sorted(
        (
            CapacityLimit(
                videos_per_month=hours * 3600 / (shots * seconds),
                label=f"beyond B's largest fleet at {seconds:g} s a clip ({model} on {gpu})",
            )
            for model, gpu, seconds in timings
            if math.isfinite(hours)
        ),
        key=lambda limit: limit.videos_per_month,
    )


def _money(value: float, _: object = None) -> str:
    return f"${value / 1000:g}k" if value >= 1000 else f"${value:g}"


def _count(value: float, _: object = None) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def cost_figure(chart: CostChart) -> Figure:
    """The chart as a matplotlib Figure (no pyplot, so no global state and no display needed)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise missing_extra("plot", "matplotlib") from None

    figure = Figure(figsize=(10, 6), layout="constrained")
    axes = figure.add_subplot()
    axes.set_xscale("log")
    axes.set_yscale("log")
    top = chart.volumes[-1]
    # One band per GPU time, each darker: beyond the slowest timing's limit, then beyond the next, and so on.
    edges = [limit.videos_per_month for limit in chart.limits] + [top]
    for shade, limit in enumerate(chart.limits):
        axes.axvspan(
            edges[shade],
            edges[shade + 1],
            color="#777777",
            alpha=0.12 + 0.1 * shade,
            label=limit.label,
            gid=f"capacity-{shade}",
        )
    for name in SCENARIOS:
        axes.plot(
            chart.volumes,
            chart.costs[name],
            label=SERIES_LABELS[name].format(api=chart.api),
            color=_COLOURS[name],
            linewidth=2,
            gid=f"series-{name}",
        )
    if chart.break_even is not None:
        videos, usd = chart.break_even
        axes.plot(
            [videos],
            [usd],
            marker="o",
            markersize=9,
            linestyle="none",
            color="black",
            label=f"break-even B vs A-1: {videos:,} videos a month",
            gid="break-even",
        )
        axes.annotate(f"{videos:,}", (videos, usd), textcoords="offset points", xytext=(8, -16))
    axes.set_xlim(chart.volumes[0], top)
    axes.xaxis.set_major_formatter(FuncFormatter(_count))
    axes.yaxis.set_major_formatter(FuncFormatter(_money))
    axes.set_xlabel("videos a month")
    axes.set_ylabel("monthly cost (USD)")
    axes.set_title(chart.title)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    return figure


def plot_comparison(book: PriceBook, comparison: Comparison, path: Path) -> Path:
    """Draw the comparison to an .svg or .png file (written atomically) and return its path."""
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise InputError(f"cannot draw a chart as {path.name}", hint="give a file ending in .svg or .png")
    figure = cost_figure(chart_data(book, comparison))
    from matplotlib import rc_context

    buffer = io.BytesIO()
    # SVG text stays text (searchable, selectable); no timestamp or random ids, so the same book gives the same file.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "tale"}):
        figure.savefig(buffer, format=kind[1:], metadata={"Date": None} if kind == ".svg" else {})
    atomic_write_bytes(path, buffer.getvalue())
    return path
