"""`tale seal RUN` and `tale unseal RUN`: a run folder's words sealed at rest, or opened, in place, while the folder is
held against every other command (the conversion itself is in tale_cli.keys.seal)."""

from __future__ import annotations

from pathlib import Path

from tale_cli.errors import InputError
from tale_cli.keys.privacy import private_files
from tale_cli.keys.seal import Converted, seal_folder, seal_of, unseal_folder
from tale_cli.run.folder import RunFolder
from tale_cli.run.open import held, run_folder


def _plain_or_sealed(run_dir: Path) -> RunFolder:
    folder = RunFolder(run_dir)
    if not run_dir.is_dir() or not (folder.plan.is_file() or folder.manifest.is_file()):
        raise InputError(f"{run_dir} is not a run folder", hint="give a run folder made by `tale render`")
    return folder


def _opened(folder: RunFolder) -> RunFolder:
    """The folder, private as its manifest says (a private run's lock stays owner-only; rewritten files keep modes)."""
    found = seal_of(folder.root)
    if found is not None:
        found.check()  # a wrong identity: one error, before the folder is even held
    return run_folder(folder.root)


def seal_run(run_dir: Path, *, media: bool = False, wait: bool = True) -> Converted:
    """Seal RUN's plan, manifest, journal, audit lines, subtitles and judge notes in place (its review page removed);
    with `media`, its clips, takes, pictures, voice, music and film too (and the run keeps them sealed from then on).
    The film keeps its subtitle stream until its next cut (a render or `tale stitch RUN`, which pays nothing)."""
    folder = _opened(_plain_or_sealed(run_dir))
    with private_files(folder.private), held(folder, "sealing", wait=wait):
        return seal_folder(folder.root, media=media)


def unseal_run(run_dir: Path, *, wait: bool = True) -> Converted:
    """Open RUN's sealed files in place, its media too; the folder is plain again (`tale review` writes its page
    again)."""
    folder = _plain_or_sealed(run_dir)
    if seal_of(folder.root) is None:
        return Converted(folder.root, [], sealed=False, already=True)
    folder = _opened(folder)
    with private_files(folder.private), held(folder, "unsealing", wait=wait):
        return unseal_folder(folder.root)
