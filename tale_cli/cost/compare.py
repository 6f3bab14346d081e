"""`compare()`: the source document's cost tables recomputed from a price book, with break-even, capacity, margins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tale_cli.cost.comparison import (
    BreakEven,
    BTierRow,
    BTotal,
    CapacityRow,
    Comparison,
    ComparisonRow,
    CostItem,
    ExtrasAndSecurity,
    FixedInfra,
    Inputs,
    PerVideoRow,
    PoolRow,
    PrintedA1,
    PrintedComparison,
    StrategyRow,
    TotalLine,
    UnitRow,
    VolumeRow,
)
from tale_cli.cost.notes import add_document_notes
from tale_cli.cost.scenarios import (
    SCENARIOS,
    b_fixed_extras,
    b_tier,
    break_even_b_vs_a1,
    fleet_monthly,
    infra_at,
    per_video_api_usd,
    pool_gpu_hours,
    pool_monthly,
    scenario_costs,
    volume_where,
)
from tale_cli.errors import InputError
from tale_cli.pricing.book import HOURS_PER_DAY, InfraItem, Pool, PriceBook, SubscriptionPlan
from tale_cli.pricing.money import Range, sum_ranges
from tale_cli.pricing.prices import GpuTime


def compare(
    book: PriceBook,
    *,
    volumes: Sequence[int] | None = None,
    api: str | None = None,
    shots: int | None = None,
    seconds: float | None = None,
    users: int | None = None,
    plans: Sequence[SubscriptionPlan] | None = None,
    timings: Sequence[GpuTime] = (),
) -> Comparison:
    """The source document's cost tables recomputed from a price book, plus break-even, capacity and margins."""
    api = api or book.scenario_a.api
    book.video_price(api)
    shots = shots or book.scenario_a.shots
    seconds = seconds or book.scenario_a.seconds
    volumes = list(volumes or book.volumes)
    if any(v <= 0 for v in volumes):
        raise InputError("volumes must be positive numbers of videos a month")
    shot_seconds = sorted({*book.shot_seconds, seconds})
    video = _VideoShape(api, shots, seconds)

    notes: dict[str, list[str]] = {"per_video": [f"{entry.label}: {entry.note}" for entry in book.video if entry.note]}
    unverified = [entry.label for entry in book.video if not entry.verified]
    if unverified:
        notes["per_video"].append("Not verified on the provider's own page: " + ", ".join(unverified) + ".")
    a1, a2, b_tiers, comparison = _per_volume(book, volumes, video)
    pools, b_gpu_monthly, strategies = _fleet(book)
    b_total = _b_total(book)
    capacity, warnings, capacity_notes = _capacity(book, volumes, shots, timings)
    if capacity_notes:
        notes["capacity"] = capacity_notes
    unit_rows = _unit_economics(book, video, users, plans)

    result = Comparison(
        price_book=book.id,
        price_book_title=book.title,
        inputs=Inputs(
            api=api,
            shots=shots,
            seconds=seconds,
            volumes=volumes,
            users=unit_rows[0].users if unit_rows else None,
        ),
        shot_seconds=shot_seconds,
        per_video=_per_video(book, shots, seconds, shot_seconds),
        fixed_infra=FixedInfra(items=_items(book.infra.items), total=book.infra.total),
        a1=a1,
        a2=a2,
        b_gpu_pools=pools,
        b_gpu_monthly=b_gpu_monthly,
        b_strategies=strategies,
        b_extras=ExtrasAndSecurity(items=_items(book.scenario_b.extras), security=_items(book.scenario_b.security)),
        b_total=b_total,
        b_tiers=b_tiers,
        comparison=comparison,
        break_even=_break_even(book, video, b_total.usd),
        capacity=capacity,
        unit_economics=unit_rows,
        notes=notes,
        warnings=warnings,
    )
    add_document_notes(book, result)
    return result


@dataclass(frozen=True)
class _VideoShape:
    """One video as A-1 buys it: the API, the number of shots and their seconds."""

    api: str
    shots: int
    seconds: float

    def costs(self, book: PriceBook, videos: float) -> dict[str, float]:
        return scenario_costs(book, videos, api=self.api, shots=self.shots, seconds=self.seconds)


def _items(items: Iterable[InfraItem]) -> list[CostItem]:
    return [CostItem(item=entry.item, service=entry.service, usd=entry.usd) for entry in items]


def _per_video(book: PriceBook, shots: int, seconds: float, shot_seconds: list[float]) -> list[PerVideoRow]:
    doc = book.document
    return [
        PerVideoRow(
            api=entry.id,
            label=entry.label,
            resolution=entry.resolution,
            usd_per_second=entry.usd_per_second,
            usd_per_video=shots * seconds * entry.usd_per_second,
            by_shot_seconds={f"{s:g}": shots * s * entry.usd_per_second for s in shot_seconds},
            verified=entry.verified,
            source=entry.source,
            document=doc.per_video_64s.get(entry.id) if doc else None,
        )
        for entry in book.video
    ]


def _per_volume(
    book: PriceBook, volumes: list[int], video: _VideoShape
) -> tuple[list[VolumeRow], list[VolumeRow], list[BTierRow], list[ComparisonRow]]:
    """A-1, A-2, B and their comparison at each volume, beside the document's own figures where it prints them."""
    a1, a2, b_tiers, comparison = [], [], [], []
    doc = book.document
    doc_a1 = {row.videos: row for row in doc.a1} if doc else {}
    doc_cmp = {row.videos: row for row in doc.comparison} if doc else {}
    extras_b = b_fixed_extras(book)
    for videos in volumes:
        costs = video.costs(book, videos)
        infra = infra_at(book, videos)
        printed = doc_a1.get(videos)
        a1.append(
            VolumeRow(
                videos_per_month=videos,
                infra=infra,
                api=costs["A-1"] - infra,
                total=costs["A-1"],
                document=PrintedA1(infra=printed.infra, api=printed.api, total=printed.total) if printed else None,
            )
        )
        a2.append(VolumeRow(videos_per_month=videos, infra=infra, api=0.0, total=costs["A-2"]))
        tier = b_tier(book, videos)
        b_tiers.append(
            BTierRow(
                videos_per_month=videos,
                tier=tier.videos,
                infra=infra,
                extras=extras_b,
                gpu=fleet_monthly(book, tier.pools),
                total=costs["B"],
                fleet="; ".join(_pool_text(book, p) for p in tier.pools),
            )
        )
        printed_cmp = doc_cmp.get(videos)
        comparison.append(
            ComparisonRow(
                videos_per_month=videos,
                a1=costs["A-1"],
                a2=costs["A-2"],
                b=costs["B"],
                cheapest=min(SCENARIOS, key=lambda name: costs[name]),
                document=PrintedComparison(
                    a1=printed_cmp.a1, a2=printed_cmp.a2, b=printed_cmp.b, cheapest=printed_cmp.cheapest
                )
                if printed_cmp
                else None,
            )
        )
    return a1, a2, b_tiers, comparison


def _pool_text(book: PriceBook, pool: Pool) -> str:
    gpu = book.gpus[pool.gpu].label
    if pool.budget_usd is not None:
        return f"{pool.role}: +{pool.count}×{gpu} {pool.rate}, autoscaled (${pool.budget_usd:,.0f}/mo)"
    hours = "24/7" if pool.hours_per_day == HOURS_PER_DAY else f"{pool.hours_per_day:g} h/day"
    return f"{pool.role}: {pool.count}×{gpu} {pool.rate} {hours}"


def _fleet(book: PriceBook) -> tuple[list[PoolRow], dict[str, float], list[StrategyRow]]:
    """Scenario B's GPU table and strategies, from the document's reference fleet."""
    fleet = book.scenario_b.reference_fleet
    pools = [
        PoolRow(
            role=p.role,
            label=p.label or p.role,
            gpu=book.gpus[p.gpu].label,
            count=p.count,
            usd_per_hour=book.hourly(p),
            rate=p.rate,
            monthly_24x7=pool_monthly(book, p, hours_per_day=HOURS_PER_DAY),
            monthly_12h=pool_monthly(book, p, hours_per_day=12),
            autoscaled=p.autoscaled,
        )
        for p in fleet
    ]
    gpu_24 = sum(p.monthly_24x7 for p in pools)
    gpu_12 = sum(p.monthly_12h for p in pools)
    spot_video = sum(
        pool_monthly(
            book, p.model_copy(update={"rate": "spot"}) if p.role == "video" else p, hours_per_day=HOURS_PER_DAY
        )
        for p in fleet
        if not p.autoscaled
    )
    strategies = [
        StrategyRow(name="24x7", label="Around the clock, list price", usd=Range(low=gpu_24, high=gpu_24)),
        StrategyRow(name="12h", label="12 hours a day, same fleet", usd=Range(low=gpu_12, high=gpu_12)),
        StrategyRow(
            name="spot-video",
            label="Video GPUs on spot (no autoscaled pool)",
            usd=Range(low=spot_video, high=spot_video),
        ),
        StrategyRow(
            name="mixed",
            label="Recommended mix: LLM always on, video on spot, autoscaling",
            usd=book.scenario_b.stated_mixed_gpu_usd,
            stated_by_document=True,
        ),
    ]
    return pools, {"24x7": gpu_24, "12h": gpu_12}, strategies


def _b_total(book: PriceBook) -> BTotal:
    extras = sum_ranges(item.usd for item in book.scenario_b.extras)
    security = sum_ranges(item.usd for item in book.scenario_b.security)
    common = book.scenario_b.stated_common_infra_usd
    lines = [
        TotalLine(item="Common infrastructure (front end, DB, CDN…)", usd=Range(low=common, high=common)),
        TotalLine(item="GPUs (recommended mix)", usd=book.scenario_b.stated_mixed_gpu_usd),
        TotalLine(item="Extra infrastructure (VPC, GKE…), midpoint", usd=Range(low=extras.mid, high=extras.mid)),
        TotalLine(item="Security (section 6)", usd=security),
        TotalLine(item="External APIs", usd=Range(low=0, high=0)),
    ]
    return BTotal(lines=lines, usd=sum_ranges(line.usd for line in lines))


def _break_even(book: PriceBook, video: _VideoShape, b_total: Range) -> BreakEven:
    extras_b = b_fixed_extras(book)
    tiers = book.scenario_b.tiers
    return BreakEven(
        b_vs_a1_videos_per_month=break_even_b_vs_a1(book, api=video.api, shots=video.shots, seconds=video.seconds),
        a1_usd_per_video=per_video_api_usd(book, video.api, shots=video.shots, seconds=video.seconds),
        b_first_tier_fixed_usd=extras_b + fleet_monthly(book, tiers[0].pools),
        a2_cheaper_than_b_at_every_volume=extras_b + min(fleet_monthly(book, t.pools) for t in tiers) > 0,
        fixed_b_vs_a1_videos_per_month=(
            volume_where(lambda v: video.costs(book, v)["A-1"], b_total.low),
            volume_where(lambda v: video.costs(book, v)["A-1"], b_total.high),
        ),
    )


def _capacity(
    book: PriceBook, volumes: list[int], shots: int, timings: Sequence[GpuTime]
) -> tuple[list[CapacityRow], list[str], list[str]]:
    """GPU-hours the tier fleet's video pools give against what each volume needs: rows, warnings, notes."""
    capacity: list[CapacityRow] = []
    warnings: list[str] = []
    notes: list[str] = []
    model = book.scenario_b.video_model
    video_gpus = {p.gpu for t in book.scenario_b.tiers for p in t.pools if p.role == "video"}
    known = [t for t in book.gpu_time if t.unit == "clip" and t.matches(model)]
    candidates = [t for t in timings if t.unit == "clip"] or [t for t in known if t.gpu in video_gpus] or known
    for videos in volumes:
        tier = b_tier(book, videos)
        video_pools = [p for p in tier.pools if p.role == "video"]
        steady = sum((pool_gpu_hours(book, p) for p in video_pools if not p.autoscaled), 0.0)
        burst = sum((pool_gpu_hours(book, p) for p in video_pools if p.autoscaled), 0.0)
        always_on = (
            " + ".join(f"{p.count} × {book.gpus[p.gpu].label}" for p in video_pools if not p.autoscaled) or "none"
        )
        for timing in candidates:
            needed = videos * shots * timing.seconds / 3600
            row = CapacityRow(
                videos_per_month=videos,
                model=timing.model,
                gpu=timing.gpu,
                seconds_per_clip=timing.seconds,
                source=timing.source,
                gpu_hours_needed=needed,
                gpu_hours_available=steady,
                gpu_hours_autoscaled=burst,
                enough=steady >= needed,
                enough_with_autoscaled=steady + burst >= needed,
                videos_capacity=int(steady * 3600 // (shots * timing.seconds)),
            )
            capacity.append(row)
            if not row.enough:
                tail = (
                    f"; its autoscaled budget buys {burst:,.0f} more on {book.gpus[video_pools[0].gpu].label} spot"
                    + (" (enough only if it is all used)" if row.enough_with_autoscaled else ", still short")
                    if burst
                    else ""
                )
                warnings.append(
                    f"{videos:,} videos a month need {needed:,.0f} GPU-hours ({timing.model}, "
                    f"{timing.seconds:g} s per clip on {timing.gpu}, {shots} shots) "
                    f"but the fleet's always-on video GPUs ({always_on}) give {steady:,.0f}{tail}."
                )
    if candidates and any(t.gpu not in video_gpus for t in candidates):
        notes.append(
            "Some timings were measured on a GPU the fleet does not use: "
            + ", ".join(sorted({t.gpu for t in candidates}))
            + "."
        )
    if not candidates:
        notes.append(f"The book has no GPU time for '{model}': capacity cannot be checked.")
    return capacity, warnings, notes


def _unit_economics(
    book: PriceBook, video: _VideoShape, users: int | None, plans: Sequence[SubscriptionPlan] | None
) -> list[UnitRow]:
    """Each plan's margin per user if every user were on it."""
    unit = book.unit_economics
    user_count = users or unit.users
    per_video_usd = per_video_api_usd(book, video.api, shots=video.shots, seconds=video.seconds)
    rows = []
    for plan in plans or unit.plans:
        volume = max(1, round(user_count * plan.videos_per_month))
        costs = video.costs(book, volume)
        per_user = {name: costs[name] / user_count for name in SCENARIOS}
        rows.append(
            UnitRow(
                plan=plan.name,
                usd_per_month=plan.usd_per_month,
                videos_per_user=plan.videos_per_month,
                users=user_count,
                videos_per_month=volume,
                cost_per_user=per_user,
                margin_per_user={name: plan.usd_per_month - per_user[name] for name in SCENARIOS},
                byok_user_api_usd=plan.videos_per_month * per_video_usd,
            )
        )
    return rows
