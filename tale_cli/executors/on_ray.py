"""Shots on Ray: one actor per GPU holding its loaded model, or CPU actors for API and preview backends.

`RayExecutor` is a `ShotExecutor` like the in-process thread executor, so one executor can serve
many films at once and their shots fan out across every worker in the cluster.
Videos never travel through Ray's object store: a worker writes the hash-named `*.part` file to the
shared output folder (the same path on every node) and returns only the small `RenderResult`; the
pipeline in the driver checks the file and renames it.

A worker that crashes mid-shot is restarted by Ray (`max_restarts`) and its shot retried
(`max_task_retries`), on another node if its node is gone; an actor that cannot be restarted any more
is replaced by a fresh one and its shot requeued, a bounded number of times.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tale_cli.errors import BackendError, RecipeError, TaleError, missing_extra
from tale_cli.executors.base import ShotExecutor, private_like_its_folder
from tale_cli.executors.devices import Devices
from tale_cli.executors.errors import PackedError, pack_error, unpack_error
from tale_cli.registry import backend_runs_locally

if TYPE_CHECKING:
    from tale_cli.backends.base import JobJournal, RenderResult, ShotRequest, VideoBackend
    from tale_cli.config import Recipe

# Ray restarts a crashed actor this many times and retries the shot it held this many times.
MAX_RESTARTS = 3
MAX_TASK_RETRIES = 2
# Beyond Ray's own retries: how often a shot goes to a fresh actor after its actor is gone for good.
MAX_REQUEUES = 2
# How long workers get to release their models before they are stopped.
CLOSE_GRACE_S = 10.0

BackendFactory = Callable[["Recipe"], "VideoBackend"]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise missing_extra("ray", "ray") from None
    return ray


# ----------------------------------------------------------------------------------------------
# Connecting


class RaySession:
    """`--ray auto|ADDRESS|local`: connect (or start a private instance) on open, disconnect on close; a context.

    auto joins the cluster named by RAY_ADDRESS, else the head running on this machine; ADDRESS joins
    that cluster; local starts a private Ray instance for this run and stops it at the end. When this
    process is already connected (a notebook, a test), the connection is used and left open.
    """

    def __init__(self, spec: str = "auto", *, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
        self.spec = spec.strip() or "auto"
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.owned = False

    def open(self) -> RaySession:
        ray = import_ray()
        if ray.is_initialized():
            return self
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if self.spec == "local":
                # A private instance reports nothing home unless the user asked for it.
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(
                    address="local",
                    num_cpus=self.num_cpus,
                    num_gpus=self.num_gpus,
                    include_dashboard=False,
                    **quiet,
                )
            elif self.spec == "auto":
                # Ray reads RAY_ADDRESS itself.
                address = os.environ.get("RAY_ADDRESS") or "auto"
                check_reachable(address)
                use_this_machines_token(address)
                ray.init(address="auto", **quiet)
            else:
                check_reachable(self.spec)
                ray.init(address=self.spec, **quiet)
        except TaleError:
            raise
        except Exception as error:  # Ray raises several kinds here; each becomes one line
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise BackendError(
                f"cannot connect to Ray ({self.spec}): {first}",
                hint="start a head with `ray start --head` or use --ray local; a cluster with token "
                "authentication needs RAY_AUTH_MODE=token and its token (see the README: A cluster of RunPod pods)",
            ) from None
        self.owned = True
        return self

    def close(self) -> None:
        if self.owned:
            import_ray().shutdown()
            self.owned = False

    def __enter__(self) -> RaySession:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when nothing listens at a cluster address (Ray itself retries long)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise BackendError(f"--ray {address}: not an address", hint="use HOST:PORT (the head's port, 6379 by default)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise BackendError(
            f"no Ray head answers at {address} ({error.strerror or type(error).__name__})",
            hint="check the address `ray start --head` printed, and that this machine can reach it",
        ) from None


def default_token_path() -> Path:
    """Where `ray start --head` and `ray get-auth-token --generate` keep this machine's cluster token."""
    return Path.home() / ".ray" / "auth_token"


def use_this_machines_token(address: str) -> None:
    """Send this machine's token to a head on this machine when nothing says how to authenticate.

    With RAY_AUTH_MODE unset, `ray start --head` guards its cluster with the token in the default place
    if there is one, but Ray itself sends that token only when it finds the head on its own, not when
    RAY_ADDRESS names it: the connection then fails to authenticate. A head elsewhere never gets this
    machine's token, and a cluster without authentication ignores it.
    """
    if os.environ.get("RAY_AUTH_MODE") is not None or not is_this_machine(address):
        return
    token_file = os.environ.get("RAY_AUTH_TOKEN_PATH")
    has_token = bool(os.environ.get("RAY_AUTH_TOKEN")) or Path(token_file or default_token_path()).is_file()
    if not has_token:
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    # Ray caches its settings the first time it reads them; read them again, as Ray does when it turns this on.
    with contextlib.suppress(ImportError, AttributeError):
        importlib.import_module("ray._raylet").Config.initialize("")


def is_this_machine(address: str) -> bool:
    """`auto`, or HOST:PORT whose host is an address of this machine (something here can listen on it)."""
    if address == "auto":
        return True
    host = address.split("://", 1)[-1].rpartition(":")[0].strip("[]")
    try:
        family, _, _, _, where = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((where[0], 0))
    except OSError:
        return False
    return True


def cluster_gpus() -> int:
    return int(import_ray().cluster_resources().get("GPU", 0))


# ----------------------------------------------------------------------------------------------
# How many workers of which kind


@dataclass(frozen=True)
class WorkerPlan:
    """Actors to start: `gpus` holding one GPU each, `cpus` without one."""

    gpus: int
    cpus: int
    cpus_per_actor: float

    @property
    def total(self) -> int:
        return self.gpus + self.cpus


def holds_model(backend: VideoBackend) -> bool:
    """A local backend that loads a model keeps it in (GPU) memory: one worker per GPU."""
    caps = backend.capabilities()
    return caps.loads_model and backend_runs_locally(backend.name)


def ray_workers(devices: Devices, *, available_gpus: int) -> tuple[int, int]:
    """`--devices` on Ray -> (GPU, CPU) workers. Ray chooses which GPUs each worker gets; a list says how many."""
    if devices.all:
        if available_gpus == 0:
            raise RecipeError("--devices all: the Ray cluster has no GPU", hint="use --devices cpu to run on CPUs")
        return available_gpus, 0
    gpus = len(devices.gpus)
    if gpus > available_gpus:
        raise RecipeError(
            f"--devices asks for {gpus} GPU workers; the Ray cluster has {available_gpus} GPUs",
            hint="use --devices all, or join more GPU nodes to the cluster",
        )
    return gpus, devices.cpus


def plan_workers(
    backend: VideoBackend, recipe: Recipe, *, devices: Devices | None, jobs: int | None, available_gpus: int
) -> WorkerPlan:
    caps = backend.capabilities()
    # Preview and CPU renders burn a core each; an API worker mostly waits on the network.
    cpus_per_actor = 1.0 if backend_runs_locally(backend.name) else 0.0
    if devices is not None:
        gpus, cpus = ray_workers(devices, available_gpus=available_gpus)
        return WorkerPlan(gpus=gpus, cpus=cpus, cpus_per_actor=cpus_per_actor)
    if holds_model(backend):
        if available_gpus == 0:
            raise RecipeError(
                f"the {backend.name} backend needs a GPU and the Ray cluster has none",
                hint="join a GPU node to the cluster, or use --devices cpu",
            )
        return WorkerPlan(gpus=min(available_gpus, jobs or available_gpus), cpus=0, cpus_per_actor=cpus_per_actor)
    count = max(1, jobs or recipe.video.jobs or caps.default_jobs)
    return WorkerPlan(gpus=0, cpus=count, cpus_per_actor=cpus_per_actor)


# ----------------------------------------------------------------------------------------------
# The journal a worker carries


@dataclass
class SharedJournal:
    """A shot's provider-job record, kept beside the shot on the shared volume while the job runs.

    The run's own journal lives in the driver's manifest, which a worker on another node cannot
    reach; this file can, survives the worker and the driver, and lets a retried shot resume
    polling the same paid job. The driver copies what was recorded into the manifest afterwards.
    """

    path: Path
    known: dict[str, Any] | None = None
    recorded: list[dict[str, Any]] = field(default_factory=list)

    def existing_job(self) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return data
        return self.known

    def record_job(self, job: dict[str, Any]) -> None:
        from tale_cli.files import atomic_write_text

        atomic_write_text(self.path, json.dumps(job, ensure_ascii=False), mode=0o600)
        self.recorded.append(job)


def journal_path(output: Path) -> Path:
    """`<hash>.mp4.part` -> `<hash>.job.json` in the same folder."""
    return output.with_name(output.name.split(".")[0] + ".job.json")


def portable_request(request: ShotRequest) -> ShotRequest:
    """The request as a worker elsewhere needs it: absolute paths and a journal that pickles."""
    output = request.output.absolute()
    known = None
    with contextlib.suppress(Exception):
        known = request.journal.existing_job()
    return dataclasses.replace(
        request,
        output=output,
        first_frame=request.first_frame.absolute() if request.first_frame else None,
        last_frame=request.last_frame.absolute() if request.last_frame else None,
        reference_images=[path.absolute() for path in request.reference_images],
        journal=SharedJournal(journal_path(output), known),
    )


# ----------------------------------------------------------------------------------------------
# The actor


class ShotWorker:
    """Runs inside a Ray actor: builds the backend once (loading its model), then renders shots."""

    def __init__(self, recipe: Recipe, factory: BackendFactory | None) -> None:
        self.error: PackedError | None = None
        self.backend: VideoBackend | None = None
        try:
            if factory is None:
                from tale_cli.backends import video_backend

                factory = video_backend
            self.backend = factory(recipe)
            self.backend.load()
        except Exception as error:  # reported with every shot, so the driver can say why
            self.error = pack_error(error)

    def where(self) -> dict[str, Any]:
        import ray

        return {"node": ray.util.get_node_ip_address(), "pid": os.getpid(), "gpus": list(ray.get_gpu_ids())}

    def render(self, request: ShotRequest) -> tuple[str, Any, list[dict[str, Any]]]:
        """("done", RenderResult, jobs recorded) or ("failed", packed error, jobs recorded)."""
        journal = request.journal
        recorded = journal.recorded if isinstance(journal, SharedJournal) else []
        if self.error is not None or self.backend is None:
            return "failed", self.error, recorded
        try:
            with private_like_its_folder(request.output):
                result = self.backend.render_shot(request)
            # Checked here, where it was written: the driver then only renames it.
            from tale_cli.media.ffmpeg import check_clip

            check_clip(request.output, expected_s=request.duration_s, fps=request.fps)
            result.checked = True
        except Exception as error:  # one failed shot must not end the worker
            return "failed", pack_error(error), recorded
        result.notes["worker"] = self.where()
        return "done", result, recorded

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


# ----------------------------------------------------------------------------------------------
# The executor


@dataclass
class _Job:
    request: ShotRequest
    journal: JobJournal
    future: Future[RenderResult]
    requeues: int = 0
    started: bool = False


@dataclass
class _Slot:
    number: int
    gpu: bool
    actor: Any


class RayExecutor(ShotExecutor):
    """Shots on Ray actors, one shot per actor at a time, from any number of films; a ShotExecutor.

    Needs a connected Ray (see `RaySession`); `session`, when given, is ended by `close`. `factory`
    builds the backend inside each worker (default: the recipe's backend from the registry); it must pickle.
    """

    def __init__(
        self,
        recipe: Recipe,
        *,
        devices: Devices | None = None,
        jobs: int | None = None,
        backend: VideoBackend | None = None,
        factory: BackendFactory | None = None,
        session: RaySession | None = None,
    ) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            raise BackendError("Ray is not connected", hint="open a RaySession (or call ray.init) first")
        from tale_cli.backends import video_backend

        self._ray = ray
        self.recipe = recipe
        self.factory = factory
        self.session = session
        # The driver's copy gives capabilities and the cache key; only the workers load models.
        self.backend = backend if backend is not None else (factory or video_backend)(recipe)
        self.plan = plan_workers(self.backend, recipe, devices=devices, jobs=jobs, available_gpus=cluster_gpus())
        self.workers = self.plan.total
        self._actor_class = ray.remote(ShotWorker)
        self._slots = [self._new_slot(n, gpu=True) for n in range(self.plan.gpus)]
        self._slots += [self._new_slot(self.plan.gpus + n, gpu=False) for n in range(self.plan.cpus)]
        self._queue: deque[_Job] = deque()
        self._idle: deque[_Slot] = deque(self._slots)
        self._landed: list[tuple[_Slot, _Job, Future[Any]]] = []
        self._busy: dict[int, _Job] = {}
        self._wake = threading.Condition()
        self._closing = False
        self._dispatcher = threading.Thread(target=self._dispatch, name="tale-ray-dispatch", daemon=True)
        self._dispatcher.start()

    def _spawn(self, gpu: bool) -> Any:
        options: dict[str, Any] = {
            "num_cpus": self.plan.cpus_per_actor,
            "max_restarts": MAX_RESTARTS,
            "max_task_retries": MAX_TASK_RETRIES,
        }
        if gpu:
            options["num_gpus"] = 1
        return self._actor_class.options(**options).remote(self.recipe, self.factory)

    def _new_slot(self, number: int, *, gpu: bool) -> _Slot:
        return _Slot(number=number, gpu=gpu, actor=self._spawn(gpu))

    def wait_ready(self, timeout: float | None = None, *, every: bool = True) -> list[dict[str, Any]]:
        """Block until every worker (or, with every=False, the first) is up with its model loaded.

        Returns where each ready worker runs. A worker that cannot even start (tale-cli missing or
        different on its node) raises BackendError here, before any film is planned.
        """
        ray = self._ray
        refs = [slot.actor.where.remote() for slot in self._slots]
        try:
            if not every:
                refs, _ = ray.wait(refs, num_returns=1, timeout=timeout)
            places: list[dict[str, Any]] = ray.get(refs, timeout=timeout)
        except ray.exceptions.RayActorError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise BackendError(
                f"the Ray workers could not start: {lines[-1] if lines else type(error).__name__}",
                hint="every node needs the same tale-cli and extras (one virtual environment on the shared volume)",
            ) from None
        except ray.exceptions.GetTimeoutError:
            raise BackendError(f"no Ray worker was ready after {timeout:g} s") from None
        if not places and self._slots:
            raise BackendError(f"no Ray worker was ready after {timeout:g} s")
        return places

    def submit(self, request: ShotRequest) -> Future[RenderResult]:
        future: Future[RenderResult] = Future()
        job = _Job(request=portable_request(request), journal=request.journal, future=future)
        with self._wake:
            if self._closing:
                raise RuntimeError("the executor is closed")
            self._queue.append(job)
            self._wake.notify()
        return future

    def _arrived(self, slot: _Slot, job: _Job, done: Future[Any]) -> None:
        # Called on a Ray thread: hand over and return; the dispatcher does the rest.
        with self._wake:
            self._landed.append((slot, job, done))
            self._wake.notify()

    def _dispatch(self) -> None:
        try:
            self._dispatch_until_closed()
        except Exception as error:  # Ray itself gone: fail every shot rather than leave films waiting
            with self._wake:
                self._closing = True
                jobs = [job for _, job, _ in self._landed] + list(self._queue) + list(self._busy.values())
                self._landed, self._queue = [], deque()
                self._busy.clear()
            for job in jobs:
                self._fail(job, BackendError(f"the Ray executor stopped: {type(error).__name__}: {error}"))

    def _dispatch_until_closed(self) -> None:
        while True:
            with self._wake:
                while not (self._closing or self._landed or (self._queue and self._idle)):
                    self._wake.wait()
                if self._closing:
                    return
                landed, self._landed = self._landed, []
            for slot, job, done in landed:
                self._settle(slot, job, done)
            launches: list[tuple[_Slot, _Job]] = []
            with self._wake:
                while self._queue and self._idle:
                    job = self._queue.popleft()
                    if not job.started:
                        if not job.future.set_running_or_notify_cancel():
                            continue
                        job.started = True
                    slot = self._idle.popleft()
                    self._busy[slot.number] = job
                    launches.append((slot, job))
            for slot, job in launches:
                ref = slot.actor.render.remote(job.request)
                ref.future().add_done_callback(lambda done, s=slot, j=job: self._arrived(s, j, done))

    def _settle(self, slot: _Slot, job: _Job, done: Future[Any]) -> None:
        ray_errors = self._ray.exceptions
        where = f"{'GPU' if slot.gpu else 'CPU'} worker {slot.number}"
        try:
            kind, payload, recorded = done.result()
        except (ray_errors.RayActorError, ray_errors.WorkerCrashedError, ray_errors.NodeDiedError) as error:
            # Ray's own restarts and retries are used up: a fresh actor takes this slot and the shot.
            with contextlib.suppress(Exception):
                self._ray.kill(slot.actor, no_restart=True)
            slot.actor = self._spawn(slot.gpu)
            self._release(slot)
            if job.requeues < MAX_REQUEUES:
                job.requeues += 1
                with self._wake:
                    self._queue.appendleft(job)
                return
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            self._fail(job, BackendError(f"the {where} died while rendering shot {job.request.shot.index}: {first}"))
            return
        except Exception as error:  # anything else Ray raises fails this shot, not the run
            self._release(slot)
            self._fail(job, BackendError(f"{type(error).__name__} on {where}: {error}"))
            return
        self._release(slot)
        for record in recorded:
            with contextlib.suppress(Exception):
                job.journal.record_job(record)
        if kind == "done":
            with contextlib.suppress(FileNotFoundError):
                journal_path(job.request.output).unlink()
            with contextlib.suppress(InvalidStateError):
                job.future.set_result(payload)
        else:
            self._fail(job, unpack_error(payload, where))

    def _release(self, slot: _Slot) -> None:
        with self._wake:
            self._busy.pop(slot.number, None)
            self._idle.append(slot)

    @staticmethod
    def _fail(job: _Job, error: BaseException) -> None:
        with contextlib.suppress(InvalidStateError):
            job.future.set_exception(error)

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify_all()
            queued, self._queue = list(self._queue), deque()
            busy = list(self._busy.values())
            self._busy.clear()
        self._dispatcher.join(timeout=10)
        for job in queued + busy:
            if job.started:
                self._fail(job, BackendError("the batch stopped before this shot finished"))
            else:
                job.future.cancel()
        with contextlib.suppress(Exception):
            self._ray.get([slot.actor.close.remote() for slot in self._slots], timeout=CLOSE_GRACE_S)
        for slot in self._slots:
            with contextlib.suppress(Exception):
                self._ray.kill(slot.actor, no_restart=True)
        self.backend.close()
        if self.session is not None:
            self.session.close()


def open_on_ray(
    recipe: Recipe,
    address: str,
    *,
    devices: Devices | None = None,
    jobs: int | None = None,
    backend: VideoBackend | None = None,
    factory: BackendFactory | None = None,
) -> RayExecutor:
    """Connect (`--ray auto|ADDRESS|local`; empty means local), start the workers, and wait for the first of them.

    Waiting here turns a node without tale-cli into one error before any film is planned; the executor
    disconnects when it closes.
    """
    session = RaySession(address or "local").open()
    try:
        executor = RayExecutor(recipe, devices=devices, jobs=jobs, backend=backend, factory=factory, session=session)
    except BaseException:
        session.close()
        raise
    try:
        executor.wait_ready(every=False)
    except BaseException:
        executor.close()
        raise
    return executor
