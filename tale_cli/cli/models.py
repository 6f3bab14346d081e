"""`tale models pull|list`: local model weights in the Hugging Face cache (HF_HOME)."""

from __future__ import annotations

import typer

from tale_cli.cli.common import console, escape, print_json, run

app = typer.Typer(help="Download local models or list the ones cached.", no_args_is_help=True)


def _size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


@app.command("pull")
def pull(
    model_id: str | None = typer.Argument(
        None, metavar="[ID]", help="Hub id, e.g. THUDM/CogVideoX-5b or Qwen/Qwen2.5-7B-Instruct."
    ),
    recipe: str | None = typer.Option(
        None, "--recipe", "-r", help="Pull everything a local recipe loads: its models and its LoRA files."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Download a model into the Hugging Face cache (only the files a pipeline loads), or a recipe's weights."""

    def action() -> None:
        from tale_cli.backends.models import Pulled, hub_cache, pull_model, pull_recipe
        from tale_cli.errors import InputError

        if (model_id is None) == (recipe is None):
            raise InputError(
                "give a hub ID or --recipe NAME (one of them)",
                hint="e.g. tale models pull --recipe local-wan2.1-14b-fast",
            )
        if recipe is not None:
            from tale_cli.config import load_recipe

            pulled = pull_recipe(load_recipe(recipe))
        else:
            assert model_id is not None
            pulled = [Pulled("model", model_id, pull_model(model_id))]
        if json_output and model_id is not None:
            print_json({"model": model_id, "path": str(pulled[0].path), "cache": str(hub_cache())})
            return
        if json_output:
            print_json({"recipe": recipe, "cache": str(hub_cache()), "pulled": [
                {"kind": p.kind, "name": p.name, "path": str(p.path)} for p in pulled]})  # fmt: skip
            return
        out = console()
        for item in pulled:
            out.print(f"[green]pulled[/] {item.kind} {escape(item.name)} -> {escape(str(item.path))}")

    run(action)


@app.command("list")
def list_models(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the models in the Hugging Face cache with their sizes."""

    def action() -> None:
        from tale_cli.backends.models import hub_cache, list_cached_models

        models = list_cached_models()
        if json_output:
            print_json({"cache": str(hub_cache()), "models": [
                {"model": m.model_id, "size_bytes": m.size_bytes, "files": m.files, "pipeline": m.pipeline,
                 "path": m.path} for m in models]})  # fmt: skip
            return
        out = console()
        if not models:
            out.print(f"no models cached in {escape(str(hub_cache()))}; `tale models pull ID` downloads one")
            return
        from rich.table import Table

        table = Table(title=f"models in {hub_cache()}", title_justify="left")
        for column in ("model", "size", "files", "pipeline"):
            table.add_column(column, justify="right" if column in ("size", "files") else "left")
        for m in models:
            table.add_row(escape(m.model_id), _size(m.size_bytes), str(m.files), escape(m.pipeline or "-"))
        out.print(table)
        out.print(f"total {_size(sum(m.size_bytes for m in models))}")

    run(action)
