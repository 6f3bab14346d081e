"""The one interface every place shots run behind: threads here, one process per GPU, or Ray workers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
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


@contextmanager
def private_like_its_folder(output: Path) -> Iterator[None]:
    """Render a shot in a worker with its files as private as the folder they go to.

    A worker process (one per GPU, or a Ray actor) has its own umask, not that of the command that
    made the run private: a shot for an owner-only folder is written owner-only from its first byte,
    `*.part` included. A folder that cannot be read counts as private.
    """
    from tale_cli.keys.privacy import private_files

    try:
        private = output.parent.stat().st_mode & 0o077 == 0
    except OSError:
        private = True
    with private_files(private):
        yield
