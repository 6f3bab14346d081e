"""`tale clean`: remove the clips a run folder keeps but no current shot uses, and say how much space that frees.

A render keeps every clip it paid for (shots/by-hash/<hash>.mp4, and each shot's takes in shots/takes/), so that
undoing an edit or picking an earlier take finds the old clip instead of paying for it again; only this command
removes them. The manifest keeps its record of a removed take; `tale pick` then says its clip is gone.
"""

from __future__ import annotations

import contextlib
import stat
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tale_cli.errors import InputError, OutputError, TaleError
from tale_cli.run.folder import Manifest, RunFolder
from tale_cli.run.takes import final_take


@dataclass
class CleanReport:
    """What `tale clean` removed (or, in a dry run, would remove) and the space that frees."""

    run_dir: Path
    dry_run: bool
    keep_current: bool
    removed: list[Path] = field(default_factory=list)  # relative to run_dir
    kept: int = 0  # hash-named clips and pictures kept because a current shot or reference uses them
    bytes_freed: int = 0
    # With --all: the current shots whose clips went, and what rendering them again costs (the clips' recorded cost).
    rerender_shots: list[int] = field(default_factory=list)
    rerender_usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "dry_run": self.dry_run,
            "keep_current": self.keep_current,
            "files_removed": len(self.removed),
            "bytes_freed": self.bytes_freed,
            "kept": self.kept,
            "rerender_shots": self.rerender_shots,
            "rerender_usd": round(self.rerender_usd, 4),
            "files": [str(path) for path in self.removed],
        }


def _plain_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if stat.S_ISREG(path.lstat().st_mode))


def _current(folder: RunFolder, manifest: Manifest) -> tuple[set[int], set[str], set[str], set[str]]:
    """The plan's shot numbers, the hashes of the clips and pictures its shots, characters and entities use now, and the
    names of the files in shots/takes/ of its shots' current takes (and their finals, in a run of drafts)."""
    from tale_cli.story.plan import load_plan

    try:
        plan = load_plan(folder.plan) if folder.plan.is_file() else None
    except TaleError:
        plan = None  # an unreadable plan: every shot and reference the manifest names counts as current
    shot_entries = manifest.data.shots.values()
    indexes = {shot.index for shot in plan.shots} if plan else {entry.index for entry in shot_entries}
    characters = {subject.id for subject in plan.subjects()} if plan else set(manifest.data.refs)
    shots = {entry.params_hash for entry in shot_entries if entry.index in indexes and entry.params_hash}
    refs = {entry.params_hash for key, entry in manifest.data.refs.items() if key in characters and entry.params_hash}
    # What shots/shot-NN.mp4 and refs/<id>.png are hard links to is current too, whatever the manifest says.
    in_use = [folder.shot_file(index) for index in indexes] + [folder.refs / f"{cid}.png" for cid in characters]
    linked = {_inode(path) for path in in_use if path.is_file() and not path.is_symlink()}
    for found, hashes in ((_plain_files(folder.cache), shots), (_plain_files(folder.ref_cache), refs)):
        hashes.update(path.name.split(".")[0] for path in found if _inode(path) in linked)
    # A run of drafts: the final film is made of the current takes' finals, which stay as the current takes do.
    kept = [
        (entry.index, take)
        for entry in shot_entries
        if entry.index in indexes
        for take in (entry.current_take(), final_take(entry))
        if take is not None
    ]
    takes = {folder.take_file(index, take.take).name for index, take in kept}
    shots.update(take.params_hash for _, take in kept if take.params_hash)
    return indexes, shots, refs, takes


def _inode(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def _shot_number(path: Path) -> int | None:
    stem = path.name.removesuffix(".mp4")
    if path.name.endswith(".mp4") and stem.startswith("shot-") and stem[5:].isdigit():
        return int(stem[5:])
    return None


def _is_take(path: Path) -> bool:
    """shots/takes/shot-NN-take-K.mp4."""
    shot, _, take = path.name.removesuffix(".mp4").partition("-take-")
    return path.name.endswith(".mp4") and _shot_number(Path(shot + ".mp4")) is not None and take.isdigit()


def clean_run(
    run_dir: Path,
    *,
    keep_current: bool = True,
    dry_run: bool = False,
    wait: bool = True,
    say: Callable[[str], None] = lambda text: None,
) -> CleanReport:
    """Remove hash-named clips (and their last frames) and pictures that no current shot or reference uses, takes
    that are not current, spoken clips the voice track does not play, and shots/shot-NN.mp4 of shots the plan no
    longer has: nothing the current film is made of. With keep_current=False the current shots' clips and takes go
    too (film.mp4, the voice track and the clips it plays stay; the next render renders those shots again, and the
    report says what that costs). Job records and files of a render in progress (*.part, *.job.json), plan, manifest,
    journal, audit log and film are never touched.

    The folder is held while files are removed: a render writing it is waited for (`wait=False`: refused at once)."""
    if dry_run or not run_dir.is_dir():
        return _clean(run_dir, keep_current=keep_current, dry_run=dry_run)  # reads only, or its own error
    from tale_cli.run.open import holding

    _clean(run_dir, keep_current=keep_current, dry_run=True)  # not a run folder: refused before anything is held
    with holding(RunFolder(run_dir), "cleaning", wait=wait, say=say, create=False):
        return _clean(run_dir, keep_current=keep_current, dry_run=False)


def _clean(run_dir: Path, *, keep_current: bool, dry_run: bool) -> CleanReport:
    folder = RunFolder(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir} is not a folder", hint="give a run folder written by `tale render`")
    if not any(path.exists() for path in (folder.manifest, folder.plan, folder.journal)):
        raise InputError(
            f"{run_dir} is not a run folder (no manifest.json or plan.json)",
            hint="give a run folder written by `tale render`",
        )
    voice_cache = folder.root / "voice" / "by-hash"
    for path in (folder.root, folder.shots, folder.cache, folder.takes, folder.refs, folder.ref_cache, voice_cache.parent,
                 voice_cache):  # fmt: skip
        if path.is_symlink():
            raise OutputError(f"{path} is a symbolic link; Tale does not remove files through links in a run folder")
    manifest = Manifest.load(folder)
    indexes, shots, refs, takes = _current(folder, manifest)
    report = CleanReport(run_dir=run_dir, dry_run=dry_run, keep_current=keep_current)
    doomed: list[Path] = []
    for path in _plain_files(folder.cache):
        kind = path.name.split(".", 1)[-1]
        if kind not in ("mp4", "last.png"):
            continue  # a render's own work in progress, or a shot's job record
        if keep_current and path.name.split(".")[0] in shots:
            report.kept += 1
        else:
            doomed.append(path)
    for path in _plain_files(folder.ref_cache):
        if path.suffix != ".png":
            continue
        if path.name.split(".")[0] in refs:
            report.kept += 1
        else:
            doomed.append(path)
    for path in _plain_files(folder.shots):
        number = _shot_number(path)
        if number is not None and (number not in indexes or not keep_current):
            doomed.append(path)
    for path in _plain_files(folder.takes):
        if _is_take(path) and not (keep_current and path.name in takes):
            doomed.append(path)
    # Spoken clips: those the current voice track plays stay, even with --all (a re-render then speaks nothing,
    # paying nothing, and the film keeps its voice).
    voice = manifest.data.voice
    spoken = {clip.params_hash for clip in [*voice.clips, *voice.samples]} if voice else set()
    for path in _plain_files(voice_cache):
        if path.suffix != ".wav":
            continue  # a clip being spoken (*.part)
        if path.stem in spoken or (path.stem.startswith("line-") and bool(voice and voice.samples)):
            report.kept += 1
        else:
            doomed.append(path)
    # A file frees its space only when every one of its hard links goes.
    infos = {path: path.stat() for path in doomed}
    going = Counter((info.st_dev, info.st_ino) for info in infos.values())
    counted: set[tuple[int, int]] = set()
    for info in infos.values():
        inode = (info.st_dev, info.st_ino)
        if going[inode] >= info.st_nlink and inode not in counted:
            counted.add(inode)
            report.bytes_freed += info.st_size
    report.removed = [path.relative_to(folder.root) for path in doomed]
    if not keep_current:
        for index in sorted(indexes):
            entry = manifest.data.shots.get(str(index))
            if entry is None or ((take := entry.current_take()) is None and not entry.cost_usd):
                continue
            report.rerender_shots.append(index)
            report.rerender_usd += (take.cost_usd if take is not None else entry.cost_usd) or 0.0
    if not dry_run:
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return report
