"""The judge and the plan's entities (props, wardrobe, places): each entity on screen is scored as a character is, a
clip that lost its prop scores lower on it, the film's summary names each entity's worst shot, the retake bar reads
the weakest entity, Gemini is asked about each one, and a shot without entities keeps its cached judgement.

With the local judge's tiny random-weight models the embeddings mean nothing: what tells the clips apart here is its
colour match (the reference's colours in the frames' best window, tests/media/test_colours.py), which measures
pixels whatever the weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.media.ffmpeg import EncodeSettings, run_ffmpeg

runner = CliRunner()
KITE_RED = (220, 30, 30)
# Where the kite flies in every clip: a red square in the frame's upper right (160x96 frames).
KITE_BOX = "x=100:y=16:w=36:h=36"


def tale(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def drawn_over(source: Path, target: Path, colour: str) -> Path:
    """`source` with a filled square over the kite's place, in `colour`."""
    run_ffmpeg(["-i", str(source), "-vf", f"drawbox={KITE_BOX}:c={colour}:t=fill",
                *EncodeSettings().video_args(12), "-an", str(target)])  # fmt: skip
    return target


class KitePreview(PreviewVideo):
    """The preview, with a red kite drawn into every clip."""

    def render_shot(self, request: ShotRequest) -> RenderResult:
        result = super().render_shot(request)
        drawn_over(request.output, request.output.with_name(request.output.name + ".kite.mp4"), "0xDC1E1E").replace(
            request.output
        )
        return result


def with_entity(run_dir: Path, shots: list[int], *, picture: bool = True) -> None:
    """The run's plan with a red kite (its reference a red square in refs/) on screen in `shots`."""
    plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    kite: dict[str, Any] = {"id": "kite", "kind": "prop", "name": "Red kite", "description": "a red square kite"}
    if picture:
        (run_dir / "refs").mkdir(exist_ok=True)
        Image.new("RGB", (48, 48), KITE_RED).save(run_dir / "refs" / "kite.png")
        kite["reference_image"] = "refs/kite.png"
    plan["entities"] = [kite]
    for shot in plan["shots"]:
        if shot["index"] in shots:
            shot["entities"] = ["kite"]
    (run_dir / "plan.json").write_text(json.dumps(plan, indent=2), encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("transformers")
    import tiny_judges
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-judge")
    return tiny_judges.save_detector(root / "detector"), tiny_judges.save_embedder(root / "embedder")


@pytest.fixture
def run_dir(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> Path:
    """The tiny story rendered on the preview: three 1-second shots at 160x96, 12 fps."""
    made = tale("render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "out"), "--json")
    return Path(made["run_dir"])


def test_a_replaced_clip_without_the_prop_scores_lower_on_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, story_file: Path, tiny_recipe: Path, tiny_judge: tuple[Path, Path]
) -> None:
    import tiny_judges
    from providers import register

    from tale_cli.registry import Role

    register(monkeypatch, "kite-preview", Role.VIDEO, KitePreview, local=True)
    recipe = tmp_path / "kite.toml"
    text = tiny_recipe.read_text().replace('backend = "preview"', 'backend = "kite-preview"', 1)
    recipe.write_text(text + tiny_judges.judge_recipe_lines(*tiny_judge, detect_threshold=0.0), encoding="utf-8")
    made = tale("render", str(story_file), "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--json")
    run_dir = Path(made["run_dir"])
    with_entity(run_dir, [1, 2, 3])
    # Shot 3 replaced by a clip in which a grey patch hides the kite.
    plain = drawn_over(run_dir / "shots" / "shot-03.mp4", tmp_path / "plain.mp4", "0x808080")
    tale("replace", str(run_dir), "3", str(plain), "--recipe", str(recipe))

    report = tale("judge", str(run_dir), "--recipe", str(recipe), "--json")

    current = {row["shot"]: row for row in report["shots"] if row["current"]}
    kite = {shot: row["entities"]["kite"] for shot, row in current.items()}
    assert all(seen["kind"] == "prop" and seen["found"] is True for seen in kite.values())
    assert kite[3]["cross"] < min(kite[1]["cross"], kite[2]["cross"]), kite
    assert kite[3]["score"] < min(kite[1]["score"], kite[2]["score"])
    assert current[3]["weakest"] <= kite[3]["score"]
    summary = report["entities"]["kite"]
    assert (summary["kind"], summary["shots"], summary["found"], summary["worst_shot"]) == ("prop", 3, 3, 3)
    assert summary["worst"] == kite[3]["score"] and summary["cross"]["min"] == kite[3]["cross"]
    assert set(report["characters"]) == {"ada"} and report["characters"]["ada"]["kind"] == "character"
    # Kept where the characters' judgements are, so they outlive the command.
    kept = manifest(run_dir)
    replaced = kept["shots"]["3"]
    take = next(t for t in replaced["takes"] if t["take"] == replaced["take"])
    assert take["judge"]["entities"]["kite"]["cross"] == kite[3]["cross"]
    assert kept["judge"]["entities"]["kite"]["worst_shot"] == 3
    table = tale("judge", str(run_dir), "--recipe", str(recipe))
    assert "kite (prop): worst shot 3" in table.output


def test_a_shot_without_entities_keeps_its_cached_judgement(run_dir: Path) -> None:
    from tale_cli.config import JudgeConfig, Recipe
    from tale_cli.files import digest
    from tale_cli.judge.scoring import Judge
    from tale_cli.run.folder import RunFolder
    from tale_cli.run.identity import file_digest
    from tale_cli.story.plan import load_plan

    first = tale("judge", str(run_dir), "--json")
    assert first["judged"] == 3 and first["entities"] == {}
    with_entity(run_dir, [2])

    again = tale("judge", str(run_dir), "--json")

    assert (again["cached"], again["judged"]) == (2, 1), "only the shot with the kite on screen is judged again"
    assert [row["shot"] for row in again["shots"] if not row["cached"]] == [2]
    # The key of a shot without entities is made of what it was made of before there were any.
    plan = load_plan(run_dir / "plan.json")
    judge = Judge(RunFolder(run_dir), plan, Recipe(judge=JudgeConfig()), None)
    take = manifest(run_dir)["shots"]["1"]["takes"][0]
    ada = plan.characters[0]
    before = {"settings": judge.settings, "clip": take["file"]["sha256"], "prompt": plan.shots[0].prompt,
              "characters": [["ada", ada.description, file_digest(run_dir / "refs" / "ada.png")]]}  # fmt: skip
    key = judge._key(1, take["file"]["sha256"], judge._characters(1), judge._entities(1))
    assert key == digest(before)[:32] == take["judge"]["key"]
    assert (run_dir / "judge" / f"{key}.json").is_file()


def test_the_gemini_judge_is_asked_about_each_entity_on_screen(fake_providers, run_dir: Path) -> None:
    with_entity(run_dir, [1, 2])
    fake_providers.absent_things = {"kite"}
    fake_providers.stray_thing = "balloon"

    report = tale("judge", str(run_dir), "--backend", "gemini", "--json")

    asked = [r["json"] for r in fake_providers.requests if r["path"].endswith(":generateContent")]
    assert len(asked) == 3
    by_shot = {row["shot"]: row for row in report["shots"]}
    for body in asked:
        text = " ".join(part.get("text", "") for part in body["contents"][0]["parts"])
        pictures = sum(1 for part in body["contents"][0]["parts"] if part.get("inlineData"))
        schema = body["generationConfig"]["responseJsonSchema"]["properties"]
        if "Things on screen:" in text:
            assert "- kite (prop): Red kite, a red square kite" in text and "Reference picture of kite:" in text
            assert "entities" in schema and pictures == 4 + text.count("Reference picture of "), "frames, references"
        else:
            assert "entities" not in schema, "a shot without entities is asked as before"
    for shot in (1, 2):
        seen = by_shot[shot]["entities"]["kite"]
        assert (seen["found"], seen["cross"], seen["score"]) == (False, 0.0, 0.0)
        assert by_shot[shot]["missing"] == ["kite"] and by_shot[shot]["weakest"] == 0.0
        assert "the judge's verdict was repaired" in by_shot[shot]["notes"], "the stray balloon was left out"
    assert by_shot[3]["entities"] == {} and by_shot[3]["notes"] == []
    assert report["entities"]["kite"]["missing"] == [1, 2]
    take = manifest(run_dir)["shots"]["1"]["takes"][0]["judge"]
    assert take["entities"]["kite"] == {"found": False, "cross": 0.0, "self_score": None,
                                        "reason": "kite is nowhere"}  # fmt: skip


def test_the_retake_bar_reads_the_weakest_entity_on_screen(fake_providers, run_dir: Path, tiny_recipe: Path) -> None:
    with_entity(run_dir, [2])
    fake_providers.absent_things = {"kite"}
    recipe = tiny_recipe.parent / "retaking.toml"
    recipe.write_text(tiny_recipe.read_text() + '[judge]\nbackend = "gemini"\nretake_below = 0.5\nmax_retakes = 1\n')

    made = tale("render", str(run_dir / "plan.json"), "--recipe", str(recipe), "--yes", "--json")

    retakes = made["judge"]["retakes"]
    assert (retakes["retaken"], retakes["takes_made"]) == (1, 1), "shot 2 only: its kite is nowhere"
    [move] = retakes["moves"]
    assert (move["shot"], move["before"], move["after"], move["takes"]) == (2, 0.0, 0.0, 2)
    takes = {index: len(shot["takes"]) for index, shot in manifest(run_dir)["shots"].items()}
    # Shot 2 is rendered again for the kite's reference it is now sent, then retaken once; the others are cached.
    assert takes == {"1": 1, "2": 3, "3": 1}
    first = {index: shot["takes"][0]["judge"] for index, shot in manifest(run_dir)["shots"].items()}
    assert all(judged["score"] >= 0.5 for judged in first.values()), "no take's own score is below the bar"
    assert first["2"]["entities"]["kite"]["found"] is False
    assert made["judge"]["entities"]["kite"]["worst_shot"] == 2
    page = (run_dir / "review.html").read_text(encoding="utf-8")
    card = page[page.index('id="shot-2"') : page.index('id="shot-3"')]
    assert "missing kite (gemini)" in card
