"""What every command shares: error handling, stopping on signals, JSON output, the console. Imports stay light."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

import typer

from tale_cli.errors import ExitCode, Interrupted, TaleError

_DEBUG = {"on": False}


def set_debug(value: bool) -> None:
    from tale_cli.keys.redact import install_log_redaction

    _DEBUG["on"] = value or bool(os.environ.get("TALE_DEBUG"))
    install_log_redaction()
    _route_warnings()


class _WarningLine(logging.Handler):
    """Library warnings (`logging.getLogger("tale")`) as one yellow line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        console(stderr=True).print(f"[yellow]warning:[/] {escape(record.getMessage())}")


# Libraries the local backends import talk about themselves on import (torchao's optional kernels that do not
# load on this machine, torch's notices for its own developers): not the user's business, unless --debug.
_QUIET_LOGGERS = ("torchao", "torch.utils._pytree")


def _route_warnings() -> None:
    logger = logging.getLogger("tale")
    if not any(isinstance(handler, _WarningLine) for handler in logger.handlers):
        logger.addHandler(_WarningLine(level=logging.WARNING))
        logger.propagate = False
    if not debug_enabled():
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


def debug_enabled() -> bool:
    return _DEBUG["on"]


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def abort(error: TaleError) -> NoReturn:
    """The one path out for an error: a red line, a hint, the error's exit code."""
    from tale_cli.keys.redact import redact

    err = console(stderr=True)
    err.print(f"[bold red]error:[/] {escape(redact(error.message))}")
    if error.hint:
        err.print(f"[dim]hint: {escape(redact(error.hint))}[/]")
    raise typer.Exit(int(error.exit_code))


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@contextmanager
def errors_handled() -> Iterator[None]:
    try:
        yield
    except TaleError as error:
        if debug_enabled():
            print_traceback()
        abort(error)
    except KeyboardInterrupt as stop:
        signum = stop.signum if isinstance(stop, Interrupted) else signal.SIGINT
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        console(stderr=True).print(f"[yellow]{how}[/]: run the same command again to resume")
        raise typer.Exit(stop.exit_code if isinstance(stop, Interrupted) else int(ExitCode.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        if _is_usage_error(error):
            raise  # bad options and the like: Typer prints its own usage message (exit 2)
        if isinstance(error, OSError) and (full := _no_space(error)) is not None:
            abort(full)
        # An unexpected failure (often an SDK's): one redacted line, the traceback only with --debug.
        if debug_enabled():
            print_traceback()
        abort(TaleError(f"unexpected {type(error).__name__}: {error}", hint="run again with --debug for the traceback"))


def _no_space(error: OSError) -> TaleError | None:
    """A full disk met anywhere as one line naming the folder, not `unexpected OSError: [Errno 28]`."""
    from pathlib import Path

    from tale_cli.media.ffmpeg import NoSpaceError, no_space_folder

    folder = no_space_folder(error, Path.cwd())
    return NoSpaceError(folder) if folder is not None else None


def _is_usage_error(error: Exception) -> bool:
    """Typer's own exceptions (click's, or the copy of click newer Typer versions carry)."""
    return any(cls.__module__.split(".")[0] in ("click", "typer") for cls in type(error).__mro__)


def print_traceback() -> None:
    """The current exception's traceback on stderr, with every key redacted (SDK errors echo headers)."""
    import traceback

    from tale_cli.keys.redact import redact

    sys.stderr.write(redact(traceback.format_exc()))
    sys.stderr.flush()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP stop a command the same clean way, then exit 128 + the signal's number.

    The first signal kills every ffmpeg Tale started and raises Interrupted in the main thread, which unwinds
    like Ctrl-C always has: shots in flight are marked, manifests and journals written, *.part files and
    temporary folders removed. A second signal ends Tale at once. A signal the caller set to be ignored
    (`nohup`, a shell's background job) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from tale_cli.media.ffmpeg import resume_children, stop_children

    received: list[int] = []

    def stop(signum: int, _: FrameType | None) -> None:
        stop_children()
        if received:
            os._exit(128 + signum)  # asked twice: no more cleaning up
        received.append(signum)
        raise Interrupted(signum)

    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        resume_children()


def run(action: Callable[[], Any]) -> Any:
    with stop_on_signals(), errors_handled():
        return action()
