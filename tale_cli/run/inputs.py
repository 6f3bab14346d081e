"""A run folder as stitch input: its current clips, the plan's captions, the cues its voice track speaks, the shots whose
picture already draws their words, the film's size — read from plan.json and the manifest."""

from __future__ import annotations

from pathlib import Path

from tale_cli.errors import InputError
from tale_cli.film.stitch import StitchInputs
from tale_cli.film.subtitles import film_cues, shot_captions
from tale_cli.run.folder import Manifest, RunFolder, VoiceRecord
from tale_cli.story.plan import Plan, load_plan


def run_inputs(run_dir: Path, *, output: Path | None = None) -> StitchInputs:
    """The run folder's shots (plan.json + shots/shot-NN.mp4), narration and size, for stitching."""
    folder = RunFolder(run_dir)
    plan_file = folder.plan
    if not plan_file.is_file():
        raise InputError(
            f"{run_dir} is a folder without plan.json",
            hint="give a run folder made by `tale render`, or the clip files themselves",
        )
    plan = load_plan(plan_file)
    clips = [folder.shot_file(shot.index) for shot in plan.shots]
    missing = [clip for clip in clips if not clip.is_file()]
    if missing:
        raise InputError(
            f"{missing[0]} is missing ({len(missing)} of {len(clips)} shots have no clip)",
            hint=f"run `tale render {plan_file}` to render them",
        )
    return StitchInputs(
        clips=clips,
        captions=shot_captions(plan),
        cues=film_cues(plan, run_voice(folder.manifest)),
        drawn=drawn_captions(plan, folder.manifest),
        width=plan.width,
        height=plan.height,
        fps=plan.fps,
        output=output if output is not None else folder.film,
        run_dir=run_dir,
    )


def drawn_captions(plan: Plan, manifest: Path) -> list[int]:
    """Shots the preview drew with their narration in the picture: a render without --burn-subtitles gives the
    animatic its caption (one with it leaves the caption to the burn)."""
    data = Manifest.read(manifest)
    if data is None or (data.film is not None and data.film.burn_subtitles):
        return []
    return [
        shot.index
        for shot in plan.shots
        if shot.narration.strip()
        and (entry := data.shots.get(str(shot.index))) is not None
        and entry.backend == "preview"
    ]


def run_voice(manifest: Path) -> VoiceRecord | None:
    """The run's voice track as its manifest records it."""
    data = Manifest.read(manifest)
    return data.voice if data is not None else None
