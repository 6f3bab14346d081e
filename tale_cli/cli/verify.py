"""`tale verify FILM`: a film's Content Credentials read and validated (issuer, trust, hash binding, actions, each
shot's origin) and its invisible mark read back; exit code 14 when it has none or was changed after signing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tale_cli.cli.common import console, errors_handled, escape, print_json

TRUST_WORDS = {
    "trusted": "trusted (its CA is on the trust list)",
    "local": "Tale's local CA on this machine: viewers show it as untrusted",
    "untrusted": "untrusted issuer",
}


def verify(
    film: Annotated[Path, typer.Argument(help="A film (MP4) to check.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Check a film's Content Credentials (C2PA) and read back its invisible mark."""
    with errors_handled():
        from tale_cli.film.credentials import VerifyFailed, verify_film

        try:
            found = verify_film(film)
        except VerifyFailed as failed:
            if json_output:
                print_json(failed.found.to_json())
            raise
        if json_output:
            print_json(found.to_json())
            return
        out = console()
        out.print(f"[green]{escape(film.name)}[/]: Content Credentials valid; unchanged since it was signed")
        rows = [
            ("signed by", f"{found.signer or '?'} · issuer {found.issuer or '?'}"),
            ("trust", TRUST_WORDS.get(found.trust, found.trust)),
            ("made with", f"{found.generator or '?'} · {(found.source_type or '?').rsplit('/', 1)[-1]}"),
            ("actions", ", ".join(found.actions)),
        ]
        for shot in found.shots:
            made = "/".join(str(shot[k]) for k in ("backend", "model") if shot.get(k))
            rows.append((f"shot {shot.get('index')}", f"{shot.get('origin')}{f' ({made})' if made else ''}"))
        for part in [*found.references, *found.sound]:
            made = "/".join(str(part[k]) for k in ("backend", "model") if part.get(k))
            rows.append((str(part.get("name")), f"{part.get('origin')}{f' ({made})' if made else ''}"))
        mark = f'"{found.invisible_mark}"' if found.invisible_mark is not None else found.invisible_checked
        rows.append(("invisible mark", mark))
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            out.print(f"  {label:<{width}}  {escape(value)}")
