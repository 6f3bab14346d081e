"""`tale bench`: seconds per step and per clip, peak VRAM, at a local recipe's settings."""

from __future__ import annotations

import typer

from tale_cli.cli.common import console, escape, print_json, run


def bench(
    recipe: str = typer.Option(..., "--recipe", "-r", help="A local recipe (name or TOML file)."),
    model: str | None = typer.Option(None, "--model", help="Video model for this run: hub id or folder."),
    steps: int | None = typer.Option(None, "--steps", min=1, max=200, help="Denoising steps for this run."),
    memory: str | None = typer.Option(None, "--memory", help="auto, speed or low-vram."),
    quantize: str | None = typer.Option(None, "--quantize", help="Model weights: int8, fp8 or none."),
    warmup: bool = typer.Option(True, "--warmup/--no-warmup", help="Render a warm-up clip first (loading, compile)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Time one native-length clip and record GPU-seconds per clip where `tale cost` reads it."""

    def action() -> None:
        from tale_cli.config import load_recipe, with_video_overrides
        from tale_cli.pipeline.bench import record_bench, run_bench

        chosen = with_video_overrides(load_recipe(recipe), model=model, steps=steps, memory=memory, quantize=quantize)
        result = run_bench(chosen, warmup=warmup)
        path = record_bench(result)
        if json_output:
            print_json({**result.to_json(), "bench_file": str(path)})
            return
        from rich.table import Table

        table = Table(title=f"bench {result.recipe} on {result.device}", title_justify="left")
        table.add_column("measure")
        table.add_column("value", justify="right")
        per_step = f"{result.seconds_per_step:.3f} s" if result.seconds_per_step is not None else "-"
        rows = [
            ("model", escape(result.model or result.backend)),
            ("native clip", f"{result.native or '-'} · {result.clip_seconds:g} s"),
            ("steps", str(result.steps or "-")),
            ("seconds per step", per_step),
            ("seconds per clip", f"{result.seconds_per_clip:.2f} s"),
            ("GPU-seconds per video second", f"{result.gpu_seconds_per_video_second:.2f}"),
            ("peak VRAM", f"{result.peak_vram_gb:.1f} GiB" if result.peak_vram_gb is not None else "-"),
            ("memory", escape(str((result.memory or {}).get("strategy", "-")))),
        ]
        film = result.film
        if film is not None:
            base = escape(film.base_recipe or f"{film.base_steps} steps")
            rows += [
                (f"film ({film.shots} shots × {film.clips_per_shot} clips)", f"{film.film_s:,.1f} s"),
                (f"base: {base}", f"{film.base_seconds_per_clip:,.2f} s per clip ({film.base_source})"),
                ("base film", f"{film.base_film_s:,.1f} s"),
                ("speed-up over the base (film)", f"×{film.speedup:,.2f}"),
            ]
        for name, value in rows:
            table.add_row(name, value)
        out = console()
        out.print(table)
        out.print(f"recorded in {escape(str(path))}")

    run(action)
