"""What a long command tells its caller as it goes: a shot's state changing, or a message. The CLI draws them; a
script may ignore them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class ShotState(StrEnum):
    """Where a shot stands in this render, as events report it and the report counts it."""

    QUEUED = "queued"
    RENDERING = "rendering"
    CACHED = "cached"
    DONE = "done"
    FAILED = "failed"
    WOULD_RENDER = "would render"  # a dry run's shot that is not cached


@dataclass
class Event:
    """Progress for the CLI: a shot's state change (`index` and `state` set) or a message."""

    kind: str
    index: int | None = None
    state: ShotState | None = None
    detail: str = ""
    seconds: float | None = None


EventSink = Callable[[Event], None]


def ignore_events(_: Event) -> None:
    return None
