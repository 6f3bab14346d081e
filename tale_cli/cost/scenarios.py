"""The source document's scenarios as arithmetic: A-1 (the platform pays the APIs), A-2 (BYOK), B (own GPUs).

Common infrastructure by volume, GPU pools and fleets by tier, each scenario's monthly cost, and break-even.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from tale_cli.pricing.book import HOURS_PER_DAY, Pool, PriceBook, Tier
from tale_cli.pricing.money import sum_ranges

SCENARIOS = ("A-1", "A-2", "B")


def infra_at(book: PriceBook, videos: float) -> float:
    """Common infrastructure at a monthly volume: through the book's tiers, clamped to its items' range."""
    tiers = book.infra.tiers
    if len(tiers) == 1:
        value = tiers[0].usd
    else:
        segment = 0
        while segment < len(tiers) - 2 and videos > tiers[segment + 1].videos:
            segment += 1
        left, right = tiers[segment], tiers[segment + 1]
        slope = (right.usd - left.usd) / (right.videos - left.videos)
        value = left.usd + slope * (videos - left.videos)
    bounds = book.infra.total
    floor = min(bounds.low, min(tier.usd for tier in tiers))
    ceiling = max(bounds.high, max(tier.usd for tier in tiers))
    return min(max(value, floor), ceiling)


def per_video_api_usd(
    book: PriceBook, api: str | None = None, *, shots: int | None = None, seconds: float | None = None
) -> float:
    """What the platform pays the APIs for one video in scenario A-1 (video, planning, references)."""
    price = book.video_price(api or book.scenario_a.api)
    shots = shots or book.scenario_a.shots
    seconds = seconds or book.scenario_a.seconds
    return (
        shots * seconds * price.usd_per_second + book.scenario_a.planning.usd.mid + book.scenario_a.references.usd.mid
    )


def pool_monthly(book: PriceBook, pool: Pool, *, hours_per_day: float | None = None) -> float:
    if pool.budget_usd is not None:
        share = 1.0 if hours_per_day is None else hours_per_day / HOURS_PER_DAY
        return pool.budget_usd * share
    hours = pool.hours_per_day if hours_per_day is None else hours_per_day
    assert hours is not None
    return pool.count * book.hourly(pool) * hours * book.days_per_month


def pool_gpu_hours(book: PriceBook, pool: Pool) -> float:
    """GPU-hours a pool provides in a month; an autoscaled pool's budget buys them at its rate."""
    if pool.budget_usd is not None:
        rate = book.hourly(pool)
        return pool.budget_usd / rate if rate > 0 else math.inf
    assert pool.hours_per_day is not None
    return pool.count * pool.hours_per_day * book.days_per_month


def fleet_monthly(book: PriceBook, pools: Iterable[Pool]) -> float:
    return sum(pool_monthly(book, pool) for pool in pools)


def b_tier(book: PriceBook, videos: float) -> Tier:
    """The fleet that serves a volume: the smallest tier at or above it (the largest beyond the last)."""
    for tier in book.scenario_b.tiers:
        if videos <= tier.videos:
            return tier
    return book.scenario_b.tiers[-1]


def b_fixed_extras(book: PriceBook) -> float:
    """Scenario B's extra infrastructure (midpoint of its items) plus its security items."""
    extras = sum_ranges(item.usd for item in book.scenario_b.extras)
    security = sum_ranges(item.usd for item in book.scenario_b.security)
    return extras.mid + security.mid


def scenario_costs(
    book: PriceBook, videos: float, *, api: str | None = None, shots: int | None = None, seconds: float | None = None
) -> dict[str, float]:
    """Monthly cost of each scenario at a volume: A-1 (platform pays APIs), A-2 (BYOK), B (own GPUs)."""
    infra = infra_at(book, videos)
    return {
        "A-1": infra + videos * per_video_api_usd(book, api, shots=shots, seconds=seconds),
        "A-2": infra,
        "B": infra + b_fixed_extras(book) + fleet_monthly(book, b_tier(book, videos).pools),
    }


def break_even_b_vs_a1(
    book: PriceBook, *, api: str | None = None, shots: int | None = None, seconds: float | None = None
) -> int | None:
    """The smallest monthly volume from which B costs less than A-1, or None if it never does.

    Both share the common infrastructure, so B < A-1 exactly when
    videos × (API cost per video) > B's extras + its tier's fleet; the fleet steps up with the tiers.
    """
    per_video = per_video_api_usd(book, api, shots=shots, seconds=seconds)
    if per_video <= 0:
        return None
    extras = b_fixed_extras(book)
    lower = 1
    tiers = book.scenario_b.tiers
    for position, tier in enumerate(tiers):
        upper = tier.videos if position < len(tiers) - 1 else math.inf
        fixed = extras + fleet_monthly(book, tier.pools)
        candidate = max(lower, math.floor(fixed / per_video) + 1)
        if candidate <= upper:
            return int(candidate)
        lower = tier.videos + 1
    return None


def volume_where(cost: Callable[[int], float], target: float, limit: int = 10**9) -> int | None:
    """The smallest whole volume whose (non-decreasing) cost reaches the target."""
    if cost(limit) < target:
        return None
    low, high = 0, limit
    while low < high:
        middle = (low + high) // 2
        if cost(middle) >= target:
            high = middle
        else:
            low = middle + 1
    return low
