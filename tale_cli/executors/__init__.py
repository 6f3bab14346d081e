"""Where shots run: threads here, one process per GPU, or Ray workers, all chosen by `open_executor`.

Only the thread executor is imported here; the process and Ray executors (and ray itself) load when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tale_cli.executors.base import ShotExecutor
from tale_cli.executors.devices import Devices, parse_devices
from tale_cli.executors.threads import ThreadExecutor

if TYPE_CHECKING:
    from tale_cli.backends.base import VideoBackend
    from tale_cli.config import Recipe
    from tale_cli.executors.on_ray import BackendFactory

__all__ = ["Devices", "ShotExecutor", "ThreadExecutor", "open_executor", "parse_devices"]


def open_executor(
    recipe: Recipe,
    *,
    jobs: int | None = None,
    devices: str | None = None,
    ray: str | None = None,
    backend: VideoBackend | None = None,
    factory: BackendFactory | None = None,
) -> ShotExecutor:
    """The executor a command asks for; the caller closes it (or uses it as a context).

    `ray` (auto, an address, or local) puts shots on Ray workers, as many as `devices` or `jobs` say;
    else `devices` (`--devices`) starts one worker process per GPU; else `jobs` threads run here.
    `backend` is the driver's copy when the caller already built one; `factory` builds the backend
    inside each Ray worker.
    """
    parsed = parse_devices(devices) if devices else None
    if ray is not None:
        from tale_cli.executors.on_ray import open_on_ray

        return open_on_ray(recipe, ray, devices=parsed, jobs=jobs, backend=backend, factory=factory)
    if parsed is not None:
        from tale_cli.executors.processes import ProcessExecutor, worker_devices

        return ProcessExecutor(recipe, worker_devices(parsed), backend=backend)
    return ThreadExecutor(recipe, jobs=jobs, backend=backend)
