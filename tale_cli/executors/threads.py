"""Shots on a bounded thread pool in this process: the default, and all an API backend needs."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from tale_cli.executors.base import ShotExecutor

if TYPE_CHECKING:
    from tale_cli.backends.base import RenderResult, ShotRequest, VideoBackend
    from tale_cli.config import Recipe


class ThreadExecutor(ShotExecutor):
    """The default: one backend instance in this process, shots on a bounded thread pool."""

    def __init__(self, recipe: Recipe, *, jobs: int | None = None, backend: VideoBackend | None = None) -> None:
        from tale_cli.backends import video_backend

        self.backend = backend if backend is not None else video_backend(recipe)
        self.workers = max(1, jobs or recipe.video.jobs or self.backend.capabilities().default_jobs)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tale-shot")

    def submit(self, request: ShotRequest) -> Future[RenderResult]:
        return self._pool.submit(self._render_and_check, request)

    def _render_and_check(self, request: ShotRequest) -> RenderResult:
        """Render, then check the clip on the worker thread, so checks of many shots overlap."""
        from tale_cli.media.ffmpeg import check_clip

        result = self.backend.render_shot(request)
        check_clip(request.output, expected_s=request.duration_s, fps=request.fps)
        result.checked = True
        return result

    def close(self) -> None:
        # Stop queued shots, then let the backend end its waits (polls, backoff) before joining the threads.
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.backend.close()
        self._pool.shutdown(wait=True)
