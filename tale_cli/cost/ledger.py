"""The spend ledger: what runs actually cost, summed from their manifests per run, per backend and per day."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from tale_cli.cost.estimate import FREE_BACKENDS, LOCAL_GPU_BACKENDS
from tale_cli.cost.report import Cents, OneDecimal, Report, ThreeDecimals
from tale_cli.errors import InputError
from tale_cli.plan import describe_validation_error


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


def _read_manifest(run_dir: Path) -> _Manifest:
    """The part of a run's manifest.json the ledger reads: the run's dates and every item's charge."""
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


class SpendLine(Report):
    """What one run, backend or day spent; `key` names it (the JSON calls it run, backend or day)."""

    key: str
    items: int = 0
    usd: Cents = 0.0
    billed_seconds: ThreeDecimals = 0.0
    billed_credits: ThreeDecimals = 0.0
    gpu_seconds: OneDecimal = 0.0
    unrecorded: int = 0


class RunSpend(SpendLine):
    key: str = Field(serialization_alias="run")


class BackendSpend(SpendLine):
    key: str = Field(serialization_alias="backend")


class DaySpend(SpendLine):
    key: str = Field(serialization_alias="day")


class SpendReport(Report):
    """Real spend across runs: per run, per backend and per day (of each item's finish)."""

    runs: list[RunSpend]
    by_backend: list[BackendSpend]
    by_day: list[DaySpend]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_usd(self) -> Cents:
        return sum(line.usd for line in self.runs)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unrecorded(self) -> int:
        return sum(line.unrecorded for line in self.runs)


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


def spent(run_dirs: Sequence[Path] = (), *, root: Path | None = None) -> SpendReport:
    """Sum what runs actually cost from their manifests; with no run folders, every run under `root` (./out)."""
    dirs = list(run_dirs) or find_runs(root or Path("out"))
    runs: list[RunSpend] = []
    backends: dict[str, BackendSpend] = {}
    days: dict[str, DaySpend] = {}
    for run_dir in dirs:
        manifest = _read_manifest(run_dir)
        run = RunSpend(key=manifest.run.slug or run_dir.name)
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
                backends.setdefault(charge.backend, BackendSpend(key=charge.backend)),
                days.setdefault(day, DaySpend(key=day)),
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
