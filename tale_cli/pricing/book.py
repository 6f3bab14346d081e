"""Price books: the dated TOML files of prices and fleet assumptions every estimate reads, validated on load."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from tale_cli.config import Recipe, data_dir, read_toml
from tale_cli.errors import RecipeError, describe_validation_error
from tale_cli.pricing.money import Range, Usd, sum_ranges
from tale_cli.pricing.prices import (
    GpuPrice,
    GpuTime,
    ImagePrice,
    JudgePrice,
    MadeVoicePrice,
    MusicPrice,
    PlannerPrice,
    Sourced,
    VideoPrice,
    VoicePrice,
)

PRICES_ENV = "TALE_PRICES"
HOURS_PER_DAY = 24.0


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
        return sum_ranges(item.usd for item in self.items)


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
    voice: list[VoicePrice] = Field(default_factory=list)
    made_voice: list[MadeVoicePrice] = Field(default_factory=list)
    music: list[MusicPrice] = Field(default_factory=list)
    judge: list[JudgePrice] = Field(default_factory=list)
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
        for kind, entries in (("video", self.video), ("image", self.image), ("planner", self.planner),
                              ("voice", self.voice), ("made_voice", self.made_voice), ("music", self.music),
                              ("judge", self.judge)):  # fmt: skip
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


def with_prices(recipe: Recipe, prices: str | None) -> Recipe:
    """The recipe with --prices for one run (flag > recipe). The book is loaded here, so a bad one stops the run
    before anything starts; a book file is kept by its absolute path, so every part of the run reads the same book."""
    chosen = prices or recipe.prices
    if chosen is None:
        return recipe
    book = load_book(chosen)
    is_file = chosen.endswith(".toml") or "/" in chosen
    kept = str(book.path.resolve()) if is_file and book.path is not None else chosen
    return recipe.model_copy(update={"prices": kept})
