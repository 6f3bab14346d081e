"""Stage 4, the shots: content-hash cache keys, the job journal, bounded launches, checks, takes, audit lines."""

from __future__ import annotations

import contextlib
import functools
import stat
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend
from tale_cli.config import Recipe, recipe_tier
from tale_cli.errors import KeysError, QuotaError, ShotRefusedError, TaleError
from tale_cli.events import Event, EventSink, ShotState
from tale_cli.executors import ShotExecutor
from tale_cli.files import digest, link_or_copy, now_iso
from tale_cli.film.voice import spoken_times
from tale_cli.keys.audit import AuditLog, audit_request
from tale_cli.keys.redact import redact
from tale_cli.keys.seal import place_media
from tale_cli.literals import Tier
from tale_cli.media.ffmpeg import ClipCheckError, check_clip, extract_frame
from tale_cli.pipeline.report import ShotOutcome
from tale_cli.run.folder import (
    FileRecord,
    Manifest,
    RunFolder,
    ShotRecord,
    ShotStatus,
    TakeRecord,
    VoiceRecord,
)
from tale_cli.run.identity import file_digest, file_record, find_verified, restore
from tale_cli.run.journal import JobJournal
from tale_cli.run.takes import record_take, take_source, use_take
from tale_cli.story.entities import choose_references
from tale_cli.story.pace import LEAD_S
from tale_cli.story.plan import Plan, Shot

HASH_VERSION = 1
# The most references one board holds, for a model that takes a single picture.
BOARD_MAX = 4


@dataclass
class ShotTask:
    shot: Shot
    params_hash: str
    request: ShotRequest
    predecessor: int | None
    cached_file: Path
    started: float = 0.0
    # The cache key of the plan's own shot, recorded on the take this task makes (a retake's differs from its own).
    plan_hash: str = ""
    # The shot's current take, when the render keeps it instead of the plan's clip (see kept_take).
    kept: TakeRecord | None = None
    notice: str = ""  # what the render says before it runs this task (a chosen take it could not keep)
    tier: Tier | None = None  # "draft" when the recipe is a draft tier: the take it makes is a draft
    # A board the shot sends and the references it is made of, drawn before the shot renders (see _chosen_references).
    board: tuple[Path, tuple[Path, ...]] | None = None


def _prompt_hash_fields(request: ShotRequest) -> dict[str, Any]:
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "size": [request.width, request.height],
        "fps": request.fps,
        "duration_s": request.duration_s,
        "seed": request.seed,
    }


def shot_params_hash(backend: VideoBackend, request: ShotRequest, *, refs: list[str], first_frame: str | None) -> str:
    fields: dict[str, Any] = {
        "v": HASH_VERSION,
        "backend": backend.name,
        **backend.fingerprint(),
        **_prompt_hash_fields(request),
        "refs": refs,
        "first_frame": first_frame,
    }
    extra = backend.request_fingerprint(request)
    if extra:
        fields["request"] = extra
    if request.speech_audio is not None:
        fields["speech_audio"] = request.speech_audio.stem
    return digest(fields)[:32]


def build_tasks(
    plan: Plan,
    recipe: Recipe,
    folder: RunFolder,
    manifest: Manifest,
    backend: VideoBackend,
    refs: dict[str, Path],
    *,
    first_frames: dict[int, Path] | None = None,
    speech_audio: dict[int, Path] | None = None,
) -> list[ShotTask]:
    """One task per shot, with its cache key: chained shots key on their predecessor's key. `first_frames` are
    pictures given for some shots (a user's still), used whatever the continuity; `speech_audio`, a shot's lines
    spoken for a model that says them in the clip with that voice (keyed by the sample's name, which its words and
    voices decide)."""
    from tale_cli.pipeline.checks import line_voices

    image_optional = backend.capabilities().text_to_video
    limit = backend.capabilities().max_reference_images
    if speech_audio is None:
        speech_audio = line_voices(plan, recipe, folder, backend.capabilities())
    tier: Tier | None = "draft" if recipe_tier(recipe) == "draft" else None
    ref_hashes = {cid: file_digest(path) for cid, path in refs.items() if path.is_file()}
    tasks: list[ShotTask] = []
    for shot in plan.shots:
        given = (first_frames or {}).get(shot.index)
        chained = shot.index > 1 and (recipe.continuity == "chain" and shot.continuity) and given is None
        # A shot without entities sends every character on screen and keys on them, as plans always have.
        present = [refs[c] for c in shot.characters if c in refs]
        keys = [ref_hashes.get(c) for c in shot.characters if c in refs]
        hashed: list[str] = [ref_hashes.get(c, "") for c in shot.characters]
        board: tuple[Path, tuple[Path, ...]] | None = None
        if shot.entities:
            present, keys, board = _chosen_references(plan, shot, refs, ref_hashes, folder, limit)
            hashed = [key or "" for key in keys]
        first_frame: Path | None = None
        first_key: str | None = None
        if given is not None:
            first_frame, first_key = given, "user:" + file_digest(given)
        elif recipe.continuity == "first-frame" and present:
            first_frame, first_key = present[0], keys[0]
        elif not chained and not image_optional and refs:
            # An image-to-video-only model needs a picture for every shot: the shot's own, else the film's first.
            fallback_id = next((c.id for c in plan.characters if c.id in refs), next(iter(refs)))
            first_frame, first_key = refs[fallback_id], ref_hashes.get(fallback_id)
            if shot.entities and present:
                first_frame, first_key = present[0], keys[0]
        request = ShotRequest(
            plan=plan,
            shot=shot,
            prompt=shot.prompt,
            negative_prompt=shot.negative_prompt,
            width=plan.width,
            height=plan.height,
            fps=plan.fps,
            duration_s=shot.duration_s,
            seed=plan.shot_seed(shot),
            output=Path(),
            journal=JobJournal(manifest, "", shot=shot.index),
            first_frame=first_frame,
            reference_images=present,
            speech_audio=(speech_audio or {}).get(shot.index),
            speech_times=spoken_in_shot(plan, shot, manifest.data.voice),
        )
        if chained:
            first_key = "after:" + _clip_key(tasks[-1], manifest)
        params_hash = shot_params_hash(backend, request, refs=hashed, first_frame=first_key)
        request.journal = JobJournal(manifest, params_hash, shot=shot.index)
        request.output = folder.cache / f"{params_hash}.mp4.part"
        task = ShotTask(
            shot=shot,
            params_hash=params_hash,
            request=request,
            predecessor=shot.index - 1 if chained else None,
            cached_file=folder.cache / f"{params_hash}.mp4",
            plan_hash=params_hash,
            tier=tier,
            board=board,
        )
        task.kept, task.notice = kept_take(task, folder, manifest)
        tasks.append(task)
    return tasks


def _chosen_references(
    plan: Plan, shot: Shot, refs: dict[str, Path], ref_hashes: dict[str, str], folder: RunFolder, limit: int
) -> tuple[list[Path], list[str | None], tuple[Path, tuple[Path, ...]] | None]:
    """A shot with entities: the references it sends (see choose_references), each one's cache key, and the
    references a board is made of. A backend that takes fewer than two gets one board of up to BOARD_MAX of them,
    named by what it holds and the frame's size."""
    if limit >= 2:
        chosen = choose_references(plan, shot, refs, limit)
        return [refs[c] for c in chosen], [ref_hashes.get(c) for c in chosen], None
    chosen = choose_references(plan, shot, refs, BOARD_MAX)
    if len(chosen) < 2:
        return [refs[c] for c in chosen], [ref_hashes.get(c) for c in chosen], None
    key = "board:" + digest({"refs": [ref_hashes.get(c, "") for c in chosen], "size": [plan.width, plan.height]})[:32]
    board = folder.refs / "boards" / f"{key.removeprefix('board:')}.png"
    return [board], [key], (board, tuple(refs[c] for c in chosen))


def draw_board(task: ShotTask, folder: RunFolder) -> None:
    """The board a shot sends, made from its references unless it is there already (it is named by its content)."""
    from tale_cli.media.pictures import compose_board

    if task.board is None or task.board[0].is_file():
        return
    board, sources = task.board
    board.parent.mkdir(parents=True, exist_ok=True)
    compose_board(list(sources), board, task.request.width, task.request.height)
    folder.secure(board)


def spoken_in_shot(plan: Plan, shot: Shot, voice: VoiceRecord | None) -> tuple[tuple[float, float], ...] | None:
    """Where the run's voice track says each of the shot's speech items, in seconds from the shot's start (its first
    clip LEAD_S in, as the track places it); None when the shot says at most one thing, or the track does not say
    what the plan now has the shot say. (A crossfade moves a shot's speech half a fade later: its captions change
    that much before the words.)"""
    if voice is None or len(shot.speech) < 2:
        return None
    clips = [(clip.start_s, clip.seconds, clip.text) for clip in voice.clips if clip.shot == shot.index and clip.text]
    times = spoken_times(plan, shot, clips)
    if not times:
        return None
    offset = times[0][0] - LEAD_S
    return tuple((round(start - offset, 3), round(end - offset, 3)) for start, end in times)


def kept_take(task: ShotTask, folder: RunFolder, manifest: Manifest) -> tuple[TakeRecord | None, str]:
    """The shot's current take when a render keeps it instead of the plan's clip: the shot is locked, or the take
    was chosen (retaken, picked, replaced) for the plan's shot as it still is. A take chosen for an earlier plan
    or recipe gives way to the plan's clip. Returns (take, "") or (None, what to say when a kept take is damaged)."""
    entry = manifest.data.shots.get(str(task.shot.index))
    take = entry.current_take() if entry is not None else None
    if entry is None or take is None or take.params_hash == task.params_hash:
        return None, ""
    if not (entry.locked or take.plan_hash == task.params_hash):
        return None, ""
    source, damage = take_source(folder, task.shot.index, take)
    if source is None:
        return None, f"shot {task.shot.index}: its take {take.take} is damaged ({damage}); rendering the plan's shot"
    return take, ""


def _clip_key(task: ShotTask, manifest: Manifest) -> str:
    """The cache key of the clip a shot's file will be: the fallback's, when this backend refused the shot with
    these parameters and the fallback rendered it (a chained shot then starts from the fallback's last frame).

    A take the shot keeps does not count: a retake would otherwise make every shot chained after it render
    again, and pay again, at the next render."""
    entry = manifest.shot(task.shot.index)
    if entry.fallback is not None and entry.fallback.refused_hash == task.params_hash and entry.params_hash:
        return entry.params_hash
    return task.params_hash


def _known_clip(task: ShotTask, manifest: Manifest) -> FileRecord | None:
    """What the shot's hash-named clip was when it was written: the journal's last word, else the manifest's."""
    finished = manifest.journal.finished_shot(task.params_hash)
    if finished is not None and finished.file is not None:
        return finished.file
    entry = manifest.shot(task.shot.index)
    if entry.params_hash == task.params_hash and entry.status == ShotStatus.DONE:
        return entry.file
    return None


def _verified_copies(task: ShotTask, manifest: Manifest) -> list[Path]:
    """Other places the run may keep the clip of `task`: the shot's current clip and its takes of these parameters."""
    folder, index = manifest.folder, task.shot.index
    entry = manifest.data.shots.get(str(index))
    takes = [t.take for t in (entry.takes or []) if t.params_hash == task.params_hash] if entry is not None else []
    return [folder.shot_file(index), *(folder.take_file(index, take) for take in takes)]


def check_cached(task: ShotTask, manifest: Manifest, *, repair: bool = True) -> tuple[FileRecord | None, str | None]:
    """The shot's clip in shots/by-hash, verified: (its file record, None) when it can be used as it is,
    (None, why) when it is there but damaged, (None, None) when there is none.

    A clip is found by its hash whatever the manifest says; one with a recorded size and SHA-256 must
    still match them, and one without (a run folder from an earlier version, or manifest and journal
    both lost) must pass the clip check once.
    """
    path = task.cached_file
    known = _known_clip(task, manifest)
    if known is not None:
        # The same clip, verified, wherever the run keeps it: its hash-named file, else the shot's current clip or
        # one of its takes (shots/by-hash/ deleted by hand is found again, not paid for again).
        places = _verified_copies(task, manifest)
        if not repair:
            return (known, None) if find_verified(known, [path, *places]) is not None else (None, None)
        if not path.exists() and not path.is_symlink() and find_verified(known, places) is None:
            return None, None
        damage = restore(path, known, places)
        return (None, damage) if damage else (known, None)
    try:
        info = path.lstat()
    except OSError:
        return None, None
    if not stat.S_ISREG(info.st_mode):
        return None, None
    try:
        check_clip(path, expected_s=task.request.duration_s, fps=task.request.fps)
    except TaleError as error:
        return None, redact(error.message)
    return file_record(path), None


def is_cached(task: ShotTask, manifest: Manifest) -> bool:
    """The shot needs no render: it keeps its take, or its clip is in shots/by-hash."""
    return task.kept is not None or check_cached(task, manifest, repair=False)[0] is not None


def _use_cached(task: ShotTask, clip: FileRecord, folder: RunFolder, manifest: Manifest, backend_name: str) -> None:
    """Make the verified hash-named clip the shot's current one, and the manifest's entry say so."""
    index = task.shot.index
    link_or_copy(task.cached_file, folder.shot_file(index))
    path = str(folder.shot_file(index).relative_to(folder.root))
    entry = manifest.shot(index)
    current = entry.current_take()
    if (
        entry.params_hash == task.params_hash
        and entry.status == ShotStatus.DONE
        and entry.file == clip
        and current is not None
        and current.params_hash == task.params_hash
    ):
        with manifest.edit_shot(index) as entry:
            entry.path = path
        return
    # Found by its hash rather than through the manifest (an edit undone, a manifest rebuilt, a clip from an
    # earlier version): the entry becomes the one written when this clip was finished, when the journal has it.
    start_from = manifest.journal.finished_shot(task.params_hash)
    if start_from is None and entry.params_hash != task.params_hash:
        start_from = ShotRecord(index=index, backend=backend_name, params_hash=task.params_hash, seed=task.request.seed)
    with manifest.finish_shot(index, start_from=start_from) as entry:
        entry.status = ShotStatus.DONE
        entry.path = path
        entry.file = clip
        entry.error = None
        record_take(folder, entry, plan_hash=task.plan_hash, clip=task.cached_file, tier=task.tier)


def run_shots(
    tasks: list[ShotTask],
    folder: RunFolder,
    manifest: Manifest,
    executor: ShotExecutor,
    backend_name: str,
    emit: EventSink,
    audit: AuditLog | None = None,
    known: dict[int, ShotOutcome] | None = None,
) -> list[ShotOutcome]:
    """Render what is not cached, each shot after its predecessor; `known` holds outcomes decided earlier."""
    outcomes: dict[int, ShotOutcome] = dict(known or {})
    pending: dict[int, ShotTask] = {}
    for task in tasks:
        index = task.shot.index
        if task.notice:
            emit(Event("message", detail=task.notice))
        if task.kept is not None:
            use_take(folder, manifest, index, task.kept)
            locked = " (locked)" if manifest.shot(index).locked else ""
            outcomes[index] = ShotOutcome(index, ShotState.CACHED, task.kept.params_hash or "", folder.shot_file(index))
            emit(Event("shot", index=index, state=ShotState.CACHED, detail=f"kept take {task.kept.take}{locked}"))
            continue
        clip, damage = check_cached(task, manifest)
        if clip is not None:
            _use_cached(task, clip, folder, manifest, backend_name)
            outcomes[index] = ShotOutcome(index, ShotState.CACHED, task.params_hash, folder.shot_file(index))
            emit(Event("shot", index=index, state=ShotState.CACHED))
        else:
            if damage is not None:
                where = task.cached_file.relative_to(folder.root)
                emit(Event("message", detail=f"shot {index}: {where} is damaged ({damage}); rendering it again"))
            draw_board(task, folder)
            pending[index] = task
            emit(Event("shot", index=index, state=ShotState.QUEUED))

    running: dict[Future[RenderResult], ShotTask] = {}

    def ready(task: ShotTask) -> bool:
        return task.predecessor is None or task.predecessor in outcomes

    def submit(task: ShotTask) -> None:
        index = task.shot.index
        if task.predecessor is not None:
            before = outcomes[task.predecessor]
            if before.status == ShotState.FAILED or before.path is None:
                message = f"not rendered: shot {task.predecessor} it continues from failed"
                with manifest.edit_shot(index) as entry:
                    entry.status = ShotStatus.FAILED
                    entry.error = message
                    entry.params_hash = task.params_hash
                outcomes[index] = ShotOutcome(index, ShotState.FAILED, task.params_hash, error=message)
                emit(Event("shot", index=index, state=ShotState.FAILED, detail=message))
                return
            last = folder.cache / f"{before.params_hash}.last.png"
            if not last.is_file():
                extract_frame(before.path, last, at="last")
            task.request.first_frame = last
        with contextlib.suppress(FileNotFoundError):
            task.request.output.unlink()
        task.started = time.monotonic()
        with manifest.edit_shot(index) as entry:
            entry.backend = backend_name
            entry.params_hash = task.params_hash
            entry.seed = task.request.seed
            entry.status = ShotStatus.RENDERING
            entry.started_at = now_iso()
            entry.finished_at = None
            entry.error = None
        emit(Event("shot", index=index, state=ShotState.RENDERING))
        running[executor.submit(task.request)] = task

    def launch_ready() -> None:
        # Never more in flight than the executor has workers: a stop (Ctrl-C, a rejected key) then
        # leaves nothing queued that could still start and spend.
        for index in sorted(pending):
            if len(running) >= max(1, executor.workers):
                return
            task = pending[index]
            if ready(task):
                del pending[index]
                submit(task)

    try:
        launch_ready()
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                outcomes[task.shot.index] = _finish(task, future, folder, manifest, emit, audit, backend_name)
            launch_ready()
    except BaseException:
        for future, task in running.items():
            future.cancel()
            # Its worker may still be writing the clip (a download, ffmpeg being killed): the file goes once it stops.
            future.add_done_callback(functools.partial(_remove, task.request.output))
            with manifest.edit_shot(task.shot.index) as entry:
                entry.status = ShotStatus.INTERRUPTED
        raise
    return [outcomes[task.shot.index] for task in tasks]


def _remove(part: Path, _: object = None) -> None:
    """`part` gone, if it is there (also as a future's done-callback)."""
    with contextlib.suppress(OSError):
        part.unlink(missing_ok=True)


def _finish(
    task: ShotTask,
    future: Future[RenderResult],
    folder: RunFolder,
    manifest: Manifest,
    emit: EventSink,
    audit: AuditLog | None = None,
    backend_name: str = "",
) -> ShotOutcome:
    index = task.shot.index
    elapsed = round(time.monotonic() - task.started, 3)
    part = task.request.output
    try:
        try:
            result = future.result()
        except Exception as error:
            audit_request(audit, "video", backend_name, index, task.request.prompt, None, task.started, error=error)
            raise
        audit_request(audit, "video", backend_name, index, task.request.prompt, result, task.started)
        if not result.checked:
            check_clip(part, expected_s=task.request.duration_s, fps=task.request.fps)
        place_media(part, task.cached_file)  # sealed on the way in a media-sealed run (a backend's own download)
        folder.secure(task.cached_file)
        link_or_copy(task.cached_file, folder.shot_file(index))
        clip = file_record(task.cached_file)
    except (TaleError, ClipCheckError, OSError) as error:
        message = redact(getattr(error, "message", None) or str(error))
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        with manifest.edit_shot(index) as entry:
            entry.status = ShotStatus.FAILED
            entry.error = message
            entry.finished_at = now_iso()
            entry.render_s = elapsed
        emit(Event("shot", index=index, state=ShotState.FAILED, detail=message, seconds=elapsed))
        if isinstance(error, KeysError):
            raise  # a rejected key fails every other shot too: stop the run (exit 10), spend nothing more
        refused = isinstance(error, (ShotRefusedError, QuotaError))
        return ShotOutcome(index, ShotState.FAILED, task.params_hash, error=message, render_s=elapsed, refused=refused)
    except BaseException:
        _remove(part)  # stopped while the clip was checked or moved into place
        raise
    with manifest.finish_shot(index) as entry:
        entry.status = ShotStatus.DONE
        entry.model = result.model
        entry.path = str(folder.shot_file(index).relative_to(folder.root))
        entry.provider_job_id = result.provider_job_id
        entry.billed_seconds = result.billed_seconds
        entry.billed_credits = result.billed_credits
        entry.cost_usd = result.cost_usd
        entry.finished_at = now_iso()
        entry.render_s = elapsed
        entry.error = None
        if result.notes or entry.notes is not None:
            entry.notes = result.notes or None  # an earlier clip's notes are not this one's
        entry.file = clip
        record_take(folder, entry, plan_hash=task.plan_hash, clip=task.cached_file, tier=task.tier)
    emit(Event("shot", index=index, state=ShotState.DONE, seconds=elapsed))
    return ShotOutcome(index, ShotState.DONE, task.params_hash, folder.shot_file(index), render_s=elapsed)
