"""Costs: dated price books, the source document's scenario comparison, per-render estimates, spend.

`book` loads price books; `scenarios` is the document's arithmetic; `compare` (with `comparison` and `notes`)
builds `tale cost compare`; `estimate` prices a render; `guard` holds it to a budget; `ledger` sums what runs spent.
"""

from tale_cli.cost.compare import compare
from tale_cli.cost.comparison import Comparison
from tale_cli.cost.estimate import (
    RenderEstimate,
    ShotEstimate,
    TiersEstimate,
    check_budget,
    estimate_render,
    estimate_tiers,
)
from tale_cli.cost.guard import SpendCheck, spend_guard
from tale_cli.cost.ledger import SpendLine, SpendReport, find_runs, spent
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
)
from tale_cli.pricing.book import (
    PRICES_ENV,
    PriceBook,
    SubscriptionPlan,
    book_ids,
    default_book,
    load_book,
    pricing_dir,
    resolve_book,
)
from tale_cli.pricing.money import Range
from tale_cli.pricing.prices import GpuTime, VideoPrice, load_timings
from tale_cli.pricing.rates import ShotPrice, price_image, price_judge, price_music, price_shot, price_voice

__all__ = [
    "PRICES_ENV",
    "SCENARIOS",
    "Comparison",
    "GpuTime",
    "PriceBook",
    "Range",
    "RenderEstimate",
    "ShotEstimate",
    "ShotPrice",
    "SpendCheck",
    "SpendLine",
    "SpendReport",
    "SubscriptionPlan",
    "TiersEstimate",
    "VideoPrice",
    "b_fixed_extras",
    "b_tier",
    "book_ids",
    "break_even_b_vs_a1",
    "check_budget",
    "compare",
    "default_book",
    "estimate_render",
    "estimate_tiers",
    "find_runs",
    "fleet_monthly",
    "infra_at",
    "load_book",
    "load_timings",
    "per_video_api_usd",
    "pool_gpu_hours",
    "pool_monthly",
    "price_image",
    "price_judge",
    "price_music",
    "price_shot",
    "price_voice",
    "pricing_dir",
    "resolve_book",
    "scenario_costs",
    "spend_guard",
    "spent",
]
