"""Entities end to end: a story's recurring lantern and harbour planned, drawn once, sent with the shots they are in,
shown on the review page; a plan without entities keeps the cache keys it had."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from tale_cli.backends.base import VideoCapabilities
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.errors import ExitCode
from tale_cli.pipeline.shots import build_tasks, draw_board, shot_params_hash
from tale_cli.run.folder import Manifest, RunFolder, expected_refs
from tale_cli.run.identity import file_digest
from tale_cli.story.plan import load_plan

RECIPE = """
width = 160
height = 96
fps = 12
shots = 4
seconds = 1.0

[video]
backend = "preview"
jobs = 2
"""

LANTERN = """---
title: The Brass Lantern
characters:
  - name: Jun
    description: a boy in a grey raincoat
---

Jun found the brass lantern in a trunk. Its glass was cracked, but it still held a candle.

At dusk he carried the lantern down to the harbor, where the boats rocked against the stones.

The fog rolled in over the water. Jun raised the brass lantern high, and a small boat turned toward the light.

By morning the harbor was calm again, and the boats slept at their moorings.
"""


def tale(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def write(tmp_path: Path, story: str = LANTERN) -> tuple[Path, Path]:
    (tmp_path / "story.md").write_text(story, encoding="utf-8")
    (tmp_path / "tiny.toml").write_text(RECIPE, encoding="utf-8")
    return tmp_path / "story.md", tmp_path / "tiny.toml"


def test_the_offline_plan_lists_the_lantern_and_the_harbor_in_the_shots_that_show_them(tmp_path: Path) -> None:
    story, recipe = write(tmp_path)
    code, output = tale("plan", str(story), "-r", str(recipe), "--out", str(tmp_path / "out"), "--json")
    assert code == 0, output
    plan = json.loads(output[output.index("{") :])["plan"]
    kinds = {e["id"]: e["kind"] for e in plan["entities"]}
    assert kinds == {"brass-lantern": "prop", "harbor": "place"}
    for shot in plan["shots"]:
        text = shot["prompt"].casefold()
        assert shot["entities"] == [
            e for e, word in (("brass-lantern", "lantern"), ("harbor", "harbor")) if word in text
        ]
    assert [s["entities"] for s in plan["shots"]] == [
        ["brass-lantern"],
        ["brass-lantern", "harbor"],
        ["brass-lantern"],
        ["harbor"],
    ]


def test_render_draws_each_entity_once_and_a_second_render_pays_nothing(tmp_path: Path) -> None:
    story, recipe = write(tmp_path)
    code, output = tale("render", str(story), "-r", str(recipe), "--out", str(tmp_path / "out"), "--json")
    assert code == 0, output
    run = tmp_path / "out" / "the-brass-lantern"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    for ident in ("jun", "brass-lantern", "harbor"):
        with Image.open(run / "refs" / f"{ident}.png") as picture:
            assert picture.size[0] >= 16
        assert manifest["refs"][ident]["status"] == "done" and manifest["refs"][ident]["path"] == f"refs/{ident}.png"
    page = (run / "review.html").read_text(encoding="utf-8")
    assert "<h2>Entities</h2>" in page and 'src="refs/brass-lantern.png"' in page and 'href="#shot-4"' in page
    with Image.open(run / "storyboard.png") as board:
        assert board.height > 2 * 240  # the shots' row and a row of entities under it

    code, again = tale("render", str(story), "-r", str(recipe), "--out", str(tmp_path / "out"), "--json")
    assert code == 0, again
    report = json.loads(again[again.index("{") :])
    assert [s["status"] for s in report["shots"]] == ["cached"] * 4 and "reference image for" not in again


def test_a_shot_sends_its_references_and_a_one_picture_model_gets_one_board(tmp_path: Path) -> None:
    story, recipe = write(tmp_path)
    code, output = tale("render", str(story), "-r", str(recipe), "--out", str(tmp_path / "out"))
    assert code == 0, output
    folder = RunFolder(tmp_path / "out" / "the-brass-lantern")
    plan, manifest, settings = load_plan(folder.plan), Manifest.load(folder), load_recipe(str(recipe))
    refs = expected_refs(plan, folder)
    sent = build_tasks(plan, settings, folder, manifest, PreviewVideo(settings), refs, speech_audio={})
    # Shot 2 shows the lantern and the harbor: the harbor, never seen, before the lantern, seen in shot 1; shot 3 shows
    # Jun (a character: first) and the lantern.
    assert sent[1].request.reference_images == [refs["harbor"], refs["brass-lantern"]]
    assert sent[2].request.reference_images == [refs["jun"], refs["brass-lantern"]]

    class OnePicture(PreviewVideo):
        def capabilities(self) -> VideoCapabilities:
            return VideoCapabilities(image_to_video=True, text_to_video=False, max_reference_images=0)

    tasks = build_tasks(plan, settings, folder, manifest, OnePicture(settings), refs, speech_audio={})
    (board,) = tasks[1].request.reference_images
    assert tasks[1].request.first_frame == board and board.parent == folder.refs / "boards"
    draw_board(tasks[1], folder)
    with Image.open(board) as picture:
        assert picture.size == (plan.width, plan.height)
    again = build_tasks(plan, settings, folder, manifest, OnePicture(settings), refs, speech_audio={})
    assert [t.params_hash for t in again] == [t.params_hash for t in tasks]
    assert tasks[1].params_hash != sent[1].params_hash


def test_a_plan_without_entities_keeps_its_cache_keys(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    code, output = tale("plan", str(story_file), "-r", str(tiny_recipe), "--out", str(tmp_path / "out"))
    assert code == 0, output
    plan_file = tmp_path / "out" / "the-small-test" / "plan.json"
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    data.pop("entities", None)
    for shot in data["shots"]:
        shot.pop("entities", None)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    code, output = tale("render", str(old), "-r", str(tiny_recipe), "--out", str(tmp_path / "old"))
    assert code == 0, output
    folder = RunFolder(tmp_path / "old" / "the-small-test")
    assert "entities" not in json.loads(folder.plan.read_text(encoding="utf-8"))
    plan, manifest, settings = load_plan(folder.plan), Manifest.load(folder), load_recipe(str(tiny_recipe))
    refs = expected_refs(plan, folder)
    backend = PreviewVideo(settings)
    for task in build_tasks(plan, settings, folder, manifest, backend, refs):
        # The key as plans have always had it: every character on screen, by its reference's bytes.
        keyed = [file_digest(refs[c]) for c in task.shot.characters]
        assert task.request.reference_images == [refs[c] for c in task.shot.characters]
        assert task.params_hash == shot_params_hash(backend, task.request, refs=keyed, first_frame=None)
        assert manifest.shot(task.shot.index).params_hash == task.params_hash
    code, again = tale("render", str(old), "-r", str(tiny_recipe), "--out", str(tmp_path / "old"), "--json")
    assert code == 0, again
    assert [s["status"] for s in json.loads(again[again.index("{") :])["shots"]] == ["cached"] * 3


def test_front_matter_entities_bring_their_pictures_and_a_bad_kind_is_one_clear_error(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), (200, 40, 40)).save(tmp_path / "scarf.png")
    declared = LANTERN.replace(
        "---\n\nJun found",
        "entities:\n  - name: red scarf\n    image: scarf.png\n  - name: harbor\n    description: grey stone quays\n"
        "---\n\nJun found",
    ).replace("a boy in a grey raincoat", "a boy in a grey raincoat and a red scarf")
    story, recipe = write(tmp_path, declared.replace("The fog rolled in", "His red scarf flew. The fog rolled in"))
    code, output = tale("render", str(story), "-r", str(recipe), "--out", str(tmp_path / "out"))
    assert code == 0, output
    run = tmp_path / "out" / "the-brass-lantern"
    plan = load_plan(run / "plan.json")
    assert [(e.id, e.kind, e.reference_image) for e in plan.entities] == [
        ("red-scarf", "wardrobe", "refs/red-scarf.png"),
        ("harbor", "place", None),
    ]
    assert (run / "refs" / "red-scarf.png").is_file() and (run / "refs" / "harbor.png").is_file()
    assert "red-scarf" not in json.loads((run / "manifest.json").read_text(encoding="utf-8"))["refs"]
    assert plan.shots[2].entities == ["red-scarf"] and "harbor, grey stone quays." in plan.shots[1].prompt

    story.write_text(declared.replace("name: harbor\n", "name: harbor\n    kind: weapon\n"), encoding="utf-8")
    code, output = tale("plan", str(story), "-r", str(recipe), "--out", str(tmp_path / "bad"))
    assert code == ExitCode.INPUT
    assert "kind 'weapon' is not one of prop, wardrobe, place" in output and not (tmp_path / "bad").exists()
