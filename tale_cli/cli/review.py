"""`tale review`: write a run folder's review page, print its path, open it or serve the folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tale_cli.cli.common import console, escape, run


def review(
    run_dir: Annotated[Path, typer.Argument(help="A run folder made by `tale render`.")],
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Serve the run folder over HTTP until Ctrl-C (range requests for seeking).")
    ] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port for --serve (0: any free one).")] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Address for --serve; anything but loopback exposes the run.")
    ] = "127.0.0.1",
) -> None:
    """Write RUN_DIR/review.html (film, shots, costs) and print its path; --open or --serve it."""

    def write() -> Path | None:
        from tale_cli.pipeline.review import write_review

        return write_review(run_dir)

    page = run(write)
    if page is None:
        # A sealed run writes no page in the clear: it is made for each request of `--serve`.
        typer.echo(f"{run_dir} is sealed: its review page is only served (tale review --serve)")
    else:
        typer.echo(str(page))
    if not serve:
        if page is None:
            return
        if open_page:
            import webbrowser

            webbrowser.open(page.resolve().as_uri())
        return

    from tale_cli.pipeline.review_server import is_loopback, open_server

    if not is_loopback(host):
        console(stderr=True).print(
            f"[yellow]warning:[/] serving on {escape(host)}: anyone who can reach this address sees the run"
        )
    server = run(lambda: open_server(run_dir, host=host, port=port))
    typer.echo(f"serving {server.url} (Ctrl-C to stop)")
    if open_page:
        import webbrowser

        webbrowser.open(server.url)
    server.serve()
    typer.echo("stopped")
