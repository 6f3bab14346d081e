"""Tiers: `tale render --draft` renders every shot at the recipe's [draft] tier into film.draft.mp4, retake, pick and
lock work on the drafts, and `tale finalize` renders the current takes at the final tier into film.mp4 — each paid once.

Against the fake Vertex server with the shipped veo-3.1-fast recipe (its draft is Veo 3.1 Lite), and with two local
test backends for a chain recipe, whose finals start from the last frame of the shot before as finalized.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cloudrender import EXAMPLE_STORY, shrunk
from providers import register
from typer.testing import CliRunner

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.media.ffmpeg import probe
from tale_cli.registry import Role
from tale_cli.run.identity import file_digest

LITE, FAST = "veo:veo-3.1-lite-generate-001", "veo:veo-3.1-fast-generate-001"
SLUG = "the-lighthouse-keeper-s-cat"
runner = CliRunner()


def tale(*args: str, code: int = 0) -> Any:
    """Run a command; with --json its answer, else the result."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout[result.stdout.index("{") :]) if "--json" in args and code == 0 else result


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))


def recipe_of(run: Path) -> str:
    """The shrunk recipe file the `drafted` run was rendered with."""
    return str(run.parent.parent / "veo-3.1-fast.toml")


def takes(run: Path, shot: int) -> list[dict]:
    return manifest(run)["shots"][str(shot)]["takes"]


@pytest.fixture
def drafted(fake_providers, tmp_path: Path) -> Path:
    """The example story rendered with `--draft` on the shipped veo-3.1-fast recipe (shrunk to the fake's clips)."""
    recipe = shrunk("veo-3.1-fast", tmp_path)
    report = tale("render", str(EXAMPLE_STORY), "-r", recipe, "-o", str(tmp_path / "out"), "--draft", "--yes", "--json")
    assert report["tier"] == "draft" and report["film"].endswith("film.draft.mp4") and report["final_film"] is None
    return Path(report["run_dir"])


def test_a_draft_render_makes_lite_takes_and_finalize_fast_ones_each_paid_once(drafted: Path, fake_providers) -> None:
    assert (fake_providers.creates[LITE], fake_providers.creates[FAST]) == (8, 0)
    assert not (drafted / "film.mp4").exists() and abs(probe(drafted / "film.draft.mp4").duration_s - 64) < 0.1
    data = manifest(drafted)
    assert data["run"]["tier"] == "draft" and data["film"] is None and data["draft_film"]["path"] == "film.draft.mp4"
    assert [t["tier"] for t in takes(drafted, 1)] == ["draft"]
    draft_film = file_digest(drafted / "film.draft.mp4")

    first = tale("finalize", str(drafted), "--yes", "--json")
    assert (fake_providers.creates[LITE], fake_providers.creates[FAST]) == (8, 8)
    assert {shot["how"] for shot in first["shots"]} == {"rendered"} and first["cost_usd"] == pytest.approx(6.40)
    assert first["film"].endswith("film.mp4") and abs(probe(drafted / "film.mp4").duration_s - 64) < 0.1
    # Each final take is the same prompt and seed as its draft, rendered by Fast; the draft stays current.
    for shot in range(1, 9):
        draft, final = takes(drafted, shot)
        assert (final["tier"], final["draft_take"], final["seed"]) == ("final", draft["take"], draft["seed"])
        assert (draft["model"], final["model"]) == ("veo-3.1-lite-generate-001", "veo-3.1-fast-generate-001")
        assert manifest(drafted)["shots"][str(shot)]["take"] == draft["take"]
    assert file_digest(drafted / "film.draft.mp4") == draft_film
    assert manifest(drafted)["film"]["path"] == "film.mp4"

    final_film = file_digest(drafted / "film.mp4")
    again = tale("finalize", str(drafted), "--yes", "--json")
    assert fake_providers.creates[FAST] == 8 and again["cost_usd"] == 0 and again["unchanged"]
    assert {shot["how"] for shot in again["shots"]} == {"finalized before"}
    assert file_digest(drafted / "film.mp4") == final_film
    # A fresh draft render of the run pays nothing and writes neither film.
    fresh = tale("render", str(drafted / "plan.json"), "-r", recipe_of(drafted), "--draft", "--yes", "--json")
    assert fresh["counts"]["rendered"] == 0 and fresh["film_unchanged"] and fresh["final_film"].endswith("film.mp4")
    assert fake_providers.creates["veo"] == 16 and file_digest(drafted / "film.mp4") == final_film


def test_finalize_over_the_budget_is_refused_before_any_request(drafted: Path, fake_providers) -> None:
    requests = len(fake_providers.requests)
    refused = tale("finalize", str(drafted), "--max-cost", "5", "--yes", code=ExitCode.BUDGET)
    assert "estimate $6.40 at the final tier (8 shots on veo" in refused.output
    assert "exceeds the budget $5.00" in refused.output
    assert "nothing was spent" in refused.output
    assert len(fake_providers.requests) == requests and fake_providers.creates[FAST] == 0
    assert not (drafted / "film.mp4").exists() and len(takes(drafted, 1)) == 1
    # Only the shots left are counted: with five finalized, the other three fit a $2.50 budget.
    tale("finalize", str(drafted), "1", "2", "3", "4", "5", "--yes")
    tale("finalize", str(drafted), "--max-cost", "2.5", "--yes")
    assert fake_providers.creates[FAST] == 8


def test_retake_pick_and_lock_work_on_drafts_and_finalize_pays_only_for_the_new_take(
    drafted: Path, fake_providers
) -> None:
    retaken = tale("retake", str(drafted), "2", "--yes", "--json")
    assert retaken["shots"][0]["how"] == "rendered" and retaken["film"].endswith("film.draft.mp4")
    assert (fake_providers.creates[LITE], fake_providers.creates[FAST]) == (9, 0)  # a retake of a draft is a draft
    assert [t["tier"] for t in takes(drafted, 2)] == ["draft", "draft"]
    tale("pick", str(drafted), "2", "1")
    tale("lock", str(drafted), "3")
    listing = tale("takes", str(drafted), "2", "--json")
    assert [(t["take"], t["current"], t["tier"]) for t in listing["shots"][0]["takes"]] == [
        (1, True, "draft"),
        (2, False, "draft"),
    ]

    first = tale("finalize", str(drafted), "--yes", "--json")
    assert fake_providers.creates[FAST] == 8 and [s["draft_take"] for s in first["shots"][:2]] == [1, 1]
    final_film = file_digest(drafted / "film.mp4")
    # A new draft of shot 5 leaves film.mp4 as finalized, and says so; finalize then pays for that shot alone.
    later = tale("retake", str(drafted), "5", "--yes", "--json")
    assert later["final_film"] is None and any("film.mp4 stays the final film" in n for n in later["notes"])
    assert file_digest(drafted / "film.mp4") == final_film
    again = tale("finalize", str(drafted), "--yes", "--json")
    assert [(s["shot"], s["draft_take"], s["take"]) for s in again["shots"] if s["how"] == "rendered"] == [(5, 3, 4)]
    assert fake_providers.creates[FAST] == 9 and again["film"].endswith("film.mp4")
    # Picking back the take finalized before cuts film.mp4 from its final again, for free.
    picked = tale("pick", str(drafted), "5", "1", "--json")
    assert picked["final_film"].endswith("film.mp4") and fake_providers.creates["veo"] == 19


def test_a_shot_whose_plan_changed_since_its_draft_says_so(drafted: Path, fake_providers) -> None:
    plan_file = drafted / "plan.json"
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    plan["shots"][3]["prompt"] = "The cat sleeps on the lamp room's warm floor."
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    refused = tale("finalize", str(drafted), "--yes", code=ExitCode.INPUT)
    assert "shot(s) 4 changed in the plan since their drafts; nothing was rendered" in " ".join(refused.output.split())
    assert fake_providers.creates[FAST] == 0
    # Locked, the take is finalized as drafted, and the report says the plan changed since.
    tale("lock", str(drafted), "4")
    report = tale("finalize", str(drafted), "--yes", "--json")
    assert any("shot 4 is locked" in note for note in report["notes"]) and fake_providers.creates[FAST] == 8


def test_a_run_keeps_its_tier(drafted: Path, fake_providers, tmp_path: Path) -> None:
    refused = tale("render", str(drafted / "plan.json"), "-r", recipe_of(drafted), "--yes", code=ExitCode.INPUT)
    assert "is a run of drafts" in refused.output and "tale finalize" in refused.output
    final = tale("render", str(EXAMPLE_STORY), "-r", shrunk("veo-3.1-fast", tmp_path), "-o", str(tmp_path / "final"),
                 "--yes", "--json")  # fmt: skip
    run = Path(final["run_dir"])
    assert final["tier"] == "final" and "tier" not in manifest(run)["run"] and "tier" not in takes(run, 1)[0]
    drafts = tale("render", str(run / "plan.json"), "-r", recipe_of(run), "--draft", "--yes", code=ExitCode.INPUT)
    assert "was rendered at the final tier" in drafts.output
    not_drafts = tale("finalize", str(run), "--yes", code=ExitCode.INPUT)
    assert "was not rendered with --draft" in not_drafts.output
    assert fake_providers.creates[FAST] == 8


# ── A chain recipe: each final starts from the last frame of the shot before, as finalized ──────────


class Sketch(PreviewVideo):
    """A free local draft backend: the animatic under another name, remembering each shot's first frame."""

    name = "sketch"
    seen: ClassVar[list[tuple[str, int, str | None]]] = []

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "tier": self.name}

    def render_shot(self, request: ShotRequest) -> RenderResult:
        first = request.first_frame.name if request.first_frame is not None else None
        Sketch.seen.append((self.name, request.shot.index, first))
        return super().render_shot(request)


class Paint(Sketch):
    name = "paint"


CHAIN = """
width = 160
height = 96
fps = 12
shots = 3
seconds = 1.0
continuity = "chain"
[video]
backend = "paint"
[draft.video]
backend = "sketch"
"""


def test_a_chained_final_starts_from_the_final_of_the_shot_before(
    tmp_path: Path, story_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for backend in (Sketch, Paint):
        register(monkeypatch, backend.name, Role.VIDEO, backend, local=True)
    Sketch.seen.clear()
    recipe = tmp_path / "chain.toml"
    recipe.write_text(CHAIN, encoding="utf-8")
    report = tale("render", str(story_file), "-r", str(recipe), "-o", str(tmp_path / "out"), "--draft", "--json")
    run = Path(report["run_dir"])
    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    for shot in plan["shots"][1:]:
        shot["continuity"] = True  # one scene: shots 2 and 3 continue from the shot before
    (run / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    tale("render", str(run / "plan.json"), "-r", str(recipe), "--draft", "--json")
    assert sorted((name, shot) for name, shot, _ in Sketch.seen) == [
        ("sketch", 1),
        ("sketch", 2),
        ("sketch", 2),
        ("sketch", 3),
        ("sketch", 3),
    ]
    Sketch.seen.clear()
    # Shot 3 alone cannot be finalized: it starts from shot 2's final, which there is not yet.
    lonely = tale("finalize", str(run), "3", code=ExitCode.INPUT)
    assert "shot 3 continues from shot 2" in " ".join(lonely.output.split()) and Sketch.seen == []

    tale("finalize", str(run), "--json")
    finals = {shot: takes(run, shot)[-1] for shot in (1, 2, 3)}
    assert [(name, shot) for name, shot, _ in Sketch.seen] == [("paint", 1), ("paint", 2), ("paint", 3)]
    assert [first for _, _, first in Sketch.seen[1:]] == [
        f"{finals[1]['params_hash']}.last.png",
        f"{finals[2]['params_hash']}.last.png",
    ]
    # A new draft of shot 1 changes what shot 2's and 3's finals start from: finalizing renders all three again.
    tale("retake", str(run), "1", "--json")
    Sketch.seen.clear()
    again = tale("finalize", str(run), "--json")
    assert [s["how"] for s in again["shots"]] == ["rendered"] * 3 and len(Sketch.seen) == 3
