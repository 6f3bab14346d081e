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
        from tale_cli.keys.audit import read_audit

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
        from rich import box
        from rich.table import Table

        who = {f"{entry.get('user', '?')}@{entry.get('host', '?')}" for entry in summary.entries}
        day = str(summary.entries[0].get("time", ""))[:10] if summary.entries else ""
        by = f" by {next(iter(who))}" if len(who) == 1 else ""
        table = Table(
            title=escape(f"audit: {run_dir} · {day} UTC{by}"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1, 0, 0),
        )
        several = len(who) > 1
        for column in ("time", *(["user@host"] if several else []), "role", "backend/model", "for", "outcome"):
            table.add_column(column, overflow="fold")
        table.add_column("billed", justify="right")
        table.add_column("prompt", no_wrap=True)
        for entry in summary.entries:
            billed = entry.get("billed_units")
            billed_text = "" if billed is None else f"{billed:g} {entry.get('unit') or ''}".strip()
            target = f"shot {entry['shot']}" if entry.get("shot") is not None else str(entry.get("character") or "")
            attempt = int(entry.get("attempt") or 1)
            outcome = str(entry.get("outcome", "")) + (f" (try {attempt})" if attempt > 1 else "")
            model = "/".join(str(part) for part in (entry.get("backend", ""), entry.get("model")) if part)
            table.add_row(
                escape(str(entry.get("time", ""))[11:19]),
                *([escape(f"{entry.get('user', '?')}@{entry.get('host', '?')}")] if several else []),
                escape(str(entry.get("role", ""))),
                escape(model),
                escape(target),
                escape(outcome),
                escape(billed_text),
                escape(str(entry.get("prompt_sha256", ""))[:8]),
            )
        out = console()
        out.print(table)
        out.print(f"{summary.requests} requests, {summary.failed} not ok, ${summary.cost_usd:.2f} billed")
