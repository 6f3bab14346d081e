"""Opening a run folder to change it: held against every other command (tale_cli.run.lock), written owner-only when
the run is private, its manifest loaded (a damaged one rebuilt from the journal, and the user told)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tale_cli.errors import InputError
from tale_cli.keys.privacy import private_files
from tale_cli.run.folder import Manifest, RunFolder
from tale_cli.run.lock import run_folder_lock
from tale_cli.story.plan import Plan, load_plan


@contextlib.contextmanager
def held(
    folder: RunFolder, doing: str, *, wait: bool = True, say: Callable[[str], None] | None = None
) -> Iterator[None]:
    """The run folder held for `doing` against every other command (waiting, or refusing at once with wait=False),
    without reading it: for a command that makes the folder (render, plan) or only reads it (export).

    In a media-sealed run, the media the command wrote are sealed before the folder is let go (also when it failed),
    so none stays in the clear once no command holds the folder."""
    with run_folder_lock(folder, doing, wait=wait, on_wait=say):
        try:
            yield
        finally:
            if doing not in ("sealing", "unsealing") and folder.root.is_dir():
                folder.seal_media_made()


@contextlib.contextmanager
def holding(
    folder: RunFolder,
    doing: str,
    *,
    wait: bool = True,
    say: Callable[[str], None] = lambda text: None,
    create: bool = True,
) -> Iterator[Manifest]:
    """The run folder held for `doing` (waiting for another command, or refusing at once with `wait=False`), and its
    manifest. With `create`, its folders are made first."""
    with private_files(folder.private), held(folder, doing, wait=wait, say=say):
        if create:
            folder.create()
        manifest = Manifest.load(folder)
        if manifest.repaired:
            say(manifest.repaired)
        yield manifest


def run_folder(run_dir: Path) -> RunFolder:
    """The run folder, private as its manifest says (nothing else is checked)."""
    data = Manifest.read(RunFolder(run_dir).manifest) if run_dir.is_dir() else None
    return RunFolder(run_dir, private=bool(data and data.run.private))


def open_run(run_dir: Path) -> tuple[RunFolder, Plan]:
    """The run folder (private as its manifest says) and its plan; one clear error for anything else."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir} is not a folder", hint="give a run folder made by `tale render`")
    folder = RunFolder(run_dir)
    if not folder.plan.is_file():
        raise InputError(
            f"{run_dir} is not a run folder (no plan.json)", hint="give a run folder made by `tale render`"
        )
    data = Manifest.read(folder.manifest)
    return RunFolder(run_dir, private=bool(data and data.run.private)), load_plan(folder.plan)


def shot_numbers(plan: Plan, shots: Sequence[int]) -> list[int]:
    if not shots:
        raise InputError("name at least one shot")
    for number in shots:
        if not 1 <= number <= len(plan.shots):
            raise InputError(f"shot {number} is not in this plan (it has shots 1-{len(plan.shots)})")
    return sorted(set(shots))
