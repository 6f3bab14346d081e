"""What a render tells its caller: progress events as it goes, and a RenderReport at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tale_cli.story.plan import Plan


class ShotState(StrEnum):
    """Where a shot stands in this render, as events report it and the report counts it."""

    QUEUED = "queued"
    RENDERING = "rendering"
    CACHED = "cached"
    DONE = "done"
    FAILED = "failed"
    WOULD_RENDER = "would render"  # a dry run's shot that is not cached


@dataclass
class Event:
    """Progress for the CLI: a shot's state change (`index` and `state` set) or a message."""

    kind: str
    index: int | None = None
    state: ShotState | None = None
    detail: str = ""
    seconds: float | None = None


EventSink = Callable[[Event], None]


def ignore_events(_: Event) -> None:
    return None


@dataclass
class ShotOutcome:
    index: int
    status: ShotState
    params_hash: str
    path: Path | None = None
    error: str | None = None
    render_s: float | None = None
    refused: bool = False  # refused or quota-blocked: the recipe's fallback may render it


@dataclass
class RenderReport:
    run_dir: Path
    plan: Plan
    recipe: str
    dry_run: bool
    shots: list[ShotOutcome] = field(default_factory=list)
    film: Path | None = None
    srt: Path | None = None
    storyboard: Path | None = None
    review: Path | None = None
    duration_s: float | None = None
    seconds: float = 0.0
    plan_source: str = ""
    # A dry run that did not call the planner: what planning would cost, from the price book.
    planning_usd: float | None = None
    locked: int = 0  # shots locked to their current take (`tale lock`), kept whatever the plan or recipe says
    # The recipe's judge: its summary over the current takes and what its retakes did (judge.json has the rest).
    judge: dict[str, Any] | None = None
    film_unchanged: bool = False  # the film was already this cut: nothing was written

    @property
    def cached(self) -> int:
        return sum(1 for s in self.shots if s.status == ShotState.CACHED)

    @property
    def rendered(self) -> int:
        return sum(1 for s in self.shots if s.status == ShotState.DONE)

    @property
    def failed(self) -> list[ShotOutcome]:
        return [s for s in self.shots if s.status == ShotState.FAILED]

    @property
    def would_render(self) -> int:
        return sum(1 for s in self.shots if s.status == ShotState.WOULD_RENDER)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "title": self.plan.title,
            "recipe": self.recipe,
            "dry_run": self.dry_run,
            "plan_source": self.plan_source,
            "planning_usd": self.planning_usd,
            "film": str(self.film) if self.film else None,
            "srt": str(self.srt) if self.srt else None,
            "storyboard": str(self.storyboard) if self.storyboard else None,
            "review": str(self.review) if self.review else None,
            "duration_s": self.duration_s,
            "film_unchanged": self.film_unchanged,
            "seconds": round(self.seconds, 3),
            "locked": self.locked,
            "judge": self.judge,
            "counts": {
                "shots": len(self.shots),
                "cached": self.cached,
                "rendered": self.rendered,
                "failed": len(self.failed),
            },
            "shots": [
                {
                    "index": s.index,
                    "status": s.status,
                    "params_hash": s.params_hash,
                    "path": str(s.path) if s.path else None,
                    "error": s.error,
                    "render_s": s.render_s,
                }
                for s in self.shots
            ],
        }
