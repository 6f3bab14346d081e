"""Reference images are checked before anything is spent: a URL, a huge file or text named .png stops the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cloudrender import EXAMPLE_STORY, shrunk
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode

RUN = "the-lighthouse-keeper-s-cat"


def _plan_with_reference(tmp_path: Path, reference: str) -> Path:
    out = tmp_path / "out"
    planned = CliRunner().invoke(app, ["plan", str(EXAMPLE_STORY), "-o", str(out)])
    assert planned.exit_code == 0, planned.output
    plan_file = out / RUN / "plan.json"
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    plan["characters"][0]["reference_image"] = reference
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    return plan_file


def _bad_picture(run_dir: Path, kind: str) -> str:
    (run_dir / "refs").mkdir(exist_ok=True)
    if kind == "url":
        return "http://127.0.0.1:9/mira.png"
    target = run_dir / "refs" / f"{kind}.png"
    if kind == "huge":
        with target.open("wb") as handle:
            handle.truncate(100 * 1024 * 1024)  # 100 MB, sparse: cheap to make, still far too big
    else:
        target.write_text("this is a note, not a picture\n", encoding="utf-8")
    return f"refs/{kind}.png"


@pytest.mark.parametrize("kind", ["url", "huge", "text"])
def test_a_bad_reference_image_stops_a_paid_render_before_any_job(fake_providers, tmp_path, kind) -> None:
    plan_file = _plan_with_reference(tmp_path, "refs/placeholder.png")
    reference = _bad_picture(plan_file.parent, kind)
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    plan["characters"][0]["reference_image"] = reference
    plan_file.write_text(json.dumps(plan), encoding="utf-8")

    result = CliRunner().invoke(app, ["render", str(plan_file), "--recipe", shrunk("veo-3.1-fast", tmp_path), "--yes"])

    # A URL is refused with the plan (exit 4, naming the field); a bad file when it is opened (exit 3).
    assert result.exit_code == (ExitCode.PLAN if kind == "url" else ExitCode.INPUT), result.output
    assert "reference_image" in result.output or "error: reference image for" in result.output
    assert "rendering" not in result.output
    assert fake_providers.creates["veo"] == 0 and fake_providers.requests == []


@pytest.mark.parametrize("kind", ["url", "huge", "text"])
def test_the_preview_refuses_a_bad_reference_image_the_same_way(tmp_path, kind) -> None:
    plan_file = _plan_with_reference(tmp_path, "refs/placeholder.png")
    reference = _bad_picture(plan_file.parent, kind)
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    plan["characters"][0]["reference_image"] = reference
    plan_file.write_text(json.dumps(plan), encoding="utf-8")

    result = CliRunner().invoke(app, ["render", str(plan_file)])

    assert result.exit_code == (ExitCode.PLAN if kind == "url" else ExitCode.INPUT), result.output
    assert "reference_image" in result.output or "reference image" in result.output
    assert not (plan_file.parent / "film.mp4").exists()


def test_a_real_reference_image_is_used(tmp_path) -> None:
    from PIL import Image

    plan_file = _plan_with_reference(tmp_path, "refs/placeholder.png")
    (plan_file.parent / "refs").mkdir(exist_ok=True)
    Image.new("RGB", (64, 96), "teal").save(plan_file.parent / "refs" / "mira.png")
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    plan["characters"][0]["reference_image"] = "refs/mira.png"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")

    result = CliRunner().invoke(app, ["render", str(plan_file), "--json"])

    assert result.exit_code == 0, result.output
    assert (plan_file.parent / "film.mp4").is_file()
