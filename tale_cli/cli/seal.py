"""`tale seal RUN` and `tale unseal RUN`: keep a run folder's words encrypted at rest (age), or open them again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tale_cli.cli.common import console, escape, print_json, run

if TYPE_CHECKING:
    from tale_cli.keys.seal import Converted

RunDir = Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder written by `tale render`.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
NoWait = Annotated[
    bool,
    typer.Option("--no-wait", help="If another command is writing the run folder, exit (code 13) instead of waiting."),
]


def seal(
    run_dir: RunDir,
    media: Annotated[
        bool, typer.Option("--media", help="Seal the clips, pictures, voice, music and film too, from now on.")
    ] = False,
    json_output: JsonOutput = False,
    no_wait: NoWait = False,
) -> None:
    """Seal RUN_DIR in place: plan, manifest, job journal, audit lines, subtitles and judge notes encrypted with age.

    The identity comes from TALE_AGE_IDENTITY (the identity itself, or a file holding it) or the OS keyring (`tale
    keys seal-identity`). Clips and the film stay as they are unless --media; the review page is removed (`tale
    review --serve` shows it, and streams a sealed film opened). Each file is replaced atomically; a conversion that
    was stopped is finished by running it again.
    """
    from tale_cli.run.sealing import seal_run

    _show(run(lambda: seal_run(run_dir, media=media, wait=not no_wait)), json_output, "sealed")


def unseal(run_dir: RunDir, json_output: JsonOutput = False, no_wait: NoWait = False) -> None:
    """Open RUN_DIR's sealed files in place, media too (with the identity that sealed them): the run folder is plain
    again."""
    from tale_cli.run.sealing import unseal_run

    _show(run(lambda: unseal_run(run_dir, wait=not no_wait)), json_output, "unsealed")


def _show(result: Converted, json_output: bool, done: str) -> None:
    if json_output:
        print_json({"run_dir": str(result.root), "sealed": result.sealed, "files": result.files})
        return
    if result.already:
        console().print(f"{escape(str(result.root))} is already {done}")
        return
    console().print(f"{done} {escape(str(result.root))}: {len(result.files)} file(s)")
