"""A recipe's [judge] bar during `tale render`: shots below it are retaken with new seeds up to `max_retakes` times
(every take kept, the best current), a second render retakes nothing, and the retakes stop at the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cloudrender import SMALL_VEO
from typer.testing import CliRunner

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.media.ffmpeg import EncodeSettings, extract_frame, run_ffmpeg

runner = CliRunner()


def tale(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("transformers")
    import tiny_judges
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-judge")
    return tiny_judges.save_detector(root / "detector"), tiny_judges.save_embedder(root / "embedder")


def recipe_with_judge(path: Path, base: str, tiny_judge: tuple[Path, Path], **settings: object) -> Path:
    import tiny_judges

    path.write_text(base + tiny_judges.judge_recipe_lines(*tiny_judge, **settings), encoding="utf-8")
    return path


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def test_shots_below_the_bar_are_retaken_up_to_max_retakes_and_the_best_take_is_current(
    tmp_path: Path, story_file: Path, tiny_recipe: Path, tiny_judge: tuple[Path, Path]
) -> None:
    # Nothing is ever found at a threshold of 1: every shot scores 0, under any bar.
    recipe = recipe_with_judge(tmp_path / "judged.toml", tiny_recipe.read_text(), tiny_judge,
                               detect_threshold=1.0, retake_below=0.5, max_retakes=2)  # fmt: skip
    first = tale("render", str(story_file), "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--json")
    run_dir = Path(first["run_dir"])
    retakes = first["judge"]["retakes"]
    assert (retakes["retaken"], retakes["takes_made"], retakes["stopped"]) == (3, 6, None)
    for shot in manifest(run_dir)["shots"].values():
        assert len(shot["takes"]) == 3, "the first take and two retakes, all kept"
        assert len({take["seed"] for take in shot["takes"]}) == 3
        scores = {take["take"]: take["judge"]["score"] for take in shot["takes"]}
        assert scores[shot["take"]] == max(scores.values())
    assert first["film"] and (run_dir / "judge.json").is_file()
    assert manifest(run_dir)["judge"]["retakes"]["takes_made"] == 6

    again = tale("render", str(run_dir / "plan.json"), "--recipe", str(recipe), "--json")
    assert again["counts"]["rendered"] == 0 and again["judge"]["judged"] == 0
    assert again["judge"]["retakes"]["takes_made"] == 0, "max_retakes reached: a second render retakes nothing"
    assert all(len(shot["takes"]) == 3 for shot in manifest(run_dir)["shots"].values())

    table = tale("render", str(run_dir / "plan.json"), "--recipe", str(recipe))
    assert "judge (local): score mean" in table.output


class FrozenFirstTakeOfShotTwo(PreviewVideo):
    """The preview, but shot 2's first take is one picture held: a frozen clip."""

    froze: ClassVar[set[int]] = set()

    def render_shot(self, request: ShotRequest) -> RenderResult:
        result = super().render_shot(request)
        if request.shot.index == 2 and 2 not in self.froze:
            self.froze.add(2)
            still = extract_frame(request.output, request.output.with_suffix(".png"), at="middle")
            frozen = request.output.with_name("frozen.mp4")
            frames = round(request.shot.duration_s * request.plan.fps)
            run_ffmpeg(["-loop", "1", "-i", str(still), "-frames:v", str(frames),
                        *EncodeSettings().video_args(request.plan.fps), str(frozen)])  # fmt: skip
            frozen.replace(request.output)
        return result


def test_without_a_model_the_bar_retakes_frozen_and_flashing_clips(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    from providers import register

    from tale_cli.registry import Role

    register(monkeypatch, "frozen-preview", Role.VIDEO, FrozenFirstTakeOfShotTwo, local=True)
    recipe = tmp_path / "checked.toml"
    text = tiny_recipe.read_text().replace('backend = "preview"', 'backend = "frozen-preview"', 1)
    recipe.write_text(text + "[judge]\nretake_below = 0.5\nmax_retakes = 2\n", encoding="utf-8")
    made = tale("render", str(story_file), "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--json")
    judge = made["judge"]
    assert judge["backend"] == "none" and judge["retakes"]["retaken"] == 1 and judge["retakes"]["takes_made"] == 1
    shot = manifest(Path(made["run_dir"]))["shots"]["2"]
    assert [take["judge"]["frozen"] for take in shot["takes"]] == [True, False]
    assert shot["take"] == 2, "the take that moves is current; the frozen one is kept"
    page = (Path(made["run_dir"]) / "review.html").read_text(encoding="utf-8")
    card = page[page.index('id="shot-2"') :]
    assert "<dt>take</dt><dd>2 of 2</dd><dt>judge</dt><dd>score 1.00 (none)</dd>" in card


def test_the_retakes_stop_at_the_budget(
    fake_providers, tmp_path: Path, story_file: Path, tiny_judge: tuple[Path, Path]
) -> None:
    from tale_cli.config import load_recipe
    from tale_cli.events import ignore_events
    from tale_cli.pipeline import RenderOptions
    from tale_cli.pipeline.judging import judge_render
    from tale_cli.run.folder import Manifest, RunFolder
    from tale_cli.story.plan import load_plan

    base = SMALL_VEO.replace("continuity", "shots = 3\ncontinuity")
    plain = recipe_with_judge(tmp_path / "veo-judged.toml", base, tiny_judge, detect_threshold=1.0)
    made = tale("render", str(story_file), "--recipe", str(plain), "--out", str(tmp_path / "out"), "--yes", "--json")
    run_dir = Path(made["run_dir"])
    assert fake_providers.creates["veo"] == 3 and made["judge"]["retakes"] is None

    recipe = load_recipe(str(recipe_with_judge(tmp_path / "veo-judged.toml", base, tiny_judge, detect_threshold=1.0,
                                               retake_below=0.5, max_retakes=2)))  # fmt: skip
    folder, plan = RunFolder(run_dir), load_plan(run_dir / "plan.json")
    held = Manifest.load(folder)
    hashes = {int(i): shot["takes"][0]["plan_hash"] for i, shot in manifest(run_dir)["shots"].items()}
    one_clip = manifest(run_dir)["shots"]["1"]["cost_usd"]
    budget = 1.5 * one_clip  # one retake fits, a second does not
    options = RenderOptions(recipe=recipe, max_cost=budget)
    report = judge_render(plan, recipe, folder, held, hashes, options, ignore_events, spent_before=held.data.cost_usd)

    assert fake_providers.creates["veo"] == 4, "one retake, then the budget was spent"
    assert report.retakes is not None and report.retakes.takes_made == 1
    assert report.retakes.stopped == f"the budget of ${budget:.2f} is spent"


def test_a_render_resumed_while_judging_is_estimated_with_every_retake_it_may_make(
    fake_providers, tmp_path: Path, story_file: Path, tiny_judge: tuple[Path, Path]
) -> None:
    import re

    base = SMALL_VEO.replace("continuity", "shots = 3\ncontinuity")
    judged_only = recipe_with_judge(tmp_path / "judged.toml", base, tiny_judge, detect_threshold=1.0)
    made = tale("render", str(story_file), "--recipe", str(judged_only), "--out", str(tmp_path / "out"), "--yes",
                "--json")  # fmt: skip
    run_dir = Path(made["run_dir"])
    assert fake_providers.creates["veo"] == 3, "every clip made and judged; no retake yet (as a render stopped there)"
    one_clip = manifest(run_dir)["shots"]["1"]["cost_usd"]
    retaking = recipe_with_judge(tmp_path / "retaking.toml", base, tiny_judge, detect_threshold=1.0,
                                 retake_below=0.5, max_retakes=2)  # fmt: skip
    plan = str(run_dir / "plan.json")

    # Every shot is below the bar with two retakes left: six clips at worst, more than 1.5 clips' budget.
    refused = tale("render", plan, "--recipe", str(retaking), "--yes", "--max-cost", f"{1.5 * one_clip:.2f}", code=9)
    assert "exceeds the budget" in refused.output and "nothing was spent" in refused.output
    assert fake_providers.creates["veo"] == 3, "refused before any retake"

    result = tale("render", plan, "--recipe", str(retaking), "--yes")
    asked = float(re.search(r"estimate \$([0-9.]+)", result.output).group(1))
    assert fake_providers.creates["veo"] == 9, "two retakes of each shot"
    assert asked >= 6 * one_clip - 0.005, "the estimate counts every retake the render made"
