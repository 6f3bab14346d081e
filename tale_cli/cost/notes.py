"""Notes under the comparison's tables: where a GPU figure comes from, where the document disagrees with itself."""

from __future__ import annotations

from tale_cli.cost.comparison import Comparison
from tale_cli.cost.scenarios import fleet_monthly, per_video_api_usd
from tale_cli.pricing.book import PriceBook
from tale_cli.pricing.money import sum_ranges, usd_range_text, usd_text


def _pct(value: float, reference: float) -> float:
    return 0.0 if reference == 0 else (value - reference) / reference


def add_document_notes(book: PriceBook, result: Comparison) -> None:
    """Where the document disagrees with itself (or rounds), say so under the table concerned."""
    doc = book.document
    notes = result.notes
    for entry in book.gpus.values():
        if entry.note:
            notes.setdefault("b_gpu", []).append(f"{entry.label}: {entry.note}")
    autoscaled = [p for p in book.scenario_b.reference_fleet if p.autoscaled]
    for pool in autoscaled:
        around_the_clock = pool.count * book.hourly(pool) * book.hours_per_month
        notes.setdefault("b_gpu", []).append(
            f"The {pool.label or 'autoscaled'} pool is a monthly budget (${pool.budget_usd:,.0f}); "
            f"{pool.count} such GPUs around the clock at {pool.rate} price would cost ${around_the_clock:,.0f}."
        )
    if doc is None:
        return
    if doc.per_video_64s:
        missing = [row.label for row in result.per_video if row.api not in doc.per_video_64s]
        if missing:
            notes.setdefault("per_video", []).append("Not in the document's table: " + ", ".join(missing) + ".")
    names = {entry.id: entry.label for entry in book.video}
    omitted = [names[i] for i in doc.per_video_64s if i not in doc.shot_length_apis and i in names]
    if doc.shot_length_apis and omitted:
        notes.setdefault("shot_seconds", []).append(
            "The document's shot-length table leaves out " + ", ".join(omitted) + "; Tale prints every API."
        )
    total = book.infra.total
    if doc.fixed_infra_usd and (total.low, total.high) != (doc.fixed_infra_usd.low, doc.fixed_infra_usd.high):
        notes.setdefault("fixed_infra", []).append(
            f"The items add to {usd_range_text(total)}; the document prints {usd_range_text(doc.fixed_infra_usd)} (rounded)."
        )
    if doc.a1:
        implied = sorted({round(row.api / row.videos, 4) for row in doc.a1})
        per_video = per_video_api_usd(book, result.inputs.api, shots=result.inputs.shots, seconds=result.inputs.seconds)
        video = book.video_price(result.inputs.api)
        gaps = [abs(_pct(r.total, r.document.total)) for r in result.a1 if r.document]
        planning, references = book.scenario_a.planning.usd, book.scenario_a.references.usd
        notes.setdefault("a1", []).append(
            f"The document's API column implies ${implied[0]:.2f}–{implied[-1]:.2f} per video and its totals "
            f"are rounded to the thousand. Tale uses {result.inputs.shots} × {result.inputs.seconds:g} s × "
            f"${video.usd_per_second:.2f} + the midpoints of planning ({usd_range_text(planning)}) "
            f"and references ({usd_range_text(references)}) = ${per_video:.2f}"
            + (f", within {max(gaps):.1%} of every printed total." if gaps else ".")
        )
        notes["a1"].append(
            "The infrastructure column is a point per volume inside the fixed range; between and beyond the "
            f"document's volumes Tale interpolates it, within {usd_range_text(total)}."
        )
    if doc.a2_usd and doc.comparison:
        printed = sorted({row.a2 for row in doc.comparison})
        notes.setdefault("a2", []).append(
            f"The A-2 table prints {usd_range_text(doc.a2_usd)} at every volume, but the comparison uses "
            f"{', '.join(usd_text(v) for v in printed)}; Tale follows the comparison (the infrastructure at each volume)."
        )
    if doc.spot_video_gpu_usd is not None:
        spot = next(s for s in result.b_strategies if s.name == "spot-video")
        with_pool = spot.usd.low + sum(pool.budget_usd or 0 for pool in book.scenario_b.reference_fleet)
        notes.setdefault("strategies", []).append(
            f"The document's spot figure ({usd_text(doc.spot_video_gpu_usd)}) matches the fleet without its "
            f"autoscaled pool ({usd_text(spot.usd.low)}); with the pool it is {usd_text(with_pool)}."
        )
    operating = book.scenario_b.tiers[1:] or book.scenario_b.tiers
    spread = [fleet_monthly(book, tier.pools) for tier in operating]
    notes.setdefault("strategies", []).append(
        f"The document gives no fleet for its mix ({usd_range_text(book.scenario_b.stated_mixed_gpu_usd)}); "
        "Tale shows it as stated. The fleets Tale reads per volume tier "
        f"({operating[0].videos:,}–{operating[-1].videos:,} videos, used in the comparison) "
        f"cost {usd_text(min(spread))}–{usd_text(max(spread))}."
    )
    extras = sum_ranges(item.usd for item in book.scenario_b.extras)
    if doc.extras_usd and (extras.low, extras.high) != (doc.extras_usd.low, doc.extras_usd.high):
        used = f" and its B total uses {usd_text(doc.extras_in_b_total_usd)}" if doc.extras_in_b_total_usd else ""
        notes.setdefault("b_extras", []).append(
            f"The items add to {usd_range_text(extras)}; the document prints {usd_range_text(doc.extras_usd)}{used}. "
            f"Tale uses the midpoint, {usd_text(extras.mid)}."
        )
    if doc.b_total_usd:
        security = sum_ranges(item.usd for item in book.scenario_b.security)
        common = book.scenario_b.stated_common_infra_usd
        mix = book.scenario_b.stated_mixed_gpu_usd
        printed_extras = doc.extras_in_b_total_usd or 0
        notes.setdefault("b_total", []).append(
            f"The document's lines ({usd_text(common)} + {usd_range_text(mix)} + {usd_text(printed_extras)}) add to "
            f"{usd_text(common + mix.low + printed_extras)}–{usd_text(common + mix.high + printed_extras)}, but it prints "
            f"{usd_range_text(doc.b_total_usd)}. With section 6's B security items ({usd_range_text(security)}), "
            f"which the table leaves out, and the extras' midpoint ({usd_text(extras.mid)}), "
            f"Tale gets {usd_range_text(result.b_total.usd)}."
        )
    if doc.comparison:
        printed_b = [row.b for row in doc.comparison]
        notes.setdefault("comparison", []).append(
            f'The document calls B a fixed cost ("the same at 15,000 or 45,000 videos"), yet its comparison grows from '
            f"{usd_text(min(printed_b))} to {usd_text(max(printed_b))}. Tale follows the comparison: "
            "B = common infrastructure at that volume + extras + security + the fleet of the volume's tier "
            "(see the price book)."
        )
        if doc.b_conclusion_usd and doc.b_total_usd and doc.b_conclusion_usd != doc.b_total_usd:
            notes["comparison"].append(
                f"Section 5 gives B as {usd_range_text(doc.b_conclusion_usd)} a month, "
                f"section 4 as {usd_range_text(doc.b_total_usd)}."
            )
