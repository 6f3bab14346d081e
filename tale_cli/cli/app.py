"""The `tale` command: the root Typer app and the registration of every command module."""

from __future__ import annotations

import io
import sys
from typing import Any

import typer

from tale_cli.cli.common import set_debug
from tale_cli.version import __version__


class _TaleGroup(typer.core.TyperGroup):
    """The `tale` group, built once every command is: its flags show no value placeholder in --help (Typer's rich
    help writes `<bool>` beside `--dry-run` and `--help`, as if each took a value)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _flags_take_no_value(self)


def _flags_take_no_value(command: Any) -> None:
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_take_no_value(sub)


app = typer.Typer(
    name="tale",
    cls=_TaleGroup,
    help="Turn a written story into a one-minute film.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tale {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and where each setting came from."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Turn a written story into a one-minute film: plan, render, stitch."""
    set_debug(debug)


def _register() -> None:
    # Each module imports only typer at top level; the library is imported inside the commands.
    from tale_cli.cli import (
        audit,
        batch,
        bench,
        clean,
        cost,
        doctor,
        export,
        finalize,
        judge,
        keys,
        models,
        plan,
        providers,
        publish,
        recipes,
        render,
        review,
        seal,
        stitch,
        takes,
        verify,
        voices,
    )

    app.command("plan")(plan.plan)
    app.command("render")(render.render)
    app.command("stitch")(stitch.stitch)
    app.add_typer(recipes.app, name="recipes")
    app.command("providers")(providers.providers)
    app.command("doctor")(doctor.doctor)
    app.add_typer(cost.app, name="cost")
    app.add_typer(keys.app, name="keys")
    app.command("audit")(audit.audit)
    app.add_typer(models.app, name="models")
    app.command("bench")(bench.bench)
    app.command("batch")(batch.batch)
    app.command("clean")(clean.clean)
    app.command("seal")(seal.seal)
    app.command("unseal")(seal.unseal)
    app.command("review")(review.review)
    app.command("export")(export.export)
    app.command("publish")(publish.publish)
    app.command("retake")(takes.retake)
    app.command("takes")(takes.takes)
    app.command("pick")(takes.pick)
    app.command("replace")(takes.replace)
    app.command("lock")(takes.lock)
    app.command("unlock")(takes.unlock)
    app.command("finalize")(finalize.finalize)
    app.add_typer(voices.app, name="voices")
    app.command("judge")(judge.judge)
    app.command("verify")(verify.verify)


_register()


def _tolerant_streams() -> None:
    """A terminal whose locale cannot show every character (LANG=C without UTF-8) gets '?' for those, never a crash."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(errors="replace")


def main() -> None:
    _tolerant_streams()
    app(prog_name="tale")
