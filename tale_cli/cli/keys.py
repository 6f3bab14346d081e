"""`tale keys`: store, list, delete and test bring-your-own API keys (shown only by fingerprint)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tale_cli.cli.common import console, errors_handled, escape, print_json

app = typer.Typer(
    help="Bring-your-own API keys in the OS keyring; TALE_<PROVIDER>_API_KEY and the provider's env var win.",
    no_args_is_help=True,
)

PROVIDER_HELP = "google, vertex, openai, runway or huggingface"


@app.command("set")
def set_(
    provider: str = typer.Argument(..., help=PROVIDER_HELP),
    stdin: bool = typer.Option(False, "--stdin", help="Read the key from one line of standard input (for scripts)."),
) -> None:
    """Store a key in the OS keyring (asks with hidden input)."""
    with errors_handled():
        from tale_cli.errors import ExitCode, KeysError
        from tale_cli.keys.store import set_key, storable

        chosen = storable(provider)
        if stdin:
            text = sys.stdin.readline()
            if not text:
                raise KeysError("no key on standard input; nothing was stored")
        else:
            try:
                text = typer.prompt(
                    f"{chosen.label} for {chosen.name}", hide_input=True, default="", show_default=False
                )
            except typer.Abort:
                console(stderr=True).print("[yellow]interrupted[/]: nothing was stored")
                raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        result = set_key(chosen.name, text)
        out = console()
        out.print(f"stored the {result.provider} key in the keyring ({escape(result.fingerprint)})")
        if result.shadowed_by:
            out.print(f"[yellow]note:[/] {result.shadowed_by} is set and takes precedence over the keyring")


@app.command("list")
def list_(json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show each provider, where its key comes from and its fingerprint, never the key."""
    with errors_handled():
        from tale_cli.keys.store import key_sources, keyring_status

        sources = key_sources()
        status = keyring_status()
        if json_output:
            print_json(
                {
                    "keyring": {"backend": status.backend, "usable": status.usable, "reason": status.reason},
                    "providers": [source.to_dict() for source in sources],
                }
            )
            return
        from rich.table import Table

        table = Table(title="API keys", title_justify="left")
        table.add_column("provider")
        table.add_column("source")
        table.add_column("from")
        table.add_column("fingerprint")
        for source in sources:
            table.add_row(source.provider, source.source, escape(source.where), escape(source.fingerprint or ""))
        out = console()
        out.print(table)
        keyring_line = "usable" if status.usable else f"not usable: {status.reason}"
        out.print(f"[dim]keyring: {escape(status.backend)} ({escape(keyring_line)})[/]")


@app.command("delete")
def delete(provider: str = typer.Argument(..., help=PROVIDER_HELP)) -> None:
    """Remove a provider's key from the OS keyring."""
    with errors_handled():
        from tale_cli.keys.store import delete_key

        name = delete_key(provider)
        console().print(f"deleted the {name} key from the keyring")


@app.command("test")
def test(
    provider: str = typer.Argument(..., help=PROVIDER_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a sentence."),
) -> None:
    """Make the provider's cheapest authenticated call and say whether the key works (needs the network)."""
    with errors_handled():
        from tale_cli.errors import KeysError
        from tale_cli.keys.check import check_key

        result = check_key(provider)
        if json_output:
            print_json(result.to_dict())
        elif result.status == "offline":
            console().print(f"[yellow]{escape(result.provider)}: {escape(result.detail)}[/]")
        elif result.works:
            console().print(
                f"[green]{escape(result.provider)}: {escape(result.detail)}[/] [dim]({escape(result.source)})[/]"
            )
        if result.status in ("rejected", "missing", "error"):
            if json_output:
                raise typer.Exit(int(KeysError.exit_code))
            source = f"key from {result.source}" if result.status != "missing" else None
            raise KeysError(f"{result.provider}: {result.detail}", hint=source)


signing = typer.Typer(
    help="The certificate and key that sign films' Content Credentials (C2PA); TALE_C2PA_CERT and TALE_C2PA_KEY win.",
    no_args_is_help=True,
)
app.add_typer(signing, name="signing")


@signing.command("show")
def signing_show(json_output: bool = typer.Option(False, "--json", help="Print JSON instead of lines.")) -> None:
    """Where films are signed from: the files, the keyring, or Tale's local chain (never the key)."""
    with errors_handled():
        from tale_cli.keys.signing import signing_source

        source = signing_source()
        if json_output:
            print_json(source.to_dict())
            return
        out = console()
        out.print(f"signing with: {escape(source.source)} ({escape(source.where)})")
        if source.subject:
            out.print(f"  certificate {escape(source.subject)}, issued by {escape(source.issuer or '?')}")
            out.print(f"  valid until {escape(source.not_after or '?')}")
        if not source.trusted_by_viewers:
            out.print("[yellow]note:[/] Tale's local CA is trusted by no viewer: its films show an untrusted issuer")


@signing.command("import")
def signing_import(
    cert: Path = typer.Argument(..., help="PEM certificate chain: the signing certificate first, then its CAs."),
    key: Path = typer.Argument(..., help="The signing certificate's PEM private key (not encrypted)."),
) -> None:
    """Store a signing certificate chain and its key in the OS keyring."""
    with errors_handled():
        from tale_cli.keys.signing import import_identity

        source = import_identity(cert, key)
        console().print(f"stored the signing certificate {escape(source.subject or '')} in the keyring")


@signing.command("delete")
def signing_delete() -> None:
    """Remove the keyring's signing certificate and key (films are then signed with Tale's local chain)."""
    with errors_handled():
        from tale_cli.keys.signing import delete_identity

        removed = delete_identity()
        console().print(
            "deleted the signing certificate from the keyring" if removed else "no signing certificate was stored"
        )


@app.command("seal-identity")
def seal_identity(
    file: Path | None = typer.Option(
        None, "--file", help="Write the identity to this new owner-only file (for TALE_AGE_IDENTITY on a pod)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a sentence."),
) -> None:
    """Make the age identity that sealed run folders are sealed to (`tale render --seal`), kept in the OS keyring or
    a new file; prints its public key, never the identity."""
    with errors_handled():
        from tale_cli.keys.seal import make_identity

        made = make_identity(file)
        if json_output:
            print_json({"recipient": made.recipient, "stored": made.where})
            return
        console().print(f"made an age identity in {escape(made.where)}; its public key is {made.recipient}")
