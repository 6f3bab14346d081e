"""The one writer of a run's plan.json: a render's plan, a `tale plan`, the plan a refused render leaves behind, and
the run's plan with a voice made for one of its characters (`tale voices design` / `clone`).

An earlier, different plan (perhaps hand-edited) is kept as plan.prev.json; a plan.json rendered in place is left
exactly as its user wrote it, unless --aspect or --resolution gave the film another shape."""

from __future__ import annotations

import shutil
from pathlib import Path

from tale_cli.keys.seal import seal_folder
from tale_cli.run.folder import RunFolder
from tale_cli.story.plan import Plan, load_plan


def save_plan(plan: Plan, folder: RunFolder, source: Path | None = None) -> None:
    """Write `plan` as the run's plan.json. `source` is the story or plan.json it came from (None: the plan a refused
    render leaves behind, so it can be edited and rendered later, or the run's own plan changed by Tale)."""
    from_plan_file = source is not None and source.suffix.lower() == ".json"
    in_place = from_plan_file and folder.plan.exists() and source is not None and folder.plan.samefile(source)
    if in_place and source is not None:
        kept = load_plan(source)
        if (kept.aspect, kept.width, kept.height) == (plan.aspect, plan.width, plan.height):
            return
    text = plan.to_json()
    if folder.plan.is_file() and folder.read_text(folder.plan) == text:
        return
    folder.check_writable()
    folder.root.mkdir(parents=True, exist_ok=True, mode=0o700 if folder.private else 0o755)
    if folder.seal and not folder.sealed:
        seal_folder(folder.root)  # `tale plan` with a sealing recipe: sealed before the plan's first byte is written
    if folder.plan.is_file() and (in_place or not from_plan_file):
        shutil.copyfile(folder.plan, folder.root / "plan.prev.json")
    folder.write_text(folder.plan, text)
