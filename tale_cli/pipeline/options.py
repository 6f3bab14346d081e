"""What a render is asked to do: the recipe, where to write, and the executor to run shots on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.executors import ShotExecutor

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.cost.guard import SpendCheck, Spending


@dataclass
class RenderOptions:
    recipe: Recipe
    out_root: Path | None = None
    run_dir: Path | None = None
    jobs: int | None = None
    dry_run: bool = False
    planner: str | None = None
    burn_subtitles: bool = False
    transition: str | None = None
    audio: Path | None = None
    # The film's Content Credentials (False: --no-c2pa) and the marks burned into or embedded in the film only.
    c2pa: bool = True
    watermark: str | None = None
    invisible_watermark: str | None = None
    private: bool = False
    # --seal / --no-seal: the run folder's words sealed at rest (the recipe's `seal = true` too); None: sealed when the
    # run is private and an age identity is at hand (tale_cli.keys.seal.identity_at_hand).
    seal: bool | None = None
    # --seal-media: the run's media (clips, pictures, voice, music, the film) sealed too; it implies --seal.
    seal_media: bool = False
    # --aspect and --resolution: over the story's front matter (or the plan.json's shape) and the recipe.
    aspect: str | None = None
    resolution: str | None = None
    # Whether to wait for another command writing the same run folder (False: refuse at once, exit code 13).
    wait: bool = True
    executor: ShotExecutor | None = None
    # The budget (--max-cost) besides the recipe's own budget_usd: the render, and its automatic retakes, stop at it.
    max_cost: float | None = None
    # A paid render starts without asking (--yes); else `confirm` is asked "Spend about $X?" (None: nothing is asked).
    yes: bool = False
    confirm: Callable[[str], bool] | None = None
    # Where the estimate is shown before anything is spent (None: nowhere).
    show_spend: Callable[[SpendCheck], None] | None = None

    @property
    def spending(self) -> Spending:
        from tale_cli.cost.guard import Spending

        return Spending(max_cost=self.max_cost, yes=self.yes, confirm=self.confirm, show=self.show_spend)
