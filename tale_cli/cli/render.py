"""`tale render`: story or plan -> references -> shots -> film, with live progress."""

from __future__ import annotations

from pathlib import Path

import typer

from tale_cli.cli.common import console, escape, print_json, run
from tale_cli.literals import Aspect, Resolution


def render(
    source: Path = typer.Argument(..., help="story.md (Markdown) or a plan.json to render exactly."),
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe name or TOML file [default: preview]."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output root; the run folder is OUT/<story-slug>."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, max=64, help="Shots rendered at once."),
    planner: str | None = typer.Option(None, "--planner", help="Override the recipe's planner for this run."),
    aspect: Aspect | None = typer.Option(
        None, "--aspect", help="Film shape, over the story's (or plan's) and recipe's."
    ),
    resolution: Resolution | None = typer.Option(
        None, "--resolution", help="Film resolution (the frame's short side), over the story's and the recipe's."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and what would run; write nothing."),
    draft: bool = typer.Option(
        False,
        "--draft",
        help="Render at the recipe's \\[draft] tier into film.draft.mp4; `tale finalize` makes film.mp4.",
    ),
    burn_subtitles: bool = typer.Option(False, "--burn-subtitles", help="Burn the narration into the picture."),
    transition: str | None = typer.Option(None, "--transition", help="cut (default) or fade[:SECONDS]."),
    no_c2pa: bool = typer.Option(False, "--no-c2pa", help="Leave the film's signed Content Credentials (C2PA) out."),
    watermark: str | None = typer.Option(
        None, "--watermark", help="Burn a visible mark into the film (not the shots): TEXT|IMAGE[:POSITION[:OPACITY]]."
    ),
    invisible_watermark: str | None = typer.Option(
        None, "--invisible-watermark", help="Embed an invisible mark (up to 6 bytes) that `tale verify` reads back."
    ),
    voice: str | None = typer.Option(
        None, "--voice", help="Who speaks the narration: BACKEND[:VOICE] (espeak, openai, gemini; `tale voices`)."
    ),
    no_voice: bool = typer.Option(False, "--no-voice", help="No voice track: the narration is subtitles only."),
    music: str | None = typer.Option(
        None, "--music", help="Music bed under the film, ducked under the voice: FILE, lyria (composed) or none."
    ),
    audio: Path | None = typer.Option(None, "--audio", help="The same as --music FILE."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    private: bool = typer.Option(False, "--private", help="Only local backends; the run folder is owner-only."),
    seal: bool | None = typer.Option(
        None,
        "--seal/--no-seal",
        help="Keep the story's words in the run folder encrypted at rest (age; TALE_AGE_IDENTITY). "
        "Default: sealed when --private and an identity is at hand.",
        show_default=False,
    ),
    seal_media: bool = typer.Option(
        False,
        "--seal-media",
        help="Keep the run's media (clips, pictures, voice, music, the film) encrypted at rest too; implies --seal.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start a paid render without asking."),
    max_cost: float | None = typer.Option(None, "--max-cost", min=0, help="Refuse to start above this estimate (USD)."),
    prices: str | None = typer.Option(
        None, "--prices", help="Price book for this run (estimate, guard, recorded costs): an id or a .toml file."
    ),
    model: str | None = typer.Option(None, "--model", help="Video model for this run: hub id or local folder."),
    steps: int | None = typer.Option(
        None, "--steps", min=1, max=200, help="Denoising steps for this run (local models)."
    ),
    memory: str | None = typer.Option(None, "--memory", help="Local GPU memory: auto, speed or low-vram."),
    quantize: str | None = typer.Option(
        None, "--quantize", help="Local model weights: int8, fp8 or none (default: the recipe's, else auto memory)."
    ),
    devices: str | None = typer.Option(
        None, "--devices", help="One worker process per GPU: all, or 0,1,… (local models)."
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="If another command is writing the run folder, exit (code 13) instead of waiting."
    ),
) -> None:
    """Render a story (or a plan.json) into a one-minute film."""

    def action() -> None:
        from tale_cli.backends.models import check_local_models
        from tale_cli.cli.cost import terminal_spending
        from tale_cli.cli.progress import ProgressView
        from tale_cli.cli.settings import resolve_out, resolve_recipe, say_shape
        from tale_cli.config import draft_recipe, with_sound_overrides, with_video_overrides
        from tale_cli.errors import InputError, ShotsFailedError
        from tale_cli.executors import open_executor
        from tale_cli.film.music import composes
        from tale_cli.pipeline import RenderOptions, is_plan_file
        from tale_cli.pipeline import render as render_film
        from tale_cli.pricing.book import with_prices

        bed = music if music is not None else (str(audio) if audio is not None else None)
        if bed not in (None, "none") and not composes(bed) and not Path(bed).expanduser().is_file():
            raise InputError(f"music file not found: {bed}", hint="give an audio file, lyria, or --music none")
        base = resolve_recipe(recipe)
        tiered = draft_recipe(base) if draft else base
        chosen = with_video_overrides(
            tiered, model=model, steps=steps, memory=memory, devices=devices, quantize=quantize
        )
        chosen = with_sound_overrides(chosen, voice=voice, no_voice=no_voice, music=bed)
        chosen = with_prices(chosen, prices)
        shaped = say_shape(source, chosen, aspect=aspect, resolution=resolution)
        if not dry_run:
            check_local_models(chosen, planning=not is_plan_file(source), planner=planner)
        options = RenderOptions(
            recipe=chosen,
            out_root=resolve_out(out),
            run_dir=None,
            jobs=jobs,
            dry_run=dry_run,
            planner=planner,
            burn_subtitles=burn_subtitles,
            transition=transition,
            c2pa=not no_c2pa,
            watermark=watermark,
            invisible_watermark=invisible_watermark,
            private=private,
            seal=seal,
            seal_media=seal_media,
            wait=not no_wait,
            aspect=aspect,
            resolution=resolution,
            max_cost=max_cost,
        )
        # Without --devices the pipeline opens the default executor itself, around the backend it checked; with
        # them, the workers' backends are made for the film's shape, as the pipeline's own would be.
        if chosen.video.devices and not dry_run:
            options.executor = open_executor(shaped, devices=chosen.video.devices)
        try:
            with ProgressView(json_mode=json_output) as view:
                spending = terminal_spending(max_cost=max_cost, yes=yes, quiet=json_output, pause=view.paused)
                options.yes, options.confirm, options.show_spend = spending.yes, spending.confirm, spending.show
                report = render_film(source, options, view)
        finally:
            if options.executor is not None:
                options.executor.close()
        if json_output:
            print_json(report.to_json())
        else:
            _print_summary(report)
        if report.failed:
            first = report.failed[0]
            raise ShotsFailedError(
                f"{len(report.failed)} of {len(report.shots)} shots failed (shot {first.index}: {first.error})",
                hint="run the same command again to retry only the failed shots",
            )

    run(action)


def _print_summary(report: object) -> None:
    from tale_cli.pipeline import RenderReport

    assert isinstance(report, RenderReport)
    out = console()
    if report.dry_run:
        from tale_cli.cli.plan import plan_table

        out.print(plan_table(report.plan))
        if report.planning_usd is not None:
            out.print(f"{escape(report.plan_source)}; planning would cost about ${report.planning_usd:.2f}")
        out.print(
            f"dry run: {report.would_render} shots would render, {report.cached} cached; run folder {escape(str(report.run_dir))}"
        )
        return
    counts = f"{report.rendered} rendered, {report.cached} cached, {len(report.failed)} failed"
    if report.locked:
        counts += f"; {report.locked} kept locked"
    if report.film is not None:
        out.print(
            f"[green]{'draft film' if report.tier == 'draft' else 'film'}[/] {escape(str(report.film))} · "
            f"{report.duration_s:.1f} s · {len(report.shots)} shots ({counts}) · {report.seconds:.1f} s"
        )
        if report.final_film is not None:
            out.print(f"[green]final film[/] {escape(str(report.final_film))}")
        elif report.tier == "draft":
            out.print(f"`tale finalize {escape(str(report.run_dir))}` renders the final film of these takes")
    else:
        out.print(f"shots: {counts}; no film stitched")
    if report.judge is not None:
        out.print(escape(judge_line(report.judge)))
    if report.review is not None:
        out.print(f"review page {escape(str(report.review))}")


def judge_line(judged: dict) -> str:
    """The render's judging in one line: the film's mean and weakest score, and what the retakes did."""
    score = judged["summary"].get("score")
    line = f"judge ({judged['backend']})" + (
        f": score mean {score['mean']:.2f}, min {score['min']:.2f}" if score else ""
    )
    retakes = judged.get("retakes")
    if retakes:
        moved = ", ".join(
            f"shot {m['shot']} {m['before'] if m['before'] is None else round(m['before'], 2)}"
            f"→{m['after'] if m['after'] is None else round(m['after'], 2)}"
            for m in retakes["moves"]
        )
        line += (
            f"; {retakes['retaken']} shots retaken ({retakes['takes_made']} new takes{': ' + moved if moved else ''})"
        )
        if retakes.get("stopped"):
            line += f"; stopped: {retakes['stopped']}"
    return line
