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
    _DEBUG["on"] = value or bool(os.environ.get("TALE_DEBUG"))
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
    err = console(stderr=True)
    err.print(f"[bold red]error:[/] {escape(error.message)}")
    if error.hint:
        err.print(f"[dim]hint: {escape(error.hint)}[/]")
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
            import traceback

            traceback.print_exc(file=sys.stderr)
        abort(error)
    except KeyboardInterrupt:
        console(stderr=True).print("[yellow]interrupted[/]: run the same command again to resume")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def run(action: Callable[[], Any]) -> Any:
    with errors_handled():
        return action()
