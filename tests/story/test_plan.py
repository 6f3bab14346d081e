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


def _said(shot: object) -> list[tuple[str, str]]:
    return [(item.who, item.text) for item in shot.speech]  # type: ignore[attr-defined]


def test_speech_keeps_the_story_order_and_old_plans_read_as_before(tmp_path: Path) -> None:
    characters = [{"id": "mira", "name": "Mira"}, {"id": "pip", "name": "Pip"}]
    old = {"index": 1, "duration_s": 8, "prompt": "a", "narration": "At dawn.", "lines": [
        {"speaker": "mira", "text": "Look!"}, {"speaker": "pip", "text": "Mrrp."}]}  # fmt: skip
    ordered = {"index": 2, "duration_s": 8, "prompt": "b", "speech": [
        {"who": "mira", "text": "Look!"}, {"who": "narrator", "text": "The lamp came on."},
        {"who": "pip", "text": "Mrrp."}]}  # fmt: skip
    plan = load_plan(write(tmp_path, plan_data(characters=characters, shots=[old, ordered])))
    first, second = plan.shots
    assert _said(first) == [("narrator", "At dawn."), ("mira", "Look!"), ("pip", "Mrrp.")]
    assert _said(second) == [("mira", "Look!"), ("narrator", "The lamp came on."), ("pip", "Mrrp.")]
    # The narration and the lines, as code has always read them: a view of the speech.
    assert second.narration == "The lamp came on." and [line.speaker for line in second.lines] == ["mira", "pip"]
    # Written back as narration and lines where those say it in order, else as speech: a plan of the old shape
    # stays byte for byte what it was.
    written = json.loads(plan.to_json())["shots"]
    assert written[0]["narration"] == "At dawn." and "speech" not in written[0] and len(written[0]["lines"]) == 2
    assert "narration" not in written[1] and "lines" not in written[1] and written[1]["speech"] == ordered["speech"]
    assert load_plan(write(tmp_path, json.loads(plan.to_json()))) == plan


@pytest.mark.parametrize(
    ("shot", "message"),
    [
        ({"narration": "x", "speech": [{"who": "narrator", "text": "y"}]}, "not both"),
        ({"speech": [{"who": "zed", "text": "Hi"}]}, "unknown speaker 'zed'"),
        ({"speech": [{"who": "ada", "text": ""}]}, r"shots\.0\.speech\.0\.text"),
        ({"narration": "x" * 2001}, "narration: String should have at most 2000 characters"),
        ({"speech": [{"who": "ada", "text": "Hi"}] * 17}, "at most 16 lines"),
    ],
)
def test_malformed_speech_names_the_problem(tmp_path: Path, shot: dict[str, object], message: str) -> None:
    shots = [{"index": 1, "duration_s": 2, "prompt": "a", **shot}]
    with pytest.raises(PlanError, match=message):
        load_plan(write(tmp_path, plan_data(shots=shots)))
