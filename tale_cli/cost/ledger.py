"""The spend ledger: what runs actually cost, summed from their manifests per run, per backend and per day."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import Field, computed_field

from tale_cli.cost.report import Cents, OneDecimal, Report, ThreeDecimals
from tale_cli.errors import InputError
from tale_cli.keys.seal import read_bytes
from tale_cli.registry import Pricing, providers
from tale_cli.run.folder import ManifestData, ShotStatus


def _read_manifest(run_dir: Path) -> ManifestData:
    """A run's manifest.json through the run folder's model, with one clear error when it cannot be read."""
    path = run_dir / "manifest.json" if run_dir.is_dir() else run_dir
    try:
        data = json.loads(read_bytes(path).decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"no manifest.json in {run_dir}", hint="give a run folder written by `tale render`") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a manifest (a JSON object)")
    return ManifestData.salvage(data)


@dataclass(frozen=True)
class _Charge:
    """One billed item of a manifest (the plan, a reference, a shot), as the ledger counts it."""

    backend: str | None
    cost_usd: float | None
    status: str | None = None
    billed_seconds: float | None = None
    billed_credits: float | None = None
    render_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None


def _charges(manifest: ManifestData) -> list[_Charge]:
    charges: list[_Charge] = []
    if manifest.planner is not None:
        planner = manifest.planner
        charges.append(_Charge(planner.backend, planner.cost_usd, finished_at=planner.finished_at))
    for ref in manifest.refs.values():
        charges.append(
            _Charge(ref.backend, ref.cost_usd, ref.status, render_s=ref.render_s, finished_at=ref.finished_at)
        )
    for shot in manifest.shots.values():
        if shot.takes:
            # Every take was paid for, the current one and those set aside.
            charges += [
                _Charge(
                    take.backend,
                    take.cost_usd,
                    ShotStatus.DONE,
                    take.billed_seconds,
                    take.billed_credits,
                    take.render_s,
                    finished_at=take.made_at,
                )
                for take in shot.takes
            ]
            # Judging a take with a paid judge is billed on its own, under the judge's backend.
            # Every paid judging is kept (a later judge does not erase what an earlier one cost).
            charges += [
                _Charge(charge.backend, charge.cost_usd, ShotStatus.DONE, finished_at=charge.judged_at)
                for take in shot.takes
                for charge in take.judge_spend()
            ]
            continue
        charges.append(
            _Charge(
                shot.backend,
                shot.cost_usd,
                shot.status,
                shot.billed_seconds,
                shot.billed_credits,
                shot.render_s,
                shot.started_at,
                shot.finished_at,
            )
        )
    for clip in [*manifest.voice.clips, *manifest.voice.samples] if manifest.voice else []:
        charges.append(_Charge(clip.backend, clip.cost_usd, ShotStatus.DONE))
    if manifest.music is not None:
        charges.append(_Charge(manifest.music.backend, manifest.music.cost_usd, ShotStatus.DONE))
    for made in manifest.made_voices or []:
        charges.append(_Charge(made.backend, made.cost_usd, ShotStatus.DONE, finished_at=made.made_at))
    return charges


def _priced_by(backend: str | None) -> Pricing | None:
    """How the registry prices a backend a manifest names; None for one it no longer knows."""
    entry = providers().get(backend or "")
    return None if entry is None else entry.priced_by


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
        for charge in _charges(manifest):
            attempted = charge.cost_usd is not None or charge.status in {ShotStatus.DONE, ShotStatus.FAILED}
            if not attempted:
                continue
            day = _day(charge.finished_at, charge.started_at, manifest.run.updated, manifest.run.created)
            backend = charge.backend or "unknown"
            pricing = _priced_by(charge.backend)
            local = pricing in (Pricing.FREE, Pricing.GPU_TIME)
            missing = charge.cost_usd is None and not local and charge.status == ShotStatus.DONE
            for line in (
                run,
                backends.setdefault(backend, BackendSpend(key=backend)),
                days.setdefault(day, DaySpend(key=day)),
            ):
                line.items += 1
                line.usd += charge.cost_usd or 0.0
                line.billed_seconds += charge.billed_seconds or 0.0
                line.billed_credits += charge.billed_credits or 0.0
                if pricing is Pricing.GPU_TIME:
                    line.gpu_seconds += charge.render_s or 0.0
                line.unrecorded += int(missing)
        runs.append(run)
    return SpendReport(
        runs=runs,
        by_backend=sorted(backends.values(), key=lambda line: (-line.usd, line.key)),
        by_day=sorted(days.values(), key=lambda line: line.key),
    )
