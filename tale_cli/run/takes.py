"""The take store: every clip a shot has had, kept in shots/takes/ (hard links to shots/by-hash/), each take's
record in the manifest; making a take current, and finding a take's clip again by its size and digest."""

from __future__ import annotations

from pathlib import Path

from tale_cli.errors import OutputError
from tale_cli.files import link_or_copy, now_iso
from tale_cli.literals import Tier
from tale_cli.run.folder import Manifest, RunFolder, ShotRecord, ShotStatus, TakeRecord, copy_clip_fields
from tale_cli.run.identity import file_damage, file_record


def take_source(folder: RunFolder, index: int, take: TakeRecord) -> tuple[Path | None, str]:
    """The take's clip as it was made: its file in shots/takes/, else its clip in shots/by-hash; (None, why) when
    neither is. The places are Tale's own, never paths read from the manifest."""
    where = folder.take_file(index, take.take)
    if take.file is None:
        return (where, "") if where.is_file() else (None, "it is gone")
    damage = file_damage(where, take.file)
    if damage is None:
        return where, ""
    if take.params_hash and take.params_hash.isalnum():
        cached = folder.cache / f"{take.params_hash}.mp4"
        if file_damage(cached, take.file) is None:
            return cached, ""
    return None, damage


def record_take(
    folder: RunFolder, entry: ShotRecord, *, plan_hash: str | None, clip: Path, tier: Tier | None = None
) -> TakeRecord:
    """Make the clip `entry` now describes (`clip`, its file) the shot's current take: the take already made of it,
    else a new one in shots/takes/ (a hard link to `clip`), made at `tier` ("draft" in a draft run). Called while the
    entry is being changed."""
    take = entry.take_of(entry.params_hash)
    if take is None:
        number = len(entry.takes or []) + 1
        target = folder.take_file(entry.index, number)
        made_at = entry.finished_at or now_iso()
        take = TakeRecord(take=number, path=target.relative_to(folder.root).as_posix(), made_at=made_at)
        link_or_copy(clip, target)
        copy_clip_fields(entry, take)
        if tier is not None:
            take.tier = tier
        entry.takes = [*(entry.takes or []), take]
    elif take.file != entry.file or take_source(folder, entry.index, take)[0] is None:
        # The take's clip was made again (its file had been damaged): the take is the new file.
        link_or_copy(clip, folder.take_file(entry.index, take.take))
        copy_clip_fields(entry, take)
    take.plan_hash = plan_hash
    entry.take = take.take
    return take


def final_take(entry: ShotRecord) -> TakeRecord | None:
    """The take the final film plays for the shot's current take: the current take itself, unless it is a draft;
    then the last `tale finalize` made of it (None when it has not been finalized)."""
    current = entry.current_take()
    if current is None or current.tier != "draft":
        return current
    finals = [t for t in entry.takes or [] if t.tier == "final" and t.draft_take == current.take]
    return finals[-1] if finals else None


def use_take(folder: RunFolder, manifest: Manifest, index: int, take: TakeRecord) -> None:
    """Make `take` the shot's current clip: shots/shot-NN.mp4 becomes it and the shot's entry describes it."""
    source, damage = take_source(folder, index, take)
    if source is None:
        raise OutputError(f"shot {index}: take {take.take} cannot be used ({damage})", hint="pick another take")
    target = folder.take_file(index, take.take)
    if source != target:
        link_or_copy(source, target)
    link_or_copy(target, folder.shot_file(index))
    entry = manifest.shot(index)
    if entry.take == take.take and entry.status == ShotStatus.DONE and entry.params_hash == take.params_hash:
        return
    with manifest.finish_shot(index) as entry:
        copy_clip_fields(take, entry)
        entry.take = take.take
        entry.status = ShotStatus.DONE
        entry.path = str(folder.shot_file(index).relative_to(folder.root))
        entry.finished_at = take.made_at
        entry.error = None


def adopt_current(folder: RunFolder, manifest: Manifest, index: int) -> None:
    """A shot rendered before takes were kept: its clip becomes its take 1."""
    entry = manifest.data.shots.get(str(index))
    clip = folder.shot_file(index)
    if entry is None or entry.takes or entry.status != ShotStatus.DONE or not clip.is_file():
        return
    if entry.file is not None and file_damage(clip, entry.file) is not None:
        return
    folder.create()  # a folder from before takes has no shots/takes/
    with manifest.finish_shot(index) as entry:
        entry.file = entry.file or file_record(clip)
        record_take(folder, entry, plan_hash=entry.params_hash, clip=clip)
