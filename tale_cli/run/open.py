"""Opening a run folder to change it: held against every other command (tale_cli.run.lock), written owner-only when
the run is private, its manifest loaded (a damaged one rebuilt from the journal, and the user told)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from tale_cli.keys.privacy import private_files
from tale_cli.run.folder import Manifest, RunFolder
from tale_cli.run.lock import run_folder_lock


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
    with private_files(folder.private), run_folder_lock(folder, doing, wait=wait, on_wait=say):
        if create:
            folder.create()
        manifest = Manifest.load(folder)
        if manifest.repaired:
            say(manifest.repaired)
        yield manifest
