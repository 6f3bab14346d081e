"""Render progress: a live Rich table on a terminal, plain lines in logs, CI and dumb terminals."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tale_cli.pipeline import Event

_STYLES = {"queued": "dim", "rendering": "yellow", "cached": "cyan", "done": "green", "failed": "bold red"}


def can_redraw() -> bool:
    """stdout is a terminal that can move its cursor: not a pipe or file, and not TERM=dumb (Emacs shells, CI)."""
    return sys.stdout.isatty() and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")


class ProgressView:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.live_mode = can_redraw() and not json_mode
        self.states: dict[int, dict[str, Any]] = {}
        self.messages: list[str] = []
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._live: Any = None

    def __enter__(self) -> ProgressView:
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self._table(), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(kind, value, tb)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop redrawing the live table while the user answers a question."""
        if self._live is None:
            yield
            return
        self._live.stop()
        try:
            yield
        finally:
            self._live.start()

    def _plain(self, text: str) -> None:
        stream = sys.stderr if self.json_mode else sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.index is None:
                self.messages.append(event.detail)
                if self._live is None:
                    self._plain(event.detail)
                else:
                    self._live.console.print(f"[dim]{event.detail}[/]", highlight=False)
                return
            row = self.states.setdefault(event.index, {"state": "queued", "detail": "", "seconds": None})
            row.update(state=event.state, detail=event.detail, seconds=event.seconds)
            if event.state == "rendering":
                row["since"] = time.monotonic()
            if self._live is None:
                extra = f" ({event.seconds:.1f} s)" if event.seconds is not None else ""
                detail = f": {event.detail}" if event.detail else ""
                if event.state != "queued":
                    self._plain(f"shot {event.index:>2} {event.state}{extra}{detail}")
            else:
                self._live.update(self._table())

    def _eta(self) -> str:
        done = [r["seconds"] for r in self.states.values() if r["state"] == "done" and r["seconds"]]
        left = sum(1 for r in self.states.values() if r["state"] in ("queued", "rendering"))
        if not done or not left:
            return ""
        busy = max(1, sum(1 for r in self.states.values() if r["state"] == "rendering"))
        return f"ETA ≈ {sum(done) / len(done) * left / busy:.0f} s"

    def _table(self) -> Any:
        from rich.table import Table

        elapsed = time.monotonic() - self.started
        table = Table(title=f"shots · {elapsed:.0f} s elapsed {self._eta()}", title_justify="left", expand=False)
        table.add_column("shot", justify="right")
        table.add_column("state")
        table.add_column("time", justify="right")
        table.add_column("detail", overflow="fold", max_width=70)
        now = time.monotonic()
        for index in sorted(self.states):
            row = self.states[index]
            state = row["state"]
            seconds = row["seconds"]
            if state == "rendering" and "since" in row:
                seconds = now - row["since"]
            table.add_row(
                str(index),
                f"[{_STYLES.get(state, '')}]{state}[/]",
                f"{seconds:.1f} s" if seconds is not None else "",
                row["detail"],
            )
        return table
