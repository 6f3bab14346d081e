"""The one interface every place shots run behind: threads here, one process per GPU, or Ray workers."""

from __future__ import annotations

from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend


class ShotExecutor(Protocol):
    """Runs `render_shot` requests; the pipeline does ordering, checking and bookkeeping.

    Executors subclass this protocol, so the context-manager methods below are their defaults.
    """

    workers: int
    # The driver's own copy of the backend: capabilities, preflight and cache keys; the pipeline borrows it.
    backend: VideoBackend

    def submit(self, request: ShotRequest) -> Future[RenderResult]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
