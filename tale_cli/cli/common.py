"""What every command shares: error handling, JSON output, the console. Imports stay light."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

from tale_cli.errors import ExitCode, TaleError

_DEBUG = {"on": False}


def set_debug(value: bool) -> None:
    from tale_cli.redact import install_log_redaction

    _DEBUG["on"] = value or bool(os.environ.get("TALE_DEBUG"))
    install_log_redaction()
    _route_warnings()


class _WarningLine(logging.Handler):
    """Library warnings (`logging.getLogger("tale")`) as one yellow line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        console(stderr=True).print(f"[yellow]warning:[/] {escape(record.getMessage())}")


def _route_warnings() -> None:
    logger = logging.getLogger("tale")
    if not any(isinstance(handler, _WarningLine) for handler in logger.handlers):
        logger.addHandler(_WarningLine(level=logging.WARNING))
        logger.propagate = False


def debug_enabled() -> bool:
    return _DEBUG["on"]


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def abort(error: TaleError) -> NoReturn:
    """The one path out for an error: a red line, a hint, the error's exit code."""
    from tale_cli.redact import redact

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
    except KeyboardInterrupt:
        console(stderr=True).print("[yellow]interrupted[/]: run the same command again to resume")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        if _is_usage_error(error):
            raise  # bad options and the like: Typer prints its own usage message (exit 2)
        # An unexpected failure (often an SDK's): one redacted line, the traceback only with --debug.
        if debug_enabled():
            print_traceback()
        abort(TaleError(f"unexpected {type(error).__name__}: {error}", hint="run again with --debug for the traceback"))


def _is_usage_error(error: Exception) -> bool:
    """Typer's own exceptions (click's, or the copy of click newer Typer versions carry)."""
    return any(cls.__module__.split(".")[0] in ("click", "typer") for cls in type(error).__mro__)


def print_traceback() -> None:
    """The current exception's traceback on stderr, with every key redacted (SDK errors echo headers)."""
    import traceback

    from tale_cli.redact import redact

    sys.stderr.write(redact(traceback.format_exc()))
    sys.stderr.flush()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def run(action: Callable[[], Any]) -> Any:
    with errors_handled():
        return action()
