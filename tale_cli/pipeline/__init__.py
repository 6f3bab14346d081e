"""Render orchestration: plan, references, shots (cached, checked, resumable), stitch, storyboard.

One module per stage (planning, references, shots, storyboard) and film.render running them in order;
the names callers use are all importable from here.
"""

from tale_cli.events import Event, EventSink, ShotState
from tale_cli.pipeline.film import finish_film, render
from tale_cli.pipeline.options import RenderOptions
from tale_cli.pipeline.planning import PlanResult, default_out_root, is_plan_file, prepare_plan, write_plan
from tale_cli.pipeline.report import RenderReport, ShotOutcome
from tale_cli.pipeline.shots import build_tasks
from tale_cli.run.journal import JobJournal
from tale_cli.run.storyboard import make_storyboard

__all__ = [
    "Event",
    "EventSink",
    "JobJournal",
    "PlanResult",
    "RenderOptions",
    "RenderReport",
    "ShotOutcome",
    "ShotState",
    "build_tasks",
    "default_out_root",
    "finish_film",
    "is_plan_file",
    "make_storyboard",
    "prepare_plan",
    "render",
    "write_plan",
]
