"""The judge: no-model checks on real clips, the local judge on tiny random-weight models, `tale judge` and its cache.

Random weights give meaningless scores: these tests check the plumbing, the ranges, identity (the same frames
score as the same), a character that is not found reported as missing, and that a second judging computes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.judge.checks import check_frames
from tale_cli.judge.frames import grey_frames
from tale_cli.media.ffmpeg import EncodeSettings, extract_frame, run_ffmpeg

runner = CliRunner()


def tale(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


@pytest.fixture
def run_dir(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> Path:
    """The tiny story rendered on the preview: three 1-second shots at 160x96, 12 fps."""
    made = tale("render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "out"), "--json")
    return Path(made["run_dir"])


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("transformers")
    import tiny_judges
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-judge")
    return tiny_judges.save_detector(root / "detector"), tiny_judges.save_embedder(root / "embedder")


def judged_recipe(tmp_path: Path, tiny_recipe: Path, tiny_judge: tuple[Path, Path], **settings: object) -> Path:
    import tiny_judges

    path = tmp_path / "judged.toml"
    path.write_text(tiny_recipe.read_text() + tiny_judges.judge_recipe_lines(*tiny_judge, **settings), encoding="utf-8")
    return path


def frozen_clip(source: Path, target: Path) -> Path:
    """One frame of `source` held for as long as it lasts, encoded as Tale encodes: a frozen clip."""
    still = extract_frame(source, target.with_suffix(".png"), at="middle")
    run_ffmpeg(["-loop", "1", "-i", str(still), "-frames:v", "12", *EncodeSettings().video_args(12), str(target)])
    return target


def black_frames_clip(source: Path, target: Path) -> Path:
    """`source` with three black frames in its middle."""
    run_ffmpeg(["-i", str(source), "-vf", "drawbox=c=black:t=fill:enable='between(n,5,7)'",
                *EncodeSettings().video_args(12), "-an", str(target)])  # fmt: skip
    return target


def test_the_no_model_checks_flag_a_frozen_clip_and_black_frames_but_not_the_previews_clips(
    run_dir: Path, tmp_path: Path
) -> None:
    clips = sorted((run_dir / "shots").glob("shot-*.mp4"))
    for clip in clips:
        checks = check_frames(grey_frames(clip))
        assert checks.frames == 12 and not checks.frozen and not checks.flash, (clip.name, checks)
    frozen = check_frames(grey_frames(frozen_clip(clips[0], tmp_path / "frozen.mp4")))
    assert frozen.frozen and not frozen.flash
    dark = check_frames(grey_frames(black_frames_clip(clips[0], tmp_path / "black.mp4")))
    assert dark.dark_frames == 3 and dark.flash and not dark.frozen


def test_tale_judge_without_a_model_writes_judge_json_and_the_manifest_and_caches(run_dir: Path) -> None:
    first = tale("judge", str(run_dir), "--json")
    assert first["backend"] == "none" and first["judged"] == 3 and first["cached"] == 0
    assert first["summary"]["score"] == {"mean": 1.0, "min": 1.0, "shots": 3}
    assert json.loads((run_dir / "judge.json").read_text(encoding="utf-8"))["settings"] == first["settings"]
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["judge"]["backend"] == "none" and manifest["judge"]["summary"]["score"]["shots"] == 3
    take = manifest["shots"]["1"]["takes"][0]["judge"]
    assert take["score"] == 1.0 and take["frozen"] is False and take["motion"] > 0

    again = tale("judge", str(run_dir), "--json")
    assert again["judged"] == 0 and again["cached"] == 3, "a second judging computes nothing"

    table = tale("judge", str(run_dir))
    assert "score: mean 1.00, min 1.00 (3 shots)" in table.output and "0 takes judged, 3 from the cache" in table.output


def test_a_frozen_take_scores_zero_and_comes_first(run_dir: Path, tmp_path: Path, tiny_recipe: Path) -> None:
    frozen = frozen_clip(run_dir / "shots" / "shot-01.mp4", tmp_path / "frozen.mp4")
    tale("replace", str(run_dir), "2", str(frozen), "--recipe", str(tiny_recipe))
    report = tale("judge", str(run_dir), "--json")
    weakest = report["shots"][0]
    assert (weakest["shot"], weakest["take"], weakest["current"], weakest["frozen"], weakest["score"]) == (
        2, 2, True, True, 0.0,
    )  # fmt: skip
    assert report["flagged"] == [2] and report["summary"]["score"]["min"] == 0.0
    assert len(report["shots"]) == 4, "every take is judged, the one set aside too"


def test_judging_a_folder_that_is_no_run_is_one_clear_error(tmp_path: Path) -> None:
    result = tale("judge", str(tmp_path), code=3)
    assert "not a run folder" in result.output
    assert "is not a folder" in tale("judge", str(tmp_path / "nowhere"), code=3).output


def test_an_unknown_judge_backend_lists_the_valid_ones(run_dir: Path) -> None:
    result = tale("judge", str(run_dir), "--backend", "sora", code=5)
    assert "unknown judge backend 'sora'" in result.output and "valid names are: none, " in result.output
    result = tale("judge", str(run_dir), "--backend", "locla", code=5)
    assert "unknown judge backend 'locla'; did you mean 'local'?" in " ".join(result.output.split())


def test_the_local_judge_end_to_end_scores_in_range_and_caches(
    run_dir: Path, tmp_path: Path, tiny_recipe: Path, tiny_judge: tuple[Path, Path]
) -> None:
    recipe = judged_recipe(tmp_path, tiny_recipe, tiny_judge, detect_threshold=0.0)
    report = tale("judge", str(run_dir), "--recipe", str(recipe), "--json")
    assert report["backend"] == "local" and report["judged"] == 3
    for row in report["shots"]:
        for metric in ("score", "prompt", "cross", "self_score"):
            value = row[metric]
            assert value is None or 0.0 <= value <= 1.0, (metric, value)
        assert row["missing"] == []
    with_ada = [row for row in report["shots"] if row["cross"] is not None]
    assert with_ada, "the detector found the character in the shots the plan puts it in"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    characters = [take["judge"]["characters"] for shot in manifest["shots"].values() for take in shot["takes"]]
    assert any(found["found"] is True for per_take in characters for found in per_take.values())
    assert len(list((run_dir / "judge").glob("*.json"))) == 3

    again = tale("judge", str(run_dir), "--recipe", str(recipe), "--json")
    assert again["judged"] == 0 and again["cached"] == 3
    assert [row["score"] for row in again["shots"]] == [row["score"] for row in report["shots"]]


def test_a_character_the_detector_does_not_find_is_reported_missing(
    run_dir: Path, tmp_path: Path, tiny_recipe: Path, tiny_judge: tuple[Path, Path]
) -> None:
    recipe = judged_recipe(tmp_path, tiny_recipe, tiny_judge, detect_threshold=1.0)
    report = tale("judge", str(run_dir), "--recipe", str(recipe), "--json")
    plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    present = {shot["index"] for shot in plan["shots"] if shot["characters"]}
    assert present
    for row in report["shots"]:
        if row["shot"] in present:
            assert row["missing"] and row["cross"] == 0.0 and row["self_score"] is None
    assert "missing: " in tale("judge", str(run_dir), "--recipe", str(recipe)).output


def test_identical_frames_score_as_identical(tmp_path: Path, run_dir: Path, tiny_judge: tuple[Path, Path]) -> None:
    from tale_cli.backends.base import JudgeCharacter, JudgeRequest
    from tale_cli.backends.local.judge import LocalJudge
    from tale_cli.config import JudgeConfig, Recipe
    from tale_cli.judge.scoring import cosine

    detector, embedder = tiny_judge
    judge_config = JudgeConfig(backend="local", detector=str(detector), embedder=str(embedder), detect_threshold=0.0)
    judge = LocalJudge(Recipe(judge=judge_config))
    frame = extract_frame(run_dir / "shots" / "shot-01.mp4", tmp_path / "a.png", at="middle")
    twin = tmp_path / "b.png"
    shutil.copyfile(frame, twin)
    ada = JudgeCharacter("ada", "Ada", "a tall woman in a green coat", reference=frame)
    try:
        one = judge.judge(JudgeRequest(1, 1, "Ada at the harbour", [frame], [ada]))
        two = judge.judge(JudgeRequest(2, 1, "Ada at the harbour", [twin], [ada]))
    finally:
        judge.close()
    first, second = one.characters["ada"], two.characters["ada"]
    assert first.found and second.found and first.embedding and second.embedding
    assert cosine(first.embedding, second.embedding) == pytest.approx(1.0, abs=1e-4)
    assert one.prompt == two.prompt and 0.0 <= (one.prompt or 0.0) <= 1.0
    assert first.cross is not None and 0.0 <= first.cross <= 1.0


def test_a_run_from_before_takes_is_judged_its_clips_becoming_take_one(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    for shot in manifest["shots"].values():
        shot.pop("takes", None)
        shot.pop("take", None)
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.rmtree(run_dir / "shots" / "takes")

    report = tale("judge", str(run_dir), "--json")
    assert [(row["shot"], row["take"]) for row in report["shots"]] == [(1, 1), (2, 1), (3, 1)]
    assert (run_dir / "shots" / "takes" / "shot-01-take-1.mp4").samefile(run_dir / "shots" / "shot-01.mp4")
