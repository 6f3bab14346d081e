"""What a render is asked to do: the recipe, where to write, and the executor to run shots on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.executors import ShotExecutor

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.plan import Plan
    from tale_cli.run.folder import RunFolder


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
    private: bool = False
    # --aspect and --resolution: over the story's front matter (or the plan.json's shape) and the recipe.
    aspect: str | None = None
    resolution: str | None = None
    # Whether to wait for another command writing the same run folder (False: refuse at once, exit code 13).
    wait: bool = True
    executor: ShotExecutor | None = None
    # The budget (--max-cost) the recipe's automatic retakes stop at, besides the recipe's own budget_usd.
    max_cost: float | None = None
    # Called with the plan, recipe, run folder and the shots that will render (not cached), before spending.
    before_spend: Callable[[Plan, Recipe, RunFolder, list[int]], None] | None = None
