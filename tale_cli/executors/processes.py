"""One worker process per GPU: each loads the video pipeline once and takes shots from a shared queue.

`ProcessExecutor` is a `ShotExecutor`, like the in-process thread executor.
Each worker sees exactly one device (CUDA_VISIBLE_DEVICES is set before torch is imported in it);
`cpu` entries give CPU workers, which is how the tests run it. Ordering of chained shots stays with
the pipeline, which submits a shot only after the one it continues from has finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any

from tale_cli.errors import BackendError, RecipeError, TaleError
from tale_cli.executors.base import ShotExecutor, private_like_its_folder
from tale_cli.executors.devices import Devices, same_gpu_twice
from tale_cli.executors.errors import pack_error, unpack_error
from tale_cli.registry import backend_runs_locally

if TYPE_CHECKING:
    from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend
    from tale_cli.config import Recipe

POLL_S = 0.2
STOP_GRACE_S = 15.0


class NullJournal:
    """Stands in for the run's job journal inside a worker: local backends have no provider jobs."""

    def existing_job(self) -> dict[str, Any] | None:
        return None

    def record_job(self, job: dict[str, Any]) -> None:
        return None


def cuda_device_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def worker_devices(devices: Devices, *, count: int | None = None) -> list[str]:
    """The CUDA_VISIBLE_DEVICES value of each worker ('' for a CPU worker)."""
    listed = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]

    def visible(index: int) -> str:
        # An index counts the GPUs this process sees, so it names the entry CUDA_VISIBLE_DEVICES lists there.
        return listed[index] if index < len(listed) else str(index)

    if devices.all:
        found = cuda_device_count() if count is None else count
        if found == 0:
            raise RecipeError("--devices all: no CUDA GPU found", hint="leave --devices out to render in this process")
        return [visible(index) for index in range(found)]
    chosen = ["" if index is None else visible(index) for index in devices.workers]
    gpus = [device for device in chosen if device]
    # Two indices can still name one GPU: one beyond CUDA_VISIBLE_DEVICES and the entry that lists it.
    if len(set(gpus)) != len(gpus):
        raise same_gpu_twice()
    return chosen


def where(device: str) -> str:
    return f"GPU {device}" if device else "CPU worker"


def _worker_main(device: str, recipe: Recipe, tasks: Any, results: Any, worker: int) -> None:
    """A worker process: pin the device, build the backend once, render until told to stop."""
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    try:
        from tale_cli.backends import video_backend

        backend = video_backend(recipe)
        backend.load()
    except BaseException as error:
        results.put(("fatal", worker, None, pack_error(error)))
        return
    results.put(("ready", worker, None, None))
    try:
        while True:
            item = tasks.get()
            if item is None:
                break
            job, request = item
            results.put(("started", worker, job, None))
            try:
                with private_like_its_folder(request.output):
                    result = backend.render_shot(request)
                result.notes["worker"] = {"device": device or "cpu", "pid": os.getpid()}
                results.put(("done", worker, job, result))
            except BaseException as error:
                results.put(("failed", worker, job, pack_error(error)))
                if isinstance(error, KeyboardInterrupt):
                    break
    finally:
        backend.close()


class ProcessExecutor(ShotExecutor):
    """Shots on one worker process per device, each holding its own pipeline; a ShotExecutor."""

    def __init__(self, recipe: Recipe, devices: list[str], *, backend: VideoBackend | None = None) -> None:
        from tale_cli.backends import video_backend

        self.backend = backend if backend is not None else video_backend(recipe)
        if not backend_runs_locally(self.backend.name):
            raise RecipeError(f"--devices applies to local GPU backends, not '{self.backend.name}'")
        self.devices = devices
        self.workers = len(devices)
        context = multiprocessing.get_context("spawn")
        self._tasks: Any = context.Queue()
        self._results: Any = context.Queue()
        self._futures: dict[int, Future[RenderResult]] = {}
        self._running: dict[int, int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._dead: set[int] = set()
        self._ready: set[int] = set()
        self._fatal: TaleError | None = None
        self._closing = False
        self._processes = [
            context.Process(
                target=_worker_main,
                args=(device, recipe, self._tasks, self._results, number),
                name=f"tale-worker-{device or 'cpu'}-{number}",
                daemon=True,
            )
            for number, device in enumerate(devices)
        ]
        for process in self._processes:
            process.start()
        self._collector = threading.Thread(target=self._collect, name="tale-worker-results", daemon=True)
        self._collector.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every worker has loaded its pipeline (or failed to); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._ready | self._dead) < len(self._processes):
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(POLL_S / 2)
        if (
            self._fatal is not None
            and len(self._dead | self._ready) == len(self._processes)
            and not self._alive_ready()
        ):
            raise self._fatal
        return True

    def _alive_ready(self) -> bool:
        return any(number in self._ready and process.is_alive() for number, process in enumerate(self._processes))

    def submit(self, request: ShotRequest) -> Future[RenderResult]:
        future: Future[RenderResult] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the executor is closed")
            if len(self._dead) == len(self._processes):
                future.set_exception(self._fatal or BackendError("every worker process has stopped"))
                return future
            job = next(self._ids)
            self._futures[job] = future
        self._tasks.put((job, dataclasses.replace(request, journal=NullJournal())))
        return future

    def _settle(self, job: int | None, *, result: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            future = self._futures.pop(job, None) if job is not None else None
        if future is None:
            return
        with contextlib.suppress(InvalidStateError):
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _collect(self) -> None:
        while True:
            try:
                kind, worker, job, payload = self._results.get(timeout=POLL_S)
            except queue.Empty:
                if self._check_workers():
                    return
                continue
            except (EOFError, OSError):
                return
            device = self.devices[worker]
            if kind == "ready":
                self._ready.add(worker)
            elif kind == "started":
                self._running[worker] = job
            elif kind == "done":
                self._running.pop(worker, None)
                self._settle(job, result=payload)
            elif kind == "failed":
                self._running.pop(worker, None)
                self._settle(job, error=unpack_error(payload, where(device)))
            elif kind == "fatal":
                self._fatal = unpack_error(payload, where(device))
                self._ready.add(worker)

    def _check_workers(self) -> bool:
        """Fail the shot a dead worker held; fail everything once no worker is left. True when done."""
        for number, process in enumerate(self._processes):
            if number in self._dead or process.is_alive():
                continue
            self._dead.add(number)
            job = self._running.pop(number, None)
            if job is not None:
                stopped = f"the worker on {where(self.devices[number])} stopped (exit code {process.exitcode}) mid-shot"
                self._settle(job, error=BackendError(stopped))
        if len(self._dead) == len(self._processes):
            error = self._fatal or BackendError("every worker process has stopped")
            with self._lock:
                jobs = list(self._futures)
            for job in jobs:
                self._settle(job, error=error)
            return True
        return self._closing and not self._futures

    def close(self) -> None:
        with self._lock:
            self._closing = True
        for _ in self._processes:
            with contextlib.suppress(OSError, ValueError):
                self._tasks.put(None)
        for process in self._processes:
            process.join(timeout=STOP_GRACE_S)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self._collector.join(timeout=5)
        with self._lock:
            leftover = list(self._futures)
        for job in leftover:
            self._settle(job, error=BackendError("the render stopped before this shot ran"))
        self.backend.close()
