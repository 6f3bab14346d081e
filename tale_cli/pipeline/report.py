"""What a render tells its caller: progress events as it goes, and a RenderReport at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import ExitCode
from tale_cli.events import ShotState

if TYPE_CHECKING:
    from tale_cli.story.plan import Plan


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
    # "draft" for `tale render --draft`: `film` is then film.draft.mp4, and `final_film` film.mp4 when the cut made it
    # too (every current take has its final: tale finalize).
    tier: str = "final"
    final_film: Path | None = None

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
            "tier": self.tier,
            "final_film": str(self.final_film) if self.final_film else None,
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


@dataclass
class FilmResult:
    """One film's line in the summary."""

    source: Path
    title: str
    status: str
    run_dir: Path | None = None
    film: Path | None = None
    shots: int = 0
    rendered: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0
    error: str | None = None
    exit_code: int = int(ExitCode.OK)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "title": self.title,
            "status": self.status,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "film": str(self.film) if self.film else None,
            "shots": self.shots,
            "rendered": self.rendered,
            "cached": self.cached,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "cost_usd": round(self.cost_usd, 6),
            "error": self.error,
            "exit_code": self.exit_code,
        }
