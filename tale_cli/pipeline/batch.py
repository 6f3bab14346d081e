"""`tale batch`: many stories rendered at once, their shots sharing one executor, past any failed film.

Films run in parallel (each in a thread of this process that plans, checks, stitches) and hand
their shots to ONE shared executor — threads here, or Ray workers across a cluster — so shots from
every film fan out over every worker. A film that fails is recorded and the others go on; running
the batch again finishes only what is missing, because every shot is cached by its content hash.
One interrupt stops the whole batch within seconds, each film's state recorded for that next run.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import BackendError, ExitCode, InputError, Interrupted, KeysError, TaleError
from tale_cli.executors.base import ShotExecutor
from tale_cli.pipeline.report import FilmResult

if TYPE_CHECKING:
    from tale_cli.backends.base import RenderResult, ShotRequest
    from tale_cli.config import Recipe
    from tale_cli.cost.guard import SpendCheck
    from tale_cli.pipeline import Event

STORY_SUFFIXES = (".md", ".markdown", ".txt")
# After an interrupt, how long films may take to record their interrupted shots before the batch exits anyway.
STOP_GRACE_S = 3.0


def find_stories(inputs: Sequence[Path]) -> list[Path]:
    """Story files from folders (their *.md, *.markdown, *.txt, not recursive) and files (stories or plan.json)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        if item.is_dir():
            candidates = sorted(p for p in item.iterdir() if p.suffix.lower() in STORY_SUFFIXES and p.is_file())
            if not candidates:
                raise InputError(f"no stories in {item}", hint="a story folder holds .md, .markdown or .txt files")
        elif item.is_file():
            candidates = [item]
        else:
            raise InputError(f"story file or folder not found: {item}")
        for path in candidates:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    if not found:
        raise InputError("no stories given", hint="pass a folder of stories or story files")
    return found


@dataclass
class BatchOptions:
    recipe: Recipe
    out_root: Path | None = None
    jobs: int | None = None
    films_at_once: int | None = None
    planner: str | None = None
    executor: ShotExecutor | None = None
    # Where each film's estimate is shown before it spends; each film is held to the recipe's budget, and a batch
    # runs unattended, so it never stops to ask.
    show_spend: Callable[[SpendCheck], None] | None = None


@dataclass
class BatchReport:
    films: list[FilmResult] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    executor: str = ""
    index: Path | None = None  # index.html: every film linked to its review page

    @property
    def failed(self) -> list[FilmResult]:
        return [film for film in self.films if film.status != "done"]

    @property
    def cost_usd(self) -> float:
        return sum(film.cost_usd for film in self.films)

    @property
    def exit_code(self) -> int:
        """0; 10 when a key was rejected (the batch stopped starting films); else 8 when any film failed."""
        codes = {film.exit_code for film in self.failed}
        if not codes:
            return int(ExitCode.OK)
        return int(ExitCode.KEYS) if int(ExitCode.KEYS) in codes else int(ExitCode.SHOTS_FAILED)

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "executor": self.executor,
            "workers": self.workers,
            "counts": {
                "films": len(self.films),
                "done": len(self.films) - len(self.failed),
                "failed": len(self.failed),
                "shots_rendered": sum(f.rendered for f in self.films),
                "shots_cached": sum(f.cached for f in self.films),
                "shots_failed": sum(f.failed for f in self.films),
            },
            "cost_usd": round(self.cost_usd, 6),
            "exit_code": self.exit_code,
            "index": str(self.index) if self.index else None,
            "films": [film.to_json() for film in self.films],
        }


@dataclass
class BatchEvent:
    """Progress: a film started or finished (`result` set), or one of its render events."""

    film: int
    source: Path
    kind: str
    event: Event | None = None
    result: FilmResult | None = None


BatchSink = Callable[[BatchEvent], None]


def _ignore(_: BatchEvent) -> None:
    return None


def manifest_cost(run_dir: Path) -> float:
    """What a film cost: the planner, the references and the shots, as its manifest records them."""
    from tale_cli.run.folder import Manifest

    manifest = Manifest.read(run_dir / "manifest.json")
    return manifest.cost_usd if manifest is not None else 0.0


def _slug_of(source: Path) -> str:
    from tale_cli.pipeline import is_plan_file
    from tale_cli.story.plan import load_plan, slugify
    from tale_cli.story.reader import read_story

    if is_plan_file(source):
        return load_plan(source).slug
    story = read_story(source)
    return slugify(story.title, fallback=slugify(source.stem))


def run_folders(sources: Sequence[Path], out_root: Path) -> tuple[dict[int, Path], dict[int, TaleError]]:
    """Each film's run folder, with films whose titles give the same folder kept apart; and unreadable inputs.

    Stories with the same title would share OUT/<slug>/: each of those gets OUT/<slug>-<6 hex of its path>,
    which stays the same from run to run so the cache still finds its shots.
    """
    folders: dict[int, Path] = {}
    errors: dict[int, TaleError] = {}
    by_slug: dict[str, list[int]] = {}
    for number, source in enumerate(sources):
        try:
            by_slug.setdefault(_slug_of(source), []).append(number)
        except TaleError as error:
            errors[number] = error
    for slug, numbers in by_slug.items():
        for number in numbers:
            if len(numbers) == 1:
                folders[number] = out_root / slug
            else:
                tag = hashlib.sha256(str(sources[number].resolve()).encode("utf-8")).hexdigest()[:6]
                folders[number] = out_root / f"{slug}-{tag}"
    return folders, errors


def render_film(
    number: int,
    source: Path,
    run_dir: Path,
    options: BatchOptions,
    executor: ShotExecutor,
    emit: BatchSink,
    stop: threading.Event | None = None,
) -> FilmResult:
    """One film of the batch; a rejected API key sets `stop`, and films that have not started yet then skip."""
    from tale_cli.keys.redact import redact
    from tale_cli.pipeline import RenderOptions, render

    started = time.monotonic()
    result = FilmResult(source=source, title=source.name, status="failed", run_dir=run_dir)
    if stop is not None and stop.is_set():
        result.error, result.exit_code = (
            "not started: an API key was rejected earlier in this batch",
            int(ExitCode.KEYS),
        )
        emit(BatchEvent(number, source, "finished", result=result))
        return result
    emit(BatchEvent(number, source, "started"))
    try:
        report = render(
            source,
            RenderOptions(
                recipe=options.recipe,
                run_dir=run_dir,
                jobs=options.jobs,
                planner=options.planner,
                executor=executor,
                yes=True,
                show_spend=options.show_spend,
            ),
            lambda event: emit(BatchEvent(number, source, "render", event=event)),
        )
    except TaleError as error:
        result.error, result.exit_code = redact(error.message), int(error.exit_code)
        if isinstance(error, KeysError) and stop is not None:
            stop.set()
    except Exception as error:  # one film's unexpected failure must not stop the batch
        result.error, result.exit_code = redact(f"{type(error).__name__}: {error}"), int(ExitCode.FAILURE)
    else:
        result.title = report.plan.title
        result.film = report.film
        result.shots = len(report.shots)
        result.rendered, result.cached, result.failed = report.rendered, report.cached, len(report.failed)
        if report.film is not None:
            result.status = "done"
        else:
            first = report.failed[0] if report.failed else None
            result.error = f"shot {first.index}: {first.error}" if first else "no film stitched"
            result.exit_code = int(ExitCode.SHOTS_FAILED)
    result.cost_usd = manifest_cost(run_dir)
    result.seconds = time.monotonic() - started
    emit(BatchEvent(number, source, "finished", result=result))
    return result


class _Stopping:
    """The batch's stop: once set, every shot a film waits for ends at once with Interrupted, and no film starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[Future[RenderResult]] = set()
        self.stopped = False

    def watch(self, shot: Future[RenderResult]) -> Future[RenderResult]:
        """A future of the film's own that follows the shared executor's `shot` until the batch stops."""
        seen: Future[RenderResult] = Future()
        with self._lock:
            if self.stopped:
                shot.cancel()
                raise Interrupted
            self._waiting.add(seen)

        def follow(done: Future[RenderResult]) -> None:
            with self._lock:
                if seen.done():
                    return
                self._waiting.discard(seen)
                if done.cancelled():
                    seen.set_exception(BackendError("the shot was cancelled before it ran"))
                elif (error := done.exception()) is not None:
                    seen.set_exception(error)
                else:
                    seen.set_result(done.result())

        shot.add_done_callback(follow)
        return seen

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            for seen in self._waiting:
                seen.set_exception(Interrupted())
            self._waiting.clear()


class _FilmShots(ShotExecutor):
    """The shared executor as one film sees it: its shots end the moment the batch stops.

    A film cannot wait on the shared executor's futures directly: the executor cancels queued shots when
    it closes, and concurrent.futures never wakes a `wait()` on a future cancelled that way, so a film
    waiting on one would keep the interrupted batch from ever exiting.
    """

    def __init__(self, shared: ShotExecutor, stopping: _Stopping) -> None:
        self.shared = shared
        self.stopping = stopping
        self.workers = shared.workers
        self.backend = shared.backend

    def submit(self, request: ShotRequest) -> Future[RenderResult]:
        return self.stopping.watch(self.shared.submit(request))

    def close(self) -> None:
        return None  # the batch closes the shared executor, once, after every film


def run_batch(sources: Sequence[Path], options: BatchOptions, emit: BatchSink = _ignore) -> BatchReport:
    """Render every story; films in parallel, shots on one shared executor; never stop at a failed film."""
    from tale_cli.executors import open_executor
    from tale_cli.pipeline import default_out_root

    started = time.monotonic()
    out_root = (options.out_root if options.out_root is not None else default_out_root()).absolute()
    folders, unreadable = run_folders(sources, out_root)
    executor = options.executor or open_executor(options.recipe, jobs=options.jobs)
    report = BatchReport(workers=executor.workers, executor=type(executor).__name__)
    results: dict[int, FilmResult] = {}
    for number, error in unreadable.items():
        results[number] = FilmResult(
            source=sources[number],
            title=sources[number].name,
            status="failed",
            error=error.message,
            exit_code=int(error.exit_code),
        )
        emit(BatchEvent(number, sources[number], "finished", result=results[number]))
    runnable = [n for n in range(len(sources)) if n in folders]
    # Enough films at once to keep every worker busy even when shots must wait for the one before.
    at_once = max(1, min(len(runnable) or 1, options.films_at_once or max(2, 2 * executor.workers)))
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for number in runnable:
        pending.put(number)
    stopping = _Stopping()
    shots = _FilmShots(executor, stopping)
    stop = threading.Event()

    def films() -> None:
        while not stopping.stopped:
            try:
                number = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[number] = render_film(number, sources[number], folders[number], options, shots, emit, stop)
            except KeyboardInterrupt:
                return  # the batch is stopping: its thread reports the interrupt

    # Daemon threads: a film stuck in a slow request after an interrupt must not hold the exit.
    threads = [threading.Thread(target=films, name=f"tale-film-{n}", daemon=True) for n in range(at_once)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except BaseException:
        # Interrupted: start no more films, end the shots they wait for, and let them record it.
        stopping.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for thread in threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        raise
    finally:
        if options.executor is None:
            executor.close()
    report.films = [results[n] for n in range(len(sources))]
    report.seconds = time.monotonic() - started
    from tale_cli.pipeline.review import write_batch_index

    report.index = write_batch_index(out_root, report.films, private=options.recipe.private)
    return report
