"""The spend guard a render runs after planning and before its first paid call: estimate, budget, confirmation."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tale_cli.cost.estimate import RenderEstimate, check_budget, estimate_render
from tale_cli.errors import BudgetError
from tale_cli.pricing.money import in_cents
from tale_cli.run.plan_file import save_plan

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.run.folder import RunFolder
    from tale_cli.story.plan import Plan


@dataclass(frozen=True)
class SpendCheck:
    """What a render is about to spend: the estimate for the shots left to render, and the budget holding it."""

    estimate: RenderEstimate
    budget: float | None

    @property
    def worth_showing(self) -> bool:
        """Free renders with no budget pass silently; anything paid, unpriced or held to a budget is shown."""
        return self.estimate.paid or bool(self.estimate.unpriced) or self.budget is not None


def budget_for(max_cost: float | None, recipe: Recipe) -> float | None:
    """The budget a command is held to: the lower of --max-cost and the recipe's budget_usd (each when set); the
    recipe's budget holds whoever calls, the command line or a script."""
    limits = [limit for limit in (max_cost, recipe.budget_usd) if limit is not None]
    return min(limits) if limits else None


def interactive() -> bool:
    """Someone at a terminal can answer a question."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@dataclass(frozen=True)
class Spending:
    """How a command may spend, carried in its options: a budget besides the recipe's budget_usd (--max-cost),
    whether a paid start is already agreed (--yes), who answers "Spend about $X?" (None: no one, so nothing is
    asked), and where the estimate is shown. The library applies it on every path; the CLI only fills it in."""

    max_cost: float | None = None
    yes: bool = False
    confirm: Callable[[str], bool] | None = None
    show: Callable[[SpendCheck], None] | None = None

    def guard(self) -> Guard:
        return spend_guard(max_cost=self.max_cost, yes=self.yes, confirm=self.confirm, show=self.show or _unseen)


def _unseen(check: SpendCheck) -> None:
    """An estimate no one is shown (a script that passed no `show`)."""


@dataclass(frozen=True)
class Owed:
    """Beyond the shots left, what a command will newly pay for, as the pipeline found it in the run folder: the
    references still to draw (None: every character and entity without a picture), the automatic retakes each shot may still
    get and the shots a paid judge will score (None: the shots left, at the recipe's worst case), what this command
    has paid already (its plan) and the figure someone already agreed to."""

    references: int | None = None
    retakes_left: Mapping[int, int] | None = None
    judged: list[int] | None = None
    paid_usd: float = 0.0
    agreed_usd: float | None = None


Guard = Callable[..., SpendCheck]


def spend_guard(
    *,
    max_cost: float | None,
    yes: bool,
    confirm: Callable[[str], bool] | None,
    show: Callable[[SpendCheck], None],
) -> Guard:
    """The check to run before a render spends: estimate what is left to pay, `show` it, hold it to the budget and,
    for a paid render, ask `confirm` (unless `yes`, or the figure was agreed already; `confirm=None` where no one
    can answer).

    Refusing raises BudgetError saying what was spent (nothing, or only the plan) with only the plan written.
    """

    def guard(
        plan: Plan,
        recipe: Recipe,
        folder: RunFolder,
        pending: list[int],
        owed: Owed | None = None,
        *,
        include_planner: bool = False,
        save: bool = True,
    ) -> SpendCheck:
        # Only the shots that will render and the clips not yet spoken: a resumed run pays nothing for what it
        # has. The run's own book.
        from tale_cli.film.music import composes
        from tale_cli.run.music import score_cached
        from tale_cli.run.voice import unspoken

        owed = owed or Owed()
        from tale_cli.run.line_voice import unspoken_lines

        spoken = unspoken(plan, recipe, folder) + unspoken_lines(plan, recipe, folder)
        compose = composes(recipe.music.source) and not score_cached(plan, recipe, folder)
        estimate = estimate_render(
            plan,
            recipe,
            include_planner=include_planner,
            only_shots=pending,
            spoken=spoken,
            compose=compose,
            references=owed.references,
            retakes_left=owed.retakes_left,
            judged=owed.judged,
        )
        budget = budget_for(max_cost, recipe)
        check = SpendCheck(estimate, budget)
        agreed = owed.agreed_usd is not None and in_cents(estimate.total_usd) <= in_cents(owed.agreed_usd)
        if check.worth_showing and not (agreed and in_cents(estimate.total_usd) == in_cents(owed.agreed_usd or 0)):
            show(check)  # a figure agreed before planning is not shown again unchanged
        spent = f"only the plan was paid (about ${owed.paid_usd:.2f})" if owed.paid_usd else "nothing was spent"
        try:
            check_budget(estimate, budget, paid_usd=owed.paid_usd)
            question = f"Spend about ${estimate.total_usd:.2f}?"
            if estimate.paid and not yes and not agreed and confirm is not None and not confirm(question):
                raise BudgetError(f"not confirmed; {spent}", hint="pass --yes to render without asking")
        except BudgetError:
            if save:
                save_plan(plan, folder)
            raise
        return check

    return guard
