"""`tale clean`: it removes only clips no current shot uses (or, with --all, the current ones too), says how much
that frees, removes nothing in a dry run, and refuses what is not a run folder with one line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode

runner = CliRunner()


def render(source: Path, recipe: Path, *out: str) -> dict:
    result = runner.invoke(app, ["render", str(source), "--recipe", str(recipe), *out, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def clean(*args: str) -> dict:
    result = runner.invoke(app, ["clean", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def clips(run_dir: Path) -> list[str]:
    return sorted(path.name for path in (run_dir / "shots" / "by-hash").glob("*.mp4"))


def edited_run(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> tuple[Path, Path, str]:
    """A run whose shot 2 was edited after the first render: the clip from before the edit is no longer current."""
    run_dir = Path(render(story_file, tiny_recipe, "--out", str(tmp_path / "out"))["run_dir"])
    before = json.loads((run_dir / "manifest.json").read_text())["shots"]["2"]["params_hash"]
    plan_path = run_dir / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["shots"][1]["prompt"] = "The harbour at night, lanterns on the water."
    plan_path.write_text(json.dumps(plan, ensure_ascii=False, indent=2))
    assert render(plan_path, tiny_recipe)["counts"]["rendered"] == 1
    return run_dir, plan_path, before


def test_clean_removes_the_clips_no_current_shot_uses(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    run_dir, plan_path, before = edited_run(tmp_path, story_file, tiny_recipe)
    assert len(clips(run_dir)) == 4  # every rendered clip is kept until the user removes it
    size = (run_dir / "shots" / "by-hash" / f"{before}.mp4").stat().st_size

    # The clip from before the edit is also shot 2's take 1; the take rendered after the edit is current.
    old_take = "shots/takes/shot-02-take-1.mp4"
    dry = clean(str(run_dir), "--dry-run")
    assert dry["files"] == [f"shots/by-hash/{before}.mp4", old_take] and dry["bytes_freed"] == size
    assert dry["dry_run"] and len(clips(run_dir)) == 4

    done = clean(str(run_dir))
    assert (done["files_removed"], done["bytes_freed"], done["kept"]) == (2, size, 4)  # 3 clips and 1 reference
    assert f"{before}.mp4" not in clips(run_dir) and len(clips(run_dir)) == 3
    assert not (run_dir / old_take).exists() and (run_dir / "shots/takes/shot-02-take-2.mp4").is_file()
    assert render(plan_path, tiny_recipe)["counts"] == {"shots": 3, "cached": 3, "rendered": 0, "failed": 0}


def test_clean_says_what_it_freed(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    run_dir, _, before = edited_run(tmp_path, story_file, tiny_recipe)
    size = (run_dir / "shots" / "by-hash" / f"{before}.mp4").stat().st_size

    listed = runner.invoke(app, ["clean", str(run_dir), "--dry-run"])
    assert listed.exit_code == 0 and f"would remove shots/by-hash/{before}.mp4" in listed.output
    assert f"would remove 2 file(s), would free {size} bytes" in listed.output

    result = runner.invoke(app, ["clean", str(run_dir)])
    assert result.exit_code == 0 and f"removed 2 file(s), freed {size} bytes" in result.output


def test_clean_all_removes_the_current_clips_too_and_keeps_the_film(
    tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    run_dir, plan_path, _ = edited_run(tmp_path, story_file, tiny_recipe)
    total = sum((run_dir / "shots" / "by-hash" / name).stat().st_size for name in clips(run_dir))

    done = clean(str(run_dir), "--all")

    # 4 clips, 3 shot files and 4 takes (shot 2 has two).
    assert done["keep_current"] is False and done["bytes_freed"] == total and done["files_removed"] == 4 + 3 + 4
    assert clips(run_dir) == [] and list((run_dir / "shots").glob("**/shot-*.mp4")) == []
    assert (run_dir / "film.mp4").is_file() and (run_dir / "refs" / "ada.png").is_file()
    assert render(plan_path, tiny_recipe)["counts"] == {"shots": 3, "cached": 0, "rendered": 3, "failed": 0}


def test_clean_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "keep.mp4").write_bytes(b"not mine to remove")

    result = runner.invoke(app, ["clean", str(tmp_path)])

    assert result.exit_code == ExitCode.INPUT
    assert "is not a run folder" in result.output and (tmp_path / "keep.mp4").is_file()


def test_clean_removes_spoken_clips_the_voice_track_no_longer_plays(
    tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    voiced = tmp_path / "voiced.toml"
    voiced.write_text(
        tiny_recipe.read_text().replace("seconds = 1.0", "seconds = 3.0") + '\n[voice]\nbackend = "espeak"\n'
    )
    run_dir = Path(render(story_file, voiced, "--out", str(tmp_path / "out"))["run_dir"])
    spoken = sorted((run_dir / "voice" / "by-hash").glob("*.wav"))
    plan_path = run_dir / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["shots"][0]["narration"] = "Ada waited."
    plan_path.write_text(json.dumps(plan, ensure_ascii=False, indent=2))
    render(plan_path, voiced)
    now = {clip["params_hash"] for clip in json.loads((run_dir / "manifest.json").read_text())["voice"]["clips"]}
    stale = [path for path in spoken if path.stem not in now]
    assert len(stale) == 1, "the first shot's old narration is no longer played"

    done = clean(str(run_dir))
    assert f"voice/by-hash/{stale[0].name}" in done["files"] and not stale[0].exists()
    assert {path.stem for path in (run_dir / "voice" / "by-hash").glob("*.wav")} == now
    again = runner.invoke(app, ["render", str(plan_path), "--recipe", str(voiced), "--json"])
    assert again.exit_code == 0 and "voice: 0 clips spoken" in again.output


def test_clean_waits_for_a_render_or_with_no_wait_says_who_holds_the_folder(
    tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    import os

    from tale_cli.run.folder import RunFolder
    from tale_cli.run.lock import run_folder_lock

    run_dir = Path(render(story_file, tiny_recipe, "--out", str(tmp_path / "out"))["run_dir"])
    with run_folder_lock(RunFolder(run_dir), "rendering"):
        busy = runner.invoke(app, ["clean", str(run_dir), "--no-wait"])
        assert busy.exit_code == ExitCode.BUSY and f"pid {os.getpid()} is rendering" in busy.output
        dry = runner.invoke(app, ["clean", str(run_dir), "--dry-run", "--no-wait", "--json"])
        assert dry.exit_code == 0, dry.output  # a dry run only reads
