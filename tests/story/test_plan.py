from __future__ import annotations

import json
from pathlib import Path

import pytest

from tale_cli.errors import PlanError
from tale_cli.story.plan import MAX_SHOTS, load_plan, slugify


def plan_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": "T",
        "slug": "t",
        "characters": [{"id": "ada", "name": "Ada"}],
        "shots": [
            {"index": 1, "duration_s": 2, "prompt": "a", "characters": ["ada"]},
            {"index": 2, "duration_s": 2, "prompt": "b"},
        ],
    }
    data.update(overrides)
    return data


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_valid_plan_round_trips(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, plan_data()))
    assert plan.duration_s == 4
    again = load_plan(write(tmp_path, json.loads(plan.to_json())))
    assert again == plan


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"shots": [{"index": 1, "duration_s": "long", "prompt": "a"}]}, "shots.0.duration_s"),
        ({"shots": [{"index": 2, "duration_s": 1, "prompt": "a"}]}, "indices"),
        ({"shots": [{"index": 1, "duration_s": 1, "prompt": "a", "characters": ["zed"]}]}, "unknown character"),
        ({"width": "wide"}, "width"),
        ({"slug": "../escape"}, "slug"),
        ({"characters": [{"id": "a", "name": "A", "reference_image": "/etc/passwd"}]}, "reference_image"),
        ({"shots": []}, "shots"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_malformed_plans_name_the_field(tmp_path: Path, overrides: dict[str, object], field: str) -> None:
    with pytest.raises(PlanError, match=field.replace(".", r"\.")):
        load_plan(write(tmp_path, plan_data(**overrides)))


def test_too_many_shots_and_bad_json(tmp_path: Path) -> None:
    shots = [{"index": i, "duration_s": 1, "prompt": "x"} for i in range(1, 10_001)]
    with pytest.raises(PlanError, match="shots"):
        load_plan(write(tmp_path, plan_data(shots=shots)))
    assert MAX_SHOTS < 10_000
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(PlanError, match="not valid JSON"):
        load_plan(path)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("The Cat's Tale!", "the-cat-s-tale"),
        ("../../etc", "etc"),
        ("달빛 우체부", "달빛-우체부"),
        ("---", "story"),
        ("a/b\\c", "a-b-c"),
    ],
)
def test_slugify_is_safe(title: str, slug: str) -> None:
    assert slugify(title) == slug
