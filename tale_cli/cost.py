"""Costs: dated price books, the source document's scenario comparison, per-render estimates, spend."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from tale_cli.config import data_dir, read_toml
from tale_cli.errors import BudgetError, InputError, RecipeError
from tale_cli.plan import describe_validation_error

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.plan import Plan

PRICES_ENV = "TALE_PRICES"
HOURS_PER_DAY = 24.0
# Backends that cost nothing per call; local GPU backends are priced by GPU time instead.
FREE_BACKENDS = frozenset({"preview", "offline", "local"})
LOCAL_GPU_BACKENDS = frozenset({"diffusers"})
SCENARIOS = ("A-1", "A-2", "B")


# ── Price book models ──────────────────────────────────────────────────────────────────────────────


def _rate(value: Any) -> Any:
    """A price may be written as a fraction ("11/3") where the source's figures use one."""
    if isinstance(value, str) and "/" in value:
        numerator, _, denominator = value.partition("/")
        try:
            return float(Fraction(int(numerator.strip()), int(denominator.strip())))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a price: {value!r}") from None
    return value


Usd = Annotated[float, BeforeValidator(_rate), Field(ge=0, allow_inf_nan=False)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class Range(BaseModel):
    """A low-high figure; a single number in TOML is a range of one value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: Usd
    high: Usd

    @model_validator(mode="before")
    @classmethod
    def _from_number_or_pair(cls, value: Any) -> Any:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            return {"low": value, "high": value}
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a range is [low, high]")
            return {"low": value[0], "high": value[1]}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        return self

    @property
    def mid(self) -> float:
        return (self.low + self.high) / 2

    def __add__(self, other: Range) -> Range:
        return Range(low=self.low + other.low, high=self.high + other.high)

    def pair(self) -> list[float]:
        return [_money(self.low), _money(self.high)]


class Sourced(BaseModel):
    """Where a figure comes from: every price in a book carries its source, date and whether it was verified."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    as_of: date
    verified: bool
    note: str = ""


class _Matched(Sourced):
    id: Identifier
    label: str = Field(min_length=1)
    backends: list[str] = Field(min_length=1)
    models: list[str] = Field(default_factory=list)

    def match(self, backend: str, model: str) -> int:
        """2 for an exact model name, 1 for a pattern (or no model list), 0 for no match."""
        if backend not in self.backends:
            return 0
        if not self.models:
            return 1
        wanted = model.lower()
        if any(wanted == pattern.lower() for pattern in self.models):
            return 2
        return 1 if any(fnmatch.fnmatchcase(wanted, pattern.lower()) for pattern in self.models) else 0


class VideoPrice(_Matched):
    """A video API billed per second of output."""

    resolution: str
    usd_per_second: Usd
    by_resolution: dict[str, Usd] = Field(default_factory=dict)
    usd_per_second_audio: Usd | None = None
    credits_per_second: float | None = Field(default=None, ge=0)
    billed_durations: list[float] | None = None
    min_billed_seconds: float = Field(default=0, ge=0)
    billing_increment_s: float = Field(default=1.0, gt=0)

    def rate(self, resolution: str | None, *, audio: bool = False) -> tuple[float, str | None]:
        """USD per second at a resolution, and a note when that resolution has no price of its own."""
        if audio and self.usd_per_second_audio is not None:
            return self.usd_per_second_audio, None
        prices = {self.resolution: self.usd_per_second, **self.by_resolution}
        if resolution is None or resolution in prices:
            return prices.get(resolution or self.resolution, self.usd_per_second), None
        highest = max(prices, key=lambda key: prices[key])
        return prices[highest], f"{self.label} has no {resolution} price; priced at {highest} (its highest)"

    def billed_seconds(self, seconds: float) -> float:
        if self.billed_durations:
            longer = [d for d in sorted(self.billed_durations) if d >= seconds - 1e-9]
            if longer:
                return float(longer[0])
        step = self.billing_increment_s
        return float(max(self.min_billed_seconds, math.ceil(seconds / step - 1e-9) * step))


class ImagePrice(_Matched):
    """An image API billed per image, by quality."""

    usd_per_image: dict[str, Usd] = Field(min_length=1)
    default_quality: str

    @model_validator(mode="after")
    def _default_is_priced(self) -> ImagePrice:
        if self.default_quality not in self.usd_per_image:
            raise ValueError(f"default_quality '{self.default_quality}' has no price in usd_per_image")
        return self

    def price(self, quality: str | None) -> tuple[float, str | None]:
        """The price at a quality; one the model does not know is priced at its default quality."""
        if quality in self.usd_per_image:
            return self.usd_per_image[quality], None
        chosen = self.default_quality
        note = (
            None if len(self.usd_per_image) == 1 else f"{self.label} has no '{quality}' quality; priced at '{chosen}'"
        )
        return self.usd_per_image[chosen], note


class PlannerPrice(_Matched):
    """A hosted LLM planner, priced per plan (one story)."""

    usd_per_plan: Range


class GpuPrice(Sourced):
    label: str = Field(min_length=1)
    usd_per_hour: Usd
    usd_per_hour_range: Range | None = None
    spot_usd_per_hour: Usd | None = None


class GpuTime(Sourced):
    """Seconds of one GPU per clip (or image) for a model: from a model card, a paper or a benchmark."""

    model: str = Field(min_length=1)
    models: list[str] = Field(default_factory=list)
    gpu: str = Field(min_length=1)
    seconds: float = Field(gt=0)
    steps: int | None = Field(default=None, ge=1)
    unit: Literal["clip", "image"] = "clip"

    def matches(self, model: str) -> bool:
        wanted = model.lower()
        names = [self.model.lower(), *(pattern.lower() for pattern in self.models)]
        return any(wanted == name or fnmatch.fnmatchcase(wanted, name) for name in names)


class InfraItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1)
    service: str = ""
    usd: Range


class InfraTier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    videos: int = Field(gt=0)
    usd: Usd


class CommonInfra(Sourced):
    """The infrastructure every scenario shares: its items, and what it costs at each volume tier."""

    items: list[InfraItem] = Field(min_length=1)
    tiers: list[InfraTier] = Field(min_length=1)

    @field_validator("tiers")
    @classmethod
    def _increasing(cls, tiers: list[InfraTier]) -> list[InfraTier]:
        volumes = [tier.videos for tier in tiers]
        if volumes != sorted(set(volumes)):
            raise ValueError("tiers must list strictly increasing volumes")
        return tiers

    @property
    def total(self) -> Range:
        return _sum_ranges(item.usd for item in self.items)


class PerVideo(Sourced):
    usd: Range


class ScenarioA(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api: str
    shots: int = Field(default=8, ge=1, le=64)
    seconds: float = Field(default=8, gt=0, le=60)
    planning: PerVideo
    references: PerVideo


class Pool(BaseModel):
    """GPUs of one kind for one role: a count running some hours a day, or an autoscaled monthly budget."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["llm", "video", "image"]
    label: str = ""
    gpu: str
    count: int = Field(ge=0)
    hours_per_day: float | None = Field(default=None, gt=0, le=24)
    rate: Literal["list", "spot"] = "list"
    budget_usd: Usd | None = None

    @model_validator(mode="after")
    def _hours_or_budget(self) -> Pool:
        if (self.hours_per_day is None) == (self.budget_usd is None):
            raise ValueError("a pool has either hours_per_day or budget_usd (an autoscaled pool), not both")
        return self

    @property
    def autoscaled(self) -> bool:
        return self.budget_usd is not None


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    videos: int = Field(gt=0)
    label: str = ""
    pools: list[Pool] = Field(min_length=1)


class ScenarioB(Sourced):
    video_model: str
    stated_common_infra_usd: Usd
    stated_mixed_gpu_usd: Range
    extras: list[InfraItem] = Field(default_factory=list)
    security: list[InfraItem] = Field(default_factory=list)
    reference_fleet: list[Pool] = Field(min_length=1)
    tiers: list[Tier] = Field(min_length=1)

    @field_validator("tiers")
    @classmethod
    def _increasing(cls, tiers: list[Tier]) -> list[Tier]:
        volumes = [tier.videos for tier in tiers]
        if volumes != sorted(set(volumes)):
            raise ValueError("tiers must list strictly increasing volumes")
        return tiers


class SubscriptionPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    usd_per_month: Usd
    videos_per_month: float = Field(ge=0)


class UnitEconomics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: int = Field(gt=0)
    plans: list[SubscriptionPlan] = Field(min_length=1)


class LocalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu: str


class DocumentA1(BaseModel):
    model_config = ConfigDict(extra="forbid")

    videos: int
    infra: float
    api: float
    total: float


class DocumentComparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    videos: int
    a1: float
    a2: float
    b: float
    cheapest: str


class DocumentFigures(BaseModel):
    """What the source document prints: shown beside Tale's figures and in notes, never used to compute."""

    model_config = ConfigDict(extra="forbid")

    title: str
    date: date
    per_video_64s: dict[str, float] = Field(default_factory=dict)
    shot_length_apis: list[str] = Field(default_factory=list)
    fixed_infra_usd: Range | None = None
    extras_usd: Range | None = None
    extras_in_b_total_usd: float | None = None
    a2_usd: Range | None = None
    b_gpu_usd: dict[str, float] = Field(default_factory=dict)
    spot_video_gpu_usd: float | None = None
    b_total_usd: Range | None = None
    b_conclusion_usd: Range | None = None
    a1: list[DocumentA1] = Field(default_factory=list)
    comparison: list[DocumentComparison] = Field(default_factory=list)


class PriceBook(BaseModel):
    """One dated set of prices and fleet assumptions; validated on load, never hard-coded."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=80)
    title: str = ""
    as_of: date
    days_per_month: float = Field(default=30, gt=0, le=31)
    volumes: list[int] = Field(default_factory=lambda: [5000, 15000, 30000, 45000], min_length=1)
    shot_seconds: list[float] = Field(default_factory=lambda: [5.0, 8.0, 10.0], min_length=1)
    video: list[VideoPrice] = Field(min_length=1)
    image: list[ImagePrice] = Field(default_factory=list)
    planner: list[PlannerPrice] = Field(default_factory=list)
    gpus: dict[str, GpuPrice] = Field(min_length=1)
    gpu_time: list[GpuTime] = Field(default_factory=list)
    local: LocalSettings
    infra: CommonInfra
    scenario_a: ScenarioA
    scenario_b: ScenarioB
    unit_economics: UnitEconomics
    document: DocumentFigures | None = None

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references_resolve(self) -> PriceBook:
        for kind, entries in (("video", self.video), ("image", self.image), ("planner", self.planner)):
            ids = [entry.id for entry in entries]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{kind} ids must be unique: {', '.join(duplicates)}")
        if self.scenario_a.api not in {entry.id for entry in self.video}:
            raise ValueError(f"scenario_a.api '{self.scenario_a.api}' is not a video id in this book")
        if self.local.gpu not in self.gpus:
            raise ValueError(f"local.gpu '{self.local.gpu}' is not in gpus")
        pools = [*self.scenario_b.reference_fleet, *(p for tier in self.scenario_b.tiers for p in tier.pools)]
        for pool in pools:
            gpu = self.gpus.get(pool.gpu)
            if gpu is None:
                raise ValueError(f"scenario_b pool '{pool.label or pool.role}' names unknown gpu '{pool.gpu}'")
            if pool.rate == "spot" and gpu.spot_usd_per_hour is None:
                raise ValueError(f"scenario_b pool on spot needs gpus.{pool.gpu}.spot_usd_per_hour")
        return self

    @property
    def path(self) -> Path | None:
        return self._path

    def video_price(self, price_id: str) -> VideoPrice:
        for entry in self.video:
            if entry.id == price_id:
                return entry
        raise RecipeError(
            f"price book {self.id} has no video API '{price_id}'",
            hint="valid names are: " + ", ".join(entry.id for entry in self.video),
        )

    def hourly(self, pool: Pool) -> float:
        gpu = self.gpus[pool.gpu]
        if pool.rate == "spot":
            assert gpu.spot_usd_per_hour is not None  # checked on load
            return gpu.spot_usd_per_hour
        return gpu.usd_per_hour

    @property
    def hours_per_month(self) -> float:
        return HOURS_PER_DAY * self.days_per_month


# ── Loading ─────────────────────────────────────────────────────────────────────────────────────────


def pricing_dir() -> Path:
    return data_dir("configs") / "pricing"


def book_ids() -> list[str]:
    return sorted(path.stem for path in pricing_dir().glob("*.toml"))


def _book_path(id_or_file: str, *, relative_to: Path | None = None) -> Path:
    candidate = Path(id_or_file).expanduser()
    if candidate.suffix == ".toml" or "/" in id_or_file or os.sep in id_or_file:
        if not candidate.is_absolute() and relative_to is not None and not candidate.is_file():
            candidate = relative_to / candidate
        if not candidate.is_file():
            raise RecipeError(f"price book file not found: {id_or_file}")
        return candidate
    path = pricing_dir() / f"{id_or_file}.toml"
    if not path.is_file():
        raise RecipeError(
            f"unknown price book '{id_or_file}'",
            hint="valid names are: " + ", ".join(book_ids()) + " (or a path to your own .toml)",
        )
    return path


def _with_ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "id" in item for item in value)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays of entries with an `id` merge by id; other arrays and values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif _with_ids(value) and _with_ids(merged.get(key)):
            entries = {item["id"]: item for item in merged[key]}
            for item in value:
                entries[item["id"]] = _merge(entries[item["id"]], item) if item["id"] in entries else item
            merged[key] = list(entries.values())
        else:
            merged[key] = value
    return merged


def _read_book_data(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        raise RecipeError(f"{path}: 'extends' loops back to {resolved.name}")
    data = read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RecipeError(f"{path}: 'extends' must be a price book name or file")
    base = _read_book_data(_book_path(parent, relative_to=path.parent), (*seen, resolved))
    if "id" not in data:
        data["id"] = path.stem
    if "document" in base and "document" not in data:
        # The document's printed figures describe its own book, not a changed one.
        base.pop("document")
    return _merge(base, data)


def load_book(id_or_file: str) -> PriceBook:
    """A price book by id (configs/pricing/ID.toml) or file; a file may `extends = "ID"` and override parts."""
    path = _book_path(id_or_file)
    data = _read_book_data(path)
    try:
        book = PriceBook.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        if first.get("type") == "extra_forbidden":
            key = ".".join(str(part) for part in first.get("loc", ()))
            raise RecipeError(
                f"{path}: unknown key '{key}'", hint="compare with configs/pricing/2026-11.toml"
            ) from None
        raise RecipeError(f"{path}: {describe_validation_error(error)}") from None
    book._path = path
    return book


def default_book() -> PriceBook:
    """Today's book: the one named by TALE_PRICES, else the newest in configs/pricing/."""
    chosen = os.environ.get(PRICES_ENV)
    if chosen:
        return load_book(chosen)
    ids = book_ids()
    if not ids:
        raise RecipeError(f"no price books in {pricing_dir()}")
    return load_book(ids[-1])


def resolve_book(id_or_file: str | None) -> PriceBook:
    """--prices flag > TALE_PRICES > the newest book."""
    return load_book(id_or_file) if id_or_file else default_book()


# ── Small helpers ───────────────────────────────────────────────────────────────────────────────────


def _money(value: float) -> float:
    return round(value + 0.0, 2)


def _sum_ranges(ranges: Iterable[Range]) -> Range:
    total = Range(low=0, high=0)
    for item in ranges:
        total = total + item
    return total


def _pct(value: float, reference: float) -> float:
    return 0.0 if reference == 0 else (value - reference) / reference


def _usd(value: float) -> str:
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def _usd_range(value: Range) -> str:
    return _usd(value.low) if value.low == value.high else f"{_usd(value.low)}–{_usd(value.high)}"


# ── Scenario model ──────────────────────────────────────────────────────────────────────────────────


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
    extras = _sum_ranges(item.usd for item in book.scenario_b.extras)
    security = _sum_ranges(item.usd for item in book.scenario_b.security)
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


def _volume_where(cost: Any, target: float, limit: int = 10**9) -> int | None:
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


# ── Comparison results ──────────────────────────────────────────────────────────────────────────────


@dataclass
class PerVideoRow:
    api: str
    label: str
    resolution: str
    usd_per_second: float
    usd_per_video: float
    by_shot_seconds: dict[str, float]
    verified: bool
    source: str
    document: float | None = None


@dataclass
class A1Row:
    videos_per_month: int
    infra: float
    api: float
    total: float
    document: dict[str, float] | None = None


@dataclass
class PoolRow:
    role: str
    label: str
    gpu: str
    count: int
    usd_per_hour: float
    rate: str
    monthly_24x7: float
    monthly_12h: float
    autoscaled: bool


@dataclass
class StrategyRow:
    name: str
    label: str
    usd: Range
    stated: bool = False


@dataclass
class BTierRow:
    videos_per_month: int
    tier_videos: int
    infra: float
    extras: float
    gpu: float
    total: float
    fleet: str


@dataclass
class ComparisonRow:
    videos_per_month: int
    costs: dict[str, float]
    cheapest: str
    document: dict[str, float | str] | None = None


@dataclass
class CapacityRow:
    videos_per_month: int
    model: str
    gpu: str
    seconds_per_clip: float
    source: str
    gpu_hours_needed: float
    gpu_hours_available: float
    gpu_hours_autoscaled: float
    enough: bool
    enough_with_autoscaled: bool


@dataclass
class UnitRow:
    plan: str
    usd_per_month: float
    videos_per_user: float
    users: int
    videos_per_month: int
    cost_per_user: dict[str, float]
    margin_per_user: dict[str, float]
    byok_user_api_usd: float


@dataclass
class Comparison:
    """Everything `tale cost compare` shows, from one price book."""

    price_book: str
    price_book_title: str
    api: str
    shots: int
    seconds: float
    volumes: list[int]
    shot_seconds: list[float]
    per_video: list[PerVideoRow]
    fixed_infra: list[InfraItem]
    fixed_infra_total: Range
    a1: list[A1Row]
    a2: list[A1Row]
    pools: list[PoolRow]
    b_gpu_monthly: dict[str, float]
    strategies: list[StrategyRow]
    b_extras: list[InfraItem]
    b_security: list[InfraItem]
    b_total_lines: list[tuple[str, Range]]
    b_total: Range
    b_tiers: list[BTierRow]
    comparison: list[ComparisonRow]
    break_even: dict[str, Any]
    capacity: list[CapacityRow]
    unit_economics: list[UnitRow]
    notes: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "price_book": self.price_book,
            "inputs": {
                "api": self.api,
                "shots": self.shots,
                "seconds": self.seconds,
                "volumes": self.volumes,
                "users": self.unit_economics[0].users if self.unit_economics else None,
            },
            "per_video": [
                {
                    "api": row.api,
                    "label": row.label,
                    "resolution": row.resolution,
                    "usd_per_second": row.usd_per_second,
                    "usd_per_video": _money(row.usd_per_video),
                    "by_shot_seconds": {key: _money(value) for key, value in row.by_shot_seconds.items()},
                    "verified": row.verified,
                    "source": row.source,
                }
                for row in self.per_video
            ],
            "fixed_infra": {
                "items": [{"item": i.item, "service": i.service, "usd": i.usd.pair()} for i in self.fixed_infra],
                "total": self.fixed_infra_total.pair(),
            },
            "a1": [
                {
                    "videos_per_month": r.videos_per_month,
                    "infra": _money(r.infra),
                    "api": _money(r.api),
                    "total": _money(r.total),
                    **({"document": r.document} if r.document else {}),
                }
                for r in self.a1
            ],
            "a2": [
                {"videos_per_month": r.videos_per_month, "infra": _money(r.infra), "api": 0.0, "total": _money(r.total)}
                for r in self.a2
            ],
            "b_gpu_pools": [
                {
                    "role": p.role,
                    "label": p.label,
                    "gpu": p.gpu,
                    "count": p.count,
                    "usd_per_hour": round(p.usd_per_hour, 4),
                    "rate": p.rate,
                    "24x7": _money(p.monthly_24x7),
                    "12h": _money(p.monthly_12h),
                }
                for p in self.pools
            ],
            "b_gpu_monthly": {key: _money(value) for key, value in self.b_gpu_monthly.items()},
            "b_strategies": [
                {"name": s.name, "label": s.label, "usd": s.usd.pair(), "stated_by_document": s.stated}
                for s in self.strategies
            ],
            "b_extras": {
                "items": [{"item": i.item, "service": i.service, "usd": i.usd.pair()} for i in self.b_extras],
                "security": [{"item": i.item, "service": i.service, "usd": i.usd.pair()} for i in self.b_security],
            },
            "b_total": {
                "lines": [{"item": label, "usd": value.pair()} for label, value in self.b_total_lines],
                "usd": self.b_total.pair(),
            },
            "b_tiers": [
                {
                    "videos_per_month": t.videos_per_month,
                    "tier": t.tier_videos,
                    "infra": _money(t.infra),
                    "extras": _money(t.extras),
                    "gpu": _money(t.gpu),
                    "total": _money(t.total),
                    "fleet": t.fleet,
                }
                for t in self.b_tiers
            ],
            "comparison": [
                {
                    "videos_per_month": r.videos_per_month,
                    **{name: _money(cost) for name, cost in r.costs.items()},
                    "cheapest": r.cheapest,
                    **({"document": r.document} if r.document else {}),
                }
                for r in self.comparison
            ],
            "break_even": self.break_even,
            "capacity": [
                {
                    "videos_per_month": c.videos_per_month,
                    "model": c.model,
                    "gpu": c.gpu,
                    "seconds_per_clip": c.seconds_per_clip,
                    "source": c.source,
                    "gpu_hours_needed": round(c.gpu_hours_needed, 1),
                    "gpu_hours_available": round(c.gpu_hours_available, 1),
                    "gpu_hours_autoscaled": round(c.gpu_hours_autoscaled, 1),
                    "enough": c.enough,
                    "enough_with_autoscaled": c.enough_with_autoscaled,
                }
                for c in self.capacity
            ],
            "unit_economics": [
                {
                    "plan": u.plan,
                    "usd_per_month": u.usd_per_month,
                    "videos_per_user": u.videos_per_user,
                    "users": u.users,
                    "videos_per_month": u.videos_per_month,
                    "cost_per_user": {k: _money(v) for k, v in u.cost_per_user.items()},
                    "margin_per_user": {k: _money(v) for k, v in u.margin_per_user.items()},
                    "byok_user_api_usd": _money(u.byok_user_api_usd),
                }
                for u in self.unit_economics
            ],
            "notes": self.notes,
            "warnings": self.warnings,
        }


class Timing(BaseModel):
    """One measured GPU time, as a benchmark file records it."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    gpu: str = Field(min_length=1)
    seconds_per_clip: float = Field(gt=0)
    steps: int | None = None
    source: str = "measured"


def load_timings(path: Path) -> list[GpuTime]:
    """Measured GPU seconds per clip from a JSON benchmark file: one object, a list, or {"results": [...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not a JSON benchmark file: {error}") from None
    items = data.get("results", data) if isinstance(data, dict) else data
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not items:
        raise InputError(f"{path} holds no measurements", hint='expected {"model": …, "gpu": …, "seconds_per_clip": …}')
    timings = []
    for item in items:
        try:
            measured = Timing.model_validate(item)
        except ValidationError as error:
            raise InputError(f"{path}: {describe_validation_error(error)}") from None
        timings.append(
            GpuTime(
                model=measured.model,
                gpu=measured.gpu,
                seconds=measured.seconds_per_clip,
                steps=measured.steps,
                source=f"{measured.source} ({path.name})",
                as_of=date.fromtimestamp(path.stat().st_mtime),
                verified=True,
            )
        )
    return timings


def _pool_text(book: PriceBook, pool: Pool) -> str:
    gpu = book.gpus[pool.gpu].label
    if pool.budget_usd is not None:
        return f"{pool.role}: +{pool.count}×{gpu} {pool.rate}, autoscaled (${pool.budget_usd:,.0f}/mo)"
    hours = "24/7" if pool.hours_per_day == HOURS_PER_DAY else f"{pool.hours_per_day:g} h/day"
    return f"{pool.role}: {pool.count}×{gpu} {pool.rate} {hours}"


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
    doc = book.document
    notes: dict[str, list[str]] = {}

    per_video = [
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
    notes["per_video"] = [f"{entry.label}: {entry.note}" for entry in book.video if entry.note]
    unverified = [entry.label for entry in book.video if not entry.verified]
    if unverified:
        notes["per_video"].append("Not verified on the provider's own page: " + ", ".join(unverified) + ".")

    per_video_usd = per_video_api_usd(book, api, shots=shots, seconds=seconds)
    a1, a2, comparison, b_tiers = [], [], [], []
    doc_a1 = {row.videos: row for row in doc.a1} if doc else {}
    doc_cmp = {row.videos: row for row in doc.comparison} if doc else {}
    extras_b = b_fixed_extras(book)
    for videos in volumes:
        costs = scenario_costs(book, videos, api=api, shots=shots, seconds=seconds)
        infra = infra_at(book, videos)
        printed = doc_a1.get(videos)
        a1.append(
            A1Row(
                videos,
                infra,
                costs["A-1"] - infra,
                costs["A-1"],
                {"infra": printed.infra, "api": printed.api, "total": printed.total} if printed else None,
            )
        )
        a2.append(A1Row(videos, infra, 0.0, costs["A-2"]))
        tier = b_tier(book, videos)
        gpu = fleet_monthly(book, tier.pools)
        b_tiers.append(
            BTierRow(
                videos,
                tier.videos,
                infra,
                extras_b,
                gpu,
                costs["B"],
                "; ".join(_pool_text(book, p) for p in tier.pools),
            )
        )
        cheapest = min(SCENARIOS, key=lambda name: costs[name])
        printed_cmp = doc_cmp.get(videos)
        comparison.append(
            ComparisonRow(
                videos,
                costs,
                cheapest,
                {"A-1": printed_cmp.a1, "A-2": printed_cmp.a2, "B": printed_cmp.b, "cheapest": printed_cmp.cheapest}
                if printed_cmp
                else None,
            )
        )

    # Scenario B's GPU table, strategies and totals, from the reference fleet.
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
    stated_mix = book.scenario_b.stated_mixed_gpu_usd
    strategies = [
        StrategyRow("24x7", "Around the clock, list price", Range(low=gpu_24, high=gpu_24)),
        StrategyRow("12h", "12 hours a day, same fleet", Range(low=gpu_12, high=gpu_12)),
        StrategyRow("spot-video", "Video GPUs on spot (no autoscaled pool)", Range(low=spot_video, high=spot_video)),
        StrategyRow("mixed", "Recommended mix: LLM always on, video on spot, autoscaling", stated_mix, stated=True),
    ]
    extras_range = _sum_ranges(item.usd for item in book.scenario_b.extras)
    security_range = _sum_ranges(item.usd for item in book.scenario_b.security)
    common = Range(low=book.scenario_b.stated_common_infra_usd, high=book.scenario_b.stated_common_infra_usd)
    b_total_lines = [
        ("Common infrastructure (front end, DB, CDN…)", common),
        ("GPUs (recommended mix)", stated_mix),
        ("Extra infrastructure (VPC, GKE…), midpoint", Range(low=extras_range.mid, high=extras_range.mid)),
        ("Security (section 6)", security_range),
        ("External APIs", Range(low=0, high=0)),
    ]
    b_total = _sum_ranges(value for _, value in b_total_lines)

    # Break-even.
    be = break_even_b_vs_a1(book, api=api, shots=shots, seconds=seconds)
    first_tier = book.scenario_b.tiers[0]
    a2_always = extras_b + min(fleet_monthly(book, t.pools) for t in book.scenario_b.tiers) > 0
    fixed_low = _volume_where(
        lambda v: scenario_costs(book, v, api=api, shots=shots, seconds=seconds)["A-1"], b_total.low
    )
    fixed_high = _volume_where(
        lambda v: scenario_costs(book, v, api=api, shots=shots, seconds=seconds)["A-1"], b_total.high
    )
    break_even: dict[str, Any] = {
        "B_vs_A-1_videos_per_month": be,
        "A-1_usd_per_video": _money(per_video_usd),
        "B_first_tier_fixed_usd": _money(extras_b + fleet_monthly(book, first_tier.pools)),
        "A-2_cheaper_than_B_at_every_volume": a2_always,
        "fixed_B_vs_A-1_videos_per_month": [fixed_low, fixed_high],
    }

    # Capacity: GPU-hours the tier fleet's video pools give against what the volume needs.
    capacity: list[CapacityRow] = []
    warnings: list[str] = []
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
        notes.setdefault("capacity", []).append(
            "Some timings were measured on a GPU the fleet does not use: "
            + ", ".join(sorted({t.gpu for t in candidates}))
            + "."
        )
    if not candidates:
        notes.setdefault("capacity", []).append(f"The book has no GPU time for '{model}': capacity cannot be checked.")

    # Unit economics: if every user were on one plan.
    unit = book.unit_economics
    user_count = users or unit.users
    unit_rows = []
    for plan in plans or unit.plans:
        volume = max(1, round(user_count * plan.videos_per_month))
        costs = scenario_costs(book, volume, api=api, shots=shots, seconds=seconds)
        per_user = {name: costs[name] / user_count for name in SCENARIOS}
        unit_rows.append(
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

    result = Comparison(
        price_book=book.id,
        price_book_title=book.title,
        api=api,
        shots=shots,
        seconds=seconds,
        volumes=volumes,
        shot_seconds=shot_seconds,
        per_video=per_video,
        fixed_infra=book.infra.items,
        fixed_infra_total=book.infra.total,
        a1=a1,
        a2=a2,
        pools=pools,
        b_gpu_monthly={"24x7": gpu_24, "12h": gpu_12},
        strategies=strategies,
        b_extras=book.scenario_b.extras,
        b_security=book.scenario_b.security,
        b_total_lines=b_total_lines,
        b_total=b_total,
        b_tiers=b_tiers,
        comparison=comparison,
        break_even=break_even,
        capacity=capacity,
        unit_economics=unit_rows,
        notes=notes,
        warnings=warnings,
    )
    _document_notes(book, result)
    return result


def _document_notes(book: PriceBook, result: Comparison) -> None:
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
            f"The items add to {_usd_range(total)}; the document prints {_usd_range(doc.fixed_infra_usd)} (rounded)."
        )
    if doc.a1:
        implied = sorted({round(row.api / row.videos, 4) for row in doc.a1})
        per_video = per_video_api_usd(book, result.api, shots=result.shots, seconds=result.seconds)
        video = book.video_price(result.api)
        gaps = [abs(_pct(r.total, r.document["total"])) for r in result.a1 if r.document]
        planning, references = book.scenario_a.planning.usd, book.scenario_a.references.usd
        notes.setdefault("a1", []).append(
            f"The document's API column implies ${implied[0]:.2f}–{implied[-1]:.2f} per video and its totals "
            f"are rounded to the thousand. Tale uses {result.shots} × {result.seconds:g} s × "
            f"${video.usd_per_second:.2f} + the midpoints of planning ({_usd_range(planning)}) "
            f"and references ({_usd_range(references)}) = ${per_video:.2f}"
            + (f", within {max(gaps):.1%} of every printed total." if gaps else ".")
        )
        notes["a1"].append(
            "The infrastructure column is a point per volume inside the fixed range; between and beyond the "
            f"document's volumes Tale interpolates it, within {_usd_range(total)}."
        )
    if doc.a2_usd and doc.comparison:
        printed = sorted({row.a2 for row in doc.comparison})
        notes.setdefault("a2", []).append(
            f"The A-2 table prints {_usd_range(doc.a2_usd)} at every volume, but the comparison uses "
            f"{', '.join(_usd(v) for v in printed)}; Tale follows the comparison (the infrastructure at each volume)."
        )
    if doc.spot_video_gpu_usd is not None:
        spot = next(s for s in result.strategies if s.name == "spot-video")
        with_pool = spot.usd.low + sum(pool.budget_usd or 0 for pool in book.scenario_b.reference_fleet)
        notes.setdefault("strategies", []).append(
            f"The document's spot figure ({_usd(doc.spot_video_gpu_usd)}) matches the fleet without its "
            f"autoscaled pool ({_usd(spot.usd.low)}); with the pool it is {_usd(with_pool)}."
        )
    operating = book.scenario_b.tiers[1:] or book.scenario_b.tiers
    spread = [fleet_monthly(book, tier.pools) for tier in operating]
    notes.setdefault("strategies", []).append(
        f"The document gives no fleet for its mix ({_usd_range(book.scenario_b.stated_mixed_gpu_usd)}); "
        "Tale shows it as stated. The fleets Tale reads per volume tier "
        f"({operating[0].videos:,}–{operating[-1].videos:,} videos, used in the comparison) "
        f"cost {_usd(min(spread))}–{_usd(max(spread))}."
    )
    extras = _sum_ranges(item.usd for item in book.scenario_b.extras)
    if doc.extras_usd and (extras.low, extras.high) != (doc.extras_usd.low, doc.extras_usd.high):
        used = f" and its B total uses {_usd(doc.extras_in_b_total_usd)}" if doc.extras_in_b_total_usd else ""
        notes.setdefault("b_extras", []).append(
            f"The items add to {_usd_range(extras)}; the document prints {_usd_range(doc.extras_usd)}{used}. "
            f"Tale uses the midpoint, {_usd(extras.mid)}."
        )
    if doc.b_total_usd:
        security = _sum_ranges(item.usd for item in book.scenario_b.security)
        common = book.scenario_b.stated_common_infra_usd
        mix = book.scenario_b.stated_mixed_gpu_usd
        printed_extras = doc.extras_in_b_total_usd or 0
        notes.setdefault("b_total", []).append(
            f"The document's lines ({_usd(common)} + {_usd_range(mix)} + {_usd(printed_extras)}) add to "
            f"{_usd(common + mix.low + printed_extras)}–{_usd(common + mix.high + printed_extras)}, but it prints "
            f"{_usd_range(doc.b_total_usd)}. With section 6's B security items ({_usd_range(security)}), "
            f"which the table leaves out, and the extras' midpoint ({_usd(extras.mid)}), "
            f"Tale gets {_usd_range(result.b_total)}."
        )
    if doc.comparison:
        printed_b = [row.b for row in doc.comparison]
        notes.setdefault("comparison", []).append(
            f'The document calls B a fixed cost ("the same at 15,000 or 45,000 videos"), yet its comparison grows from '
            f"{_usd(min(printed_b))} to {_usd(max(printed_b))}. Tale follows the comparison: "
            "B = common infrastructure at that volume + extras + security + the fleet of the volume's tier "
            "(see the price book)."
        )
        if doc.b_conclusion_usd and doc.b_total_usd and doc.b_conclusion_usd != doc.b_total_usd:
            notes["comparison"].append(
                f"Section 5 gives B as {_usd_range(doc.b_conclusion_usd)} a month, "
                f"section 4 as {_usd_range(doc.b_total_usd)}."
            )


# ── Per-render estimates ────────────────────────────────────────────────────────────────────────────


@dataclass
class ShotEstimate:
    index: int
    seconds: float
    billed_seconds: float | None
    usd: float
    price: str | None = None
    credits: float | None = None
    gpu_seconds: float | None = None


@dataclass
class RenderEstimate:
    """What a render will cost before anything is spent: per shot, planner, references, total."""

    price_book: str
    recipe: str
    video_backend: str
    video_model: str
    shots: list[ShotEstimate]
    planner_usd: float
    references: int
    references_usd: float
    paid: bool
    unpriced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def video_usd(self) -> float:
        return sum(shot.usd for shot in self.shots)

    @property
    def total_usd(self) -> float:
        return self.video_usd + self.planner_usd + self.references_usd

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (a dict), e.g. for `--json` or a manifest."""
        return {
            "price_book": self.price_book,
            "recipe": self.recipe,
            "video": {"backend": self.video_backend, "model": self.video_model},
            "shots": [
                {key: (_money(value) if key == "usd" else value) for key, value in asdict(shot).items()}
                for shot in self.shots
            ],
            "video_usd": _money(self.video_usd),
            "planner_usd": _money(self.planner_usd),
            "references": self.references,
            "references_usd": _money(self.references_usd),
            "total_usd": _money(self.total_usd),
            "paid": self.paid,
            "unpriced": self.unpriced,
            "notes": self.notes,
        }


@dataclass
class ShotPrice:
    """A priced shot: what the provider will bill for a clip of some seconds."""

    price: str
    billed_seconds: float
    usd: float
    credits: float | None = None
    note: str | None = None


def _best(entries: Sequence[Any], backend: str, model: str) -> Any:
    scored = [(entry.match(backend, model), position, entry) for position, entry in enumerate(entries)]
    scored = [item for item in scored if item[0] > 0]
    if not scored:
        return None
    return max(scored, key=lambda item: (item[0], -item[1]))[2]


def price_shot(
    backend: str,
    model: str,
    seconds: float,
    *,
    resolution: str | None = None,
    audio: bool = False,
    book: PriceBook | None = None,
) -> ShotPrice | None:
    """What a video API bills for one clip, from the book; None when the book does not price that model."""
    book = book or default_book()
    entry: VideoPrice | None = _best(book.video, backend, model)
    if entry is None:
        return None
    rate, note = entry.rate(resolution, audio=audio)
    billed = entry.billed_seconds(seconds)
    credits = billed * entry.credits_per_second if entry.credits_per_second is not None else None
    return ShotPrice(price=entry.id, billed_seconds=billed, usd=billed * rate, credits=credits, note=note)


def _resolution(recipe: Recipe, plan: Plan) -> str:
    if recipe.video.resolution:
        return recipe.video.resolution
    return f"{min(plan.width, plan.height)}p"


def _gpu_timing(book: PriceBook, model: str, unit: str, gpu: str) -> tuple[GpuTime | None, str | None]:
    timings = [t for t in book.gpu_time if t.unit == unit and t.matches(model)]
    on_gpu = [t for t in timings if t.gpu == gpu]
    if on_gpu:
        return max(on_gpu, key=lambda t: t.seconds), None
    if timings:
        slowest = max(timings, key=lambda t: t.seconds)
        return slowest, f"{model}: no timing on {gpu}; used {slowest.seconds:g} s measured on {slowest.gpu}"
    return None, None


def _local_seconds(timing: GpuTime, steps: int | None) -> float:
    if steps is not None and timing.steps is not None:
        return timing.seconds * steps / timing.steps
    return timing.seconds


def _is_private_url(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback


def estimate_render(
    plan: Plan,
    recipe: Recipe,
    *,
    book: PriceBook | None = None,
    include_planner: bool = True,
    gpu: str | None = None,
    only_shots: Iterable[int] | None = None,
) -> RenderEstimate:
    """What rendering this plan with this recipe will cost, before anything is spent.

    API video is priced per billed second from the book; local (diffusers) video as GPU-seconds per clip ×
    the hourly price of the local GPU; preview is free. A paid model the book does not know is listed in
    `unpriced` (never counted as free). `include_planner=False` when the plan already exists;
    `only_shots` limits the estimate to the shots that will render (e.g. not the cached ones).
    """
    book = book or default_book()
    wanted = None if only_shots is None else set(only_shots)
    plan_shots = [shot for shot in plan.shots if wanted is None or shot.index in wanted]
    gpu = gpu or book.local.gpu
    if gpu not in book.gpus:
        raise RecipeError(
            f"price book {book.id} has no hourly price for gpu '{gpu}'", hint="valid names are: " + ", ".join(book.gpus)
        )
    hourly = book.gpus[gpu].usd_per_hour
    unpriced: list[str] = []
    notes: list[str] = []
    paid = False
    video = recipe.video
    shots: list[ShotEstimate] = []

    if video.backend in FREE_BACKENDS:
        shots = [ShotEstimate(shot.index, shot.duration_s, None, 0.0) for shot in plan_shots]
    elif video.backend in LOCAL_GPU_BACKENDS:
        timing, note = _gpu_timing(book, video.model, "clip", gpu)
        if note:
            notes.append(note)
        if timing is None:
            unpriced.append(f"video {video.backend}/{video.model or '(no model)'}: no GPU time in price book {book.id}")
            shots = [ShotEstimate(shot.index, shot.duration_s, None, 0.0) for shot in plan_shots]
        else:
            seconds = _local_seconds(timing, video.steps)
            usd = seconds / 3600 * hourly
            shots = [ShotEstimate(s.index, s.duration_s, None, usd, timing.model, None, seconds) for s in plan_shots]
            notes.append(f"local video: {seconds:g} GPU-seconds per clip × ${hourly:.2f}/h ({book.gpus[gpu].label})")
    else:
        paid = True
        resolution = _resolution(recipe, plan)
        for shot in plan_shots:
            priced = (
                price_shot(
                    video.backend, video.model, shot.duration_s, resolution=resolution, audio=video.audio, book=book
                )
                if video.model
                else None
            )
            if priced is None:
                shots.append(ShotEstimate(shot.index, shot.duration_s, None, 0.0))
                continue
            if priced.note and priced.note not in notes:
                notes.append(priced.note)
            shots.append(
                ShotEstimate(
                    shot.index, shot.duration_s, priced.billed_seconds, priced.usd, priced.price, priced.credits
                )
            )
        if not video.model:
            unpriced.append(f"video {video.backend}: the recipe names no model, so it cannot be priced")
        elif any(shot.price is None for shot in shots):
            unpriced.append(f"video {video.backend}/{video.model}: not in price book {book.id}")

    # Character references that will be generated (characters without an image of their own).
    to_draw = sum(1 for character in plan.characters if character.reference_image is None)
    image = recipe.image
    references_usd = 0.0
    if to_draw and image.backend not in FREE_BACKENDS:
        if image.backend in LOCAL_GPU_BACKENDS:
            timing, note = _gpu_timing(book, image.model, "image", gpu)
            if note:
                notes.append(note)
            if timing is None:
                unpriced.append(
                    f"image {image.backend}/{image.model or '(no model)'}: no GPU time in price book {book.id}"
                )
            else:
                references_usd = to_draw * _local_seconds(timing, image.steps) / 3600 * hourly
        else:
            paid = True
            entry: ImagePrice | None = _best(book.image, image.backend, image.model) if image.model else None
            if entry is None:
                unpriced.append(f"image {image.backend}/{image.model or '(no model)'}: not in price book {book.id}")
            else:
                each, note = entry.price(image.quality)
                if note:
                    notes.append(note)
                references_usd = to_draw * each

    planner_usd = 0.0
    planner = recipe.planner
    if include_planner and planner.backend not in FREE_BACKENDS:
        if planner.backend == "openai-compatible" and _is_private_url(planner.base_url):
            notes.append("planner: a self-hosted server on a private address, not billed")
        else:
            paid = True
            planner_entry: PlannerPrice | None = _best(book.planner, planner.backend, planner.model or "")
            if planner_entry is None:
                unpriced.append(
                    f"planner {planner.backend}/{planner.model or '(no model)'}: not in price book {book.id}"
                )
            else:
                planner_usd = planner_entry.usd_per_plan.high
                if planner_entry.usd_per_plan.low != planner_entry.usd_per_plan.high:
                    notes.append(f"planner: the high end of {_usd_range(planner_entry.usd_per_plan)} per plan")

    return RenderEstimate(
        price_book=book.id,
        recipe=recipe.name,
        video_backend=video.backend,
        video_model=video.model,
        shots=shots,
        planner_usd=planner_usd,
        references=to_draw if image.backend not in FREE_BACKENDS else 0,
        references_usd=references_usd,
        paid=paid,
        unpriced=unpriced,
        notes=notes,
    )


def check_budget(estimate: RenderEstimate, max_cost_usd: float | None) -> None:
    """Refuse (BudgetError, exit code 9) when the estimate exceeds the budget or cannot be fully priced."""
    if max_cost_usd is None:
        return
    if estimate.unpriced:
        raise BudgetError(
            f"cannot hold the render to ${max_cost_usd:.2f}: {estimate.unpriced[0]}",
            hint="price it in your own book (--prices FILE, see configs/pricing/) or drop the budget",
        )
    if estimate.total_usd > max_cost_usd + 1e-9:
        raise BudgetError(
            f"the estimate ${estimate.total_usd:.2f} exceeds the budget ${max_cost_usd:.2f}; nothing was spent",
            hint="raise --max-cost (or the recipe's budget_usd), render fewer or shorter shots, "
            "or pick a cheaper recipe",
        )


# ── Spend ledger: what runs actually cost, from their manifests ─────────────────────────────────────


class _Charge(BaseModel):
    model_config = ConfigDict(extra="ignore")

    backend: str = "unknown"
    model: str | None = ""
    status: str | None = None
    cost_usd: float | None = Field(default=None, ge=0)
    billed_seconds: float | None = Field(default=None, ge=0)
    billed_credits: float | None = Field(default=None, ge=0)
    render_s: float | None = Field(default=None, ge=0)
    started_at: str | None = None
    finished_at: str | None = None


class _RunInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    slug: str = ""
    recipe: str | None = None
    created: str | None = None
    updated: str | None = None


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run: _RunInfo = Field(default_factory=_RunInfo)
    planner: _Charge | None = None
    refs: dict[str, _Charge] = Field(default_factory=dict)
    shots: dict[str, _Charge] = Field(default_factory=dict)


@dataclass
class SpendLine:
    key: str
    items: int = 0
    usd: float = 0.0
    billed_seconds: float = 0.0
    billed_credits: float = 0.0
    gpu_seconds: float = 0.0
    unrecorded: int = 0


@dataclass
class SpendReport:
    """Real spend across runs: per run, per backend and per day (of each item's finish)."""

    runs: list[SpendLine]
    by_backend: list[SpendLine]
    by_day: list[SpendLine]

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.runs)

    @property
    def unrecorded(self) -> int:
        return sum(line.unrecorded for line in self.runs)

    def to_json(self) -> dict[str, Any]:
        def rows(lines: list[SpendLine], name: str) -> list[dict[str, Any]]:
            return [
                {
                    name: line.key,
                    "items": line.items,
                    "usd": _money(line.usd),
                    "billed_seconds": round(line.billed_seconds, 3),
                    "billed_credits": round(line.billed_credits, 3),
                    "gpu_seconds": round(line.gpu_seconds, 1),
                    "unrecorded": line.unrecorded,
                }
                for line in lines
            ]

        return {
            "runs": rows(self.runs, "run"),
            "by_backend": rows(self.by_backend, "backend"),
            "by_day": rows(self.by_day, "day"),
            "total_usd": _money(self.total_usd),
            "unrecorded": self.unrecorded,
        }


def find_runs(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.glob("*/manifest.json"))


def _day(*stamps: str | None) -> str:
    for stamp in stamps:
        if stamp:
            try:
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date().isoformat()
            except ValueError:
                continue
    return "unknown"


def _read_manifest(run_dir: Path) -> _Manifest:
    path = run_dir / "manifest.json" if run_dir.is_dir() else run_dir
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no manifest.json in {run_dir}", hint="give a run folder written by `tale render`") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not valid JSON: {error}") from None
    try:
        return _Manifest.model_validate(data)
    except ValidationError as error:
        raise InputError(f"{path}: {describe_validation_error(error)}") from None


def spent(run_dirs: Sequence[Path] = (), *, root: Path | None = None) -> SpendReport:
    """Sum what runs actually cost from their manifests; with no run folders, every run under `root` (./out)."""
    dirs = list(run_dirs) or find_runs(root or Path("out"))
    runs: list[SpendLine] = []
    backends: dict[str, SpendLine] = {}
    days: dict[str, SpendLine] = {}
    for run_dir in dirs:
        manifest = _read_manifest(run_dir)
        run = SpendLine(manifest.run.slug or run_dir.name)
        charges = [manifest.planner] if manifest.planner else []
        charges += [*manifest.refs.values(), *manifest.shots.values()]
        for charge in charges:
            attempted = charge.cost_usd is not None or charge.status in {"done", "failed"}
            if not attempted:
                continue
            day = _day(charge.finished_at, charge.started_at, manifest.run.updated, manifest.run.created)
            local = charge.backend in FREE_BACKENDS or charge.backend in LOCAL_GPU_BACKENDS
            missing = charge.cost_usd is None and not local and charge.status == "done"
            for line in (
                run,
                backends.setdefault(charge.backend, SpendLine(charge.backend)),
                days.setdefault(day, SpendLine(day)),
            ):
                line.items += 1
                line.usd += charge.cost_usd or 0.0
                line.billed_seconds += charge.billed_seconds or 0.0
                line.billed_credits += charge.billed_credits or 0.0
                if charge.backend in LOCAL_GPU_BACKENDS:
                    line.gpu_seconds += charge.render_s or 0.0
                line.unrecorded += int(missing)
        runs.append(run)
    return SpendReport(
        runs=runs,
        by_backend=sorted(backends.values(), key=lambda line: (-line.usd, line.key)),
        by_day=sorted(days.values(), key=lambda line: line.key),
    )
