"""What `tale cost compare` shows, as typed rows: the document's tables, break-even, capacity and margins."""

from __future__ import annotations

from pydantic import Field

from tale_cli.cost.report import Cents, CentsRange, FourDecimals, OneDecimal, Report


class Inputs(Report):
    """What one video is (shots × seconds on the API that A-1 pays for), the volumes and the users compared."""

    api: str
    shots: int
    seconds: float
    volumes: list[int]
    users: int | None


class PerVideoRow(Report):
    """A video API's price per second and what one video costs on it, at each shot length."""

    api: str
    label: str
    resolution: str
    usd_per_second: float
    usd_per_video: Cents
    by_shot_seconds: dict[str, Cents]
    verified: bool
    source: str
    # What the document prints for one video: shown beside Tale's figure, never in the JSON.
    document: float | None = Field(default=None, exclude=True)


class CostItem(Report):
    """One item of monthly infrastructure and the service that provides it."""

    item: str
    service: str
    usd: CentsRange


class FixedInfra(Report):
    items: list[CostItem]
    total: CentsRange


class PrintedA1(Report):
    """The document's own A-1 figures at one volume."""

    infra: float
    api: float
    total: float


class VolumeRow(Report):
    """Scenario A-1 or A-2 at one volume: infrastructure, what the platform pays the APIs, the total."""

    omitted_when_none = ("document",)

    videos_per_month: int
    infra: Cents
    api: Cents
    total: Cents
    document: PrintedA1 | None = None


class PoolRow(Report):
    """One pool of the document's GPU fleet and what it costs a month around the clock and half the day."""

    role: str
    label: str
    gpu: str
    count: int
    usd_per_hour: FourDecimals
    rate: str
    monthly_24x7: Cents = Field(serialization_alias="24x7")
    monthly_12h: Cents = Field(serialization_alias="12h")
    autoscaled: bool = Field(exclude=True)


class StrategyRow(Report):
    name: str
    label: str
    usd: CentsRange
    stated_by_document: bool = False


class ExtrasAndSecurity(Report):
    """Scenario B's infrastructure beyond the common one, and its security items."""

    items: list[CostItem]
    security: list[CostItem]


class TotalLine(Report):
    item: str
    usd: CentsRange


class BTotal(Report):
    """Scenario B's monthly total, line by line, as the document sums it."""

    lines: list[TotalLine]
    usd: CentsRange


class BTierRow(Report):
    """Scenario B at one volume, with the fleet of the tier that serves it."""

    videos_per_month: int
    tier: int
    infra: Cents
    extras: Cents
    gpu: Cents
    total: Cents
    fleet: str


class PrintedComparison(Report):
    """The document's own comparison at one volume."""

    a1: float = Field(serialization_alias="A-1")
    a2: float = Field(serialization_alias="A-2")
    b: float = Field(serialization_alias="B")
    cheapest: str


class ComparisonRow(Report):
    """The three scenarios' monthly costs at one volume, and the cheapest."""

    omitted_when_none = ("document",)

    videos_per_month: int
    a1: Cents = Field(serialization_alias="A-1")
    a2: Cents = Field(serialization_alias="A-2")
    b: Cents = Field(serialization_alias="B")
    cheapest: str
    document: PrintedComparison | None = None

    @property
    def costs(self) -> dict[str, float]:
        return {"A-1": self.a1, "A-2": self.a2, "B": self.b}


class BreakEven(Report):
    b_vs_a1_videos_per_month: int | None = Field(serialization_alias="B_vs_A-1_videos_per_month")
    a1_usd_per_video: Cents = Field(serialization_alias="A-1_usd_per_video")
    b_first_tier_fixed_usd: Cents = Field(serialization_alias="B_first_tier_fixed_usd")
    a2_cheaper_than_b_at_every_volume: bool = Field(serialization_alias="A-2_cheaper_than_B_at_every_volume")
    # From which volume A-1 costs more than B taken as the document's one fixed sum (its low and high ends).
    fixed_b_vs_a1_videos_per_month: tuple[int | None, int | None] = Field(
        serialization_alias="fixed_B_vs_A-1_videos_per_month"
    )


class CapacityRow(Report):
    """GPU-hours a volume needs on one timing against those the tier's video pools give."""

    videos_per_month: int
    model: str
    gpu: str
    seconds_per_clip: float
    source: str
    gpu_hours_needed: OneDecimal
    gpu_hours_available: OneDecimal
    gpu_hours_autoscaled: OneDecimal
    enough: bool
    enough_with_autoscaled: bool
    # Videos a month the tier's always-on video GPUs could render at this timing: the fleet's room.
    videos_capacity: int = 0


class UnitRow(Report):
    """One subscription plan with every user on it: each scenario's cost and margin per user."""

    plan: str
    usd_per_month: float
    videos_per_user: float
    users: int
    videos_per_month: int
    cost_per_user: dict[str, Cents]
    margin_per_user: dict[str, Cents]
    byok_user_api_usd: Cents


class Comparison(Report):
    """Everything `tale cost compare` shows, from one price book."""

    price_book: str
    price_book_title: str = Field(exclude=True)
    inputs: Inputs
    shot_seconds: list[float] = Field(exclude=True)
    per_video: list[PerVideoRow]
    fixed_infra: FixedInfra
    a1: list[VolumeRow]
    a2: list[VolumeRow]
    b_gpu_pools: list[PoolRow]
    b_gpu_monthly: dict[str, Cents]
    b_strategies: list[StrategyRow]
    b_extras: ExtrasAndSecurity
    b_total: BTotal
    b_tiers: list[BTierRow]
    comparison: list[ComparisonRow]
    break_even: BreakEven
    capacity: list[CapacityRow]
    unit_economics: list[UnitRow]
    # Under each table (keyed by its name): where a figure comes from, where the document disagrees with itself.
    notes: dict[str, list[str]] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
