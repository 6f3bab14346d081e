"""`tale audit RUN_DIR`: the run's audit log (every inference request) as a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tale_cli.cli.common import console, errors_handled, escape, print_json


def audit(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (or its audit.jsonl).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show every inference request a run made: when, who, which backend and model, outcome, billed units."""
    with errors_handled():
        from tale_cli.audit import read_audit

        summary = read_audit(run_dir)
        if json_output:
            print_json(
                {
                    "requests": summary.requests,
                    "failed": summary.failed,
                    "cost_usd": summary.cost_usd,
                    "entries": summary.entries,
                }
            )
            return
        from rich.table import Table

        table = Table(title=f"audit: {escape(str(run_dir))}", title_justify="left")
        for column in ("time", "user@host", "role", "backend", "model", "shot", "try", "outcome", "billed", "prompt"):
            table.add_column(column, no_wrap=column in ("time", "prompt"))
        for entry in summary.entries:
            billed = entry.get("billed_units")
            billed_text = "" if billed is None else f"{billed:g} {entry.get('unit') or ''}".strip()
            target = entry.get("shot") if entry.get("shot") is not None else entry.get("character", "")
            table.add_row(
                escape(str(entry.get("time", ""))[:19].replace("T", " ")),
                escape(f"{entry.get('user', '?')}@{entry.get('host', '?')}"),
                escape(str(entry.get("role", ""))),
                escape(str(entry.get("backend", ""))),
                escape(str(entry.get("model", ""))),
                escape(str(target)),
                str(entry.get("attempt", 1)),
                escape(str(entry.get("outcome", ""))),
                escape(billed_text),
                escape(str(entry.get("prompt_sha256", ""))[:12]),
            )
        out = console()
        out.print(table)
        out.print(f"{summary.requests} requests, {summary.failed} not ok, ${summary.cost_usd:.2f} billed")
