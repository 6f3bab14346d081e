"""Takes: `tale retake`, `takes`, `pick`, `replace`, `lock` and `unlock`, and how `tale render` treats what they chose.

A retake against the fake provider server pays once and a render after it or after a pick pays nothing; a user's
clip is conformed to the film; a locked shot survives a plan edit; bad input is one line and a non-zero exit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloudrender import EXAMPLE_STORY, SMALL_VEO
from typer.testing import CliRunner

from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.errors import BackendError, ExitCode
from tale_cli.media.ffmpeg import count_frames, extract_frame, probe, synthetic_clip
from tale_cli.pipeline.retake import SEED_STEP, next_seed
from tale_cli.run.identity import file_digest

runner = CliRunner()


def tale(*args: str, code: int = 0) -> Any:
    """Run a command; with --json its answer, else the result."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


def render(source: Path, recipe: Path, *more: str) -> dict:
    return tale("render", str(source), "--recipe", str(recipe), *more, "--json")


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def shot_bytes(run_dir: Path, index: int) -> bytes:
    return (run_dir / "shots" / f"shot-{index:02d}.mp4").read_bytes()


@pytest.fixture
def run_dir(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> Path:
    """The tiny story rendered on the preview: three 1-second shots at 160x96, 12 fps."""
    return Path(render(story_file, tiny_recipe, "--out", str(tmp_path / "out"))["run_dir"])


def test_a_retake_pays_once_is_recorded_and_a_render_after_it_or_a_pick_pays_nothing(fake_providers, tmp_path):
    recipe = tmp_path / "veo-small.toml"
    recipe.write_text(SMALL_VEO, encoding="utf-8")
    first = render(EXAMPLE_STORY, recipe, "--out", str(tmp_path / "out"), "--yes")
    run = Path(first["run_dir"])
    assert fake_providers.creates["veo"] == 8
    before = manifest(run)["shots"]["3"]

    # The run records its recipe file: --recipe naming it again is allowed, not needed.
    retaken = tale("retake", str(run), "3", "--recipe", str(recipe), "--yes", "--json")

    assert fake_providers.creates["veo"] == 9, "a retake is one provider job"
    [change] = retaken["shots"]
    assert (change["shot"], change["take"], change["current"], change["how"]) == (3, 2, 2, "rendered")
    assert change["seed"] == before["seed"] + SEED_STEP and change["cost_usd"] > 0
    shot = manifest(run)["shots"]["3"]
    assert [take["take"] for take in shot["takes"]] == [1, 2] and shot["take"] == 2
    made = shot["takes"][1]
    assert made["plan_hash"] == before["params_hash"] != made["params_hash"] == shot["params_hash"]
    assert made["provider_job_id"] and made["cost_usd"] == change["cost_usd"] and made["recipe"] == "veo-small"
    assert (run / made["path"]).samefile(run / "shots" / "shot-03.mp4")
    assert (run / made["path"]).samefile(run / "shots" / "by-hash" / f"{made['params_hash']}.mp4")
    assert retaken["film"] and abs(probe(run / "film.mp4").duration_s - 64.0) < 0.1
    # The film is the cut of the current takes (the fake provider's clips of any seed are alike, so it may be the
    # very film it was): what the manifest records of it is what is on disk.
    assert manifest(run)["film"]["file"]["sha256"] == file_digest(run / "film.mp4")

    spent = tale("cost", "spent", str(run), "--json")
    shots = manifest(run)["shots"].values()
    assert spent["runs"][0]["items"] == 1 + 2 + 9, "the plan, two references and nine takes"
    assert spent["total_usd"] == pytest.approx(
        sum(take["cost_usd"] for shot in shots for take in shot["takes"])
        + manifest(run)["planner"]["cost_usd"]
        + sum(ref["cost_usd"] for ref in manifest(run)["refs"].values()),
        abs=0.01,
    )

    again = render(run / "plan.json", recipe, "--yes")
    assert again["counts"] == {"shots": 8, "cached": 8, "rendered": 0, "failed": 0}
    assert fake_providers.creates["veo"] == 9
    assert shot_bytes(run, 3) == (run / made["path"]).read_bytes()

    picked = tale("pick", str(run), "3", "1", "--json")
    assert picked["shots"][0]["current"] == 1 and picked["fast_path"] is True
    assert shot_bytes(run, 3) == (run / before["takes"][0]["path"]).read_bytes()
    after_pick = render(run / "plan.json", recipe, "--yes")
    assert after_pick["counts"]["rendered"] == 0 and fake_providers.creates["veo"] == 9
    assert manifest(run)["shots"]["3"]["take"] == 1


def test_keep_takes_and_pick(run_dir: Path, tiny_recipe: Path) -> None:
    film = (run_dir / "film.mp4").read_bytes()

    kept = tale("retake", str(run_dir), "2", "--recipe", str(tiny_recipe), "--keep", "--json")

    assert kept["shots"][0]["take"] == 2 and kept["shots"][0]["current"] == 1
    assert kept["film"] is None and (run_dir / "film.mp4").read_bytes() == film
    listed = tale("takes", str(run_dir), "2", "--json")
    [shot] = listed["shots"]
    assert [(t["take"], t["current"], t["backend"], t["on_disk"]) for t in shot["takes"]] == [
        (1, True, "preview", True),
        (2, False, "preview", True),
    ]
    assert shot["takes"][1]["seed"] == shot["takes"][0]["seed"] + SEED_STEP

    picked = tale("pick", str(run_dir), "2", "2")
    assert "shot 2: take 2 picked" in picked.output and "cut again (no voice or music)" in picked.output
    assert shot_bytes(run_dir, 2) == (run_dir / "shots" / "takes" / "shot-02-take-2.mp4").read_bytes()
    page = (run_dir / "review.html").read_text(encoding="utf-8")
    assert "<dt>take</dt><dd>2 of 2</dd>" in page

    # The plan is unchanged, so the picked take is the shot's clip: nothing renders.
    assert render(run_dir / "plan.json", tiny_recipe)["counts"]["rendered"] == 0
    assert render(run_dir / "plan.json", tiny_recipe, "--dry-run")["counts"]["cached"] == 3
    table = tale("takes", str(run_dir))
    assert "current" in table.output and table.output.count("preview") == 4  # shots 1 and 3, and shot 2's two takes


def test_a_retake_with_a_seed_and_prompt_then_the_same_seed_finds_it_again(run_dir: Path, tiny_recipe: Path) -> None:
    made = tale("retake", str(run_dir), "1", "3", "--recipe", str(tiny_recipe), "--seed", "7", "--prompt", "Rain.")
    assert "shot 1: take 2 rendered (seed 7), now current" in made.output
    assert "shot 3: take 2 rendered (seed 7), now current" in made.output
    assert manifest(run_dir)["shots"]["1"]["takes"][1]["prompt"] == "Rain."

    again = tale("retake", str(run_dir), "1", "--recipe", str(tiny_recipe), "--seed", "7", "--prompt", "Rain.")

    assert "shot 1: take 2 found again" in again.output
    assert len(manifest(run_dir)["shots"]["1"]["takes"]) == 2


@pytest.mark.parametrize(
    ("size", "fps", "seconds", "audio"),
    [((320, 320), 30, 2.5, False), ((200, 100), 25, 0.4, True)],
    ids=["square-longer-silent", "wide-shorter-with-sound"],
)
def test_a_replaced_clip_is_conformed_to_the_film(
    run_dir: Path, tiny_recipe: Path, tmp_path: Path, size: tuple[int, int], fps: int, seconds: float, audio: bool
) -> None:
    mine = synthetic_clip(
        tmp_path / "mine.mp4", width=size[0], height=size[1], fps=fps, duration_s=seconds, audio=audio
    )

    replaced = tale("replace", str(run_dir), "2", str(mine), "--recipe", str(tiny_recipe), "--json")

    assert replaced["shots"][0]["how"] == "replaced" and replaced["film"]
    clip = run_dir / "shots" / "shot-02.mp4"
    info = probe(clip)
    assert (info.width, info.height, info.fps) == (160, 96, 12.0)
    assert abs(info.duration_s - 1.0) <= 1 / 12 and count_frames(clip) == 12
    assert info.has_audio  # its own sound, or silence, like the animatic's clips
    shot = manifest(run_dir)["shots"]["2"]
    take = shot["takes"][-1]
    assert (shot["backend"], take["backend"], take["model"], take["source"], take["cost_usd"]) == (
        "user",
        "user",
        "clip",
        "mine.mp4",
        0.0,
    )
    assert abs(probe(run_dir / "film.mp4").duration_s - 3.0) < 0.1
    # Replaced for the plan as it is: a render keeps it.
    assert render(run_dir / "plan.json", tiny_recipe)["counts"]["rendered"] == 0
    assert (run_dir / take["path"]).samefile(clip)


def test_a_still_is_animated_by_the_camera_move_or_by_the_recipe(
    run_dir: Path, tiny_recipe: Path, tmp_path: Path
) -> None:
    from PIL import Image

    still = tmp_path / "still.jpg"
    Image.linear_gradient("L").resize((300, 500)).convert("RGB").save(still)

    tale("replace", str(run_dir), "1", str(still), "--recipe", str(tiny_recipe))

    clip = run_dir / "shots" / "shot-01.mp4"
    info = probe(clip)
    assert (info.width, info.height, info.fps) == (160, 96, 12.0) and count_frames(clip) == 12
    first, last = (extract_frame(clip, tmp_path / f"{at}.png", at=at) for at in ("first", "last"))
    assert first.read_bytes() != last.read_bytes(), "the camera moved"
    assert manifest(run_dir)["shots"]["1"]["takes"][-1]["model"] == "still"

    animated = tale("replace", str(run_dir), "1", str(still), "--animate", "--recipe", str(tiny_recipe), "--json")

    [change] = animated["shots"]
    assert (change["take"], change["current"], change["how"]) == (3, 3, "rendered")
    take = manifest(run_dir)["shots"]["1"]["takes"][2]
    assert (take["backend"], take["source"]) == ("preview", "still.jpg")
    assert list((run_dir / "shots" / "by-hash").glob("*.first.png"))


def test_a_locked_shot_survives_a_plan_edit(run_dir: Path, tiny_recipe: Path) -> None:
    locked = tale("lock", str(run_dir), "2")
    assert "shot 2 locked (take 1)" in locked.output
    clips = {index: shot_bytes(run_dir, index) for index in (1, 2, 3)}
    plan_path = run_dir / "plan.json"
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    for shot in plan["shots"]:
        shot["narration"] = "Something else is said here."  # the animatic draws it: every shot's key changes
    plan_path.write_text(json.dumps(plan, ensure_ascii=False, indent=2), encoding="utf-8")

    result = tale("render", str(plan_path), "--recipe", str(tiny_recipe))

    assert "2 rendered, 1 cached, 0 failed; 1 kept locked" in result.output
    assert "shot  2 cached: kept take 1 (locked)" in result.output
    assert shot_bytes(run_dir, 2) == clips[2]
    assert shot_bytes(run_dir, 1) != clips[1] and shot_bytes(run_dir, 3) != clips[3]
    assert manifest(run_dir)["shots"]["2"]["locked"] is True

    tale("unlock", str(run_dir), "2")
    unlocked = render(plan_path, tiny_recipe)
    assert unlocked["counts"]["rendered"] == 1 and unlocked["locked"] == 0
    assert shot_bytes(run_dir, 2) != clips[2]
    assert manifest(run_dir)["shots"]["2"]["take"] == 2


def test_an_unlocked_chosen_take_gives_way_to_a_plan_edit(run_dir: Path, tiny_recipe: Path) -> None:
    tale("retake", str(run_dir), "3", "--recipe", str(tiny_recipe))
    plan_path = run_dir / "plan.json"
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    plan["shots"][2]["prompt"] = "The lighthouse at night."
    plan_path.write_text(json.dumps(plan, ensure_ascii=False, indent=2), encoding="utf-8")

    assert render(plan_path, tiny_recipe)["counts"]["rendered"] == 1

    shot = manifest(run_dir)["shots"]["3"]
    assert [take["take"] for take in shot["takes"]] == [1, 2, 3] and shot["take"] == 3
    picked = tale("pick", str(run_dir), "3", "2")
    assert "take 2 was made for an earlier version of shot 3" in " ".join(picked.output.split())
    assert render(plan_path, tiny_recipe)["counts"]["rendered"] == 0  # the plan's clip is found again
    assert manifest(run_dir)["shots"]["3"]["take"] == 3


def test_a_failed_retake_keeps_the_take_the_shot_had(
    run_dir: Path, tiny_recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    film, clip = (run_dir / "film.mp4").read_bytes(), shot_bytes(run_dir, 2)

    def down(self: PreviewVideo, request: Any) -> Any:
        raise BackendError("the provider is down")

    monkeypatch.setattr(PreviewVideo, "render_shot", down)
    failed = tale("retake", str(run_dir), "2", "--recipe", str(tiny_recipe), code=ExitCode.SHOTS_FAILED)

    assert "1 of 1 retakes failed (shot 2: the provider is down)" in " ".join(failed.output.split())
    shot = manifest(run_dir)["shots"]["2"]
    assert (shot["status"], shot["take"], len(shot["takes"])) == ("done", 1, 1)
    assert shot_bytes(run_dir, 2) == clip and (run_dir / "film.mp4").read_bytes() == film


def test_a_run_from_before_takes_has_its_clips_as_take_one(run_dir: Path, tiny_recipe: Path) -> None:
    document = manifest(run_dir)
    for shot in document["shots"].values():
        del shot["takes"], shot["take"]
    (run_dir / "manifest.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    (run_dir / "jobs.jsonl").unlink()
    for path in (run_dir / "shots" / "takes").iterdir():
        path.unlink()

    listed = tale("takes", str(run_dir), "--json")
    assert [[(t["take"], t["current"]) for t in s["takes"]] for s in listed["shots"]] == [[(1, True)]] * 3

    tale("retake", str(run_dir), "1", "--recipe", str(tiny_recipe))

    shot = manifest(run_dir)["shots"]["1"]
    assert [take["take"] for take in shot["takes"]] == [1, 2] and shot["take"] == 2
    assert (run_dir / "shots" / "takes" / "shot-01-take-1.mp4").is_file()


def test_a_path_in_the_manifest_is_never_where_a_take_is_read_or_written(run_dir: Path, tiny_recipe: Path) -> None:
    tale("retake", str(run_dir), "2", "--recipe", str(tiny_recipe), "--keep")
    document = manifest(run_dir)
    document["shots"]["2"]["takes"][1]["path"] = "../../outside.mp4"
    (run_dir / "manifest.json").write_text(json.dumps(document, indent=2), encoding="utf-8")

    tale("pick", str(run_dir), "2", "2")

    assert not (run_dir.parent.parent / "outside.mp4").exists()
    assert shot_bytes(run_dir, 2) == (run_dir / "shots" / "takes" / "shot-02-take-2.mp4").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pick", "{run}", "9", "1"], "shot 9 is not in this plan (it has shots 1-3)"),
        (["pick", "{run}", "2", "7"], "shot 2 has no take 7 (it has takes 1-1)"),
        (["retake", "{run}", "0"], "shot 0 is not in this plan"),
        (["retake", "{run}", "1", "--seed", "3", "--new-seed"], "give --seed or --new-seed, not both"),
        (["replace", "{run}", "1", "{tmp}/missing.mp4"], "file not found"),
        (["replace", "{run}", "1", "{run}/plan.json"], "is not a video file ffmpeg can read"),
        (["replace", "{run}", "1", "{run}/shots/shot-02.mp4", "--animate"], "--animate takes a still picture"),
        (["lock", "{tmp}", "1"], "is not a run folder (no plan.json)"),
        (["takes", "{tmp}/nowhere"], "is not a folder"),
        (["retake", "{run}", "1", "--recipe", "{tmp}/gone.toml"], "recipe file not found"),
    ],
)
def test_bad_input_is_one_line_a_nonzero_exit_and_nothing_lost(
    run_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    before = {path: path.read_bytes() for path in (run_dir / "manifest.json", run_dir / "film.mp4")}

    result = runner.invoke(app, [arg.format(run=run_dir, tmp=tmp_path) for arg in args])

    assert result.exit_code in (ExitCode.INPUT, ExitCode.RECIPE), result.output
    assert message in " ".join(result.output.split())
    assert result.output.count("error:") == 1
    assert {path: path.read_bytes() for path in before} == before


def test_a_retake_finds_the_runs_own_recipe_file_and_says_so_when_it_is_gone(run_dir: Path, tiny_recipe: Path) -> None:
    # The run was rendered with a recipe file of the user's: a retake finds it by itself.
    assert manifest(run_dir)["run"]["recipe_file"] == str(tiny_recipe.resolve())
    tale("retake", str(run_dir), "1", "--new-seed")
    moved = tiny_recipe.rename(tiny_recipe.with_name("elsewhere.toml"))
    before = (run_dir / "manifest.json").read_bytes()
    result = runner.invoke(app, ["retake", str(run_dir), "1", "--new-seed"])
    assert result.exit_code == ExitCode.RECIPE and "the run's recipe 'tiny' cannot be found" in result.output
    assert (run_dir / "manifest.json").read_bytes() == before
    tale("retake", str(run_dir), "1", "--new-seed", "--recipe", str(moved))


def test_next_seed_skips_the_seeds_takes_used() -> None:
    assert next_seed(5, set()) == 5 + SEED_STEP
    assert next_seed(5, {5 + SEED_STEP}) == 5 + 2 * SEED_STEP
    assert next_seed(2**32 - 1, set()) == SEED_STEP - 1


def test_a_new_take_in_a_chain_says_which_shots_continue_from_the_old_one(tmp_path: Path, tiny_recipe: Path) -> None:
    story = tmp_path / "chain.md"
    story.write_text(
        "# Chain\n\nAda walked to the harbour. The boats were asleep. She found a bottle.\n", encoding="utf-8"
    )
    chain = tmp_path / "chain.toml"
    chain.write_text(tiny_recipe.read_text().replace("shots = ", 'continuity = "chain"\nshots = ', 1), encoding="utf-8")
    made = render(story, chain, "--out", str(tmp_path / "out"))
    run = Path(made["run_dir"])
    assert [shot["continuity"] for shot in json.loads((run / "plan.json").read_text())["shots"]] == [False, True, True]

    first = tale("retake", str(run), "1", "--recipe", str(chain), "--json")
    assert any(note.startswith("shot(s) 2, 3 continue from the last frame") for note in first["notes"])
    assert f"`tale retake {run} 2 3`" in " ".join(first["notes"])
    last = tale("retake", str(run), "3", "--recipe", str(chain), "--json")
    assert not any("continue from the last frame" in note for note in last["notes"])  # nothing follows shot 3
