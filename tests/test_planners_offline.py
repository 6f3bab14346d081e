from __future__ import annotations

from pathlib import Path

import pytest

from tale_cli.config import Recipe
from tale_cli.planners import plan_story
from tale_cli.planners.offline import split_sentences
from tale_cli.story import read_story

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def plan_for(tmp_path: Path, text: str, shots: int = 8) -> list[str]:
    path = tmp_path / "s.md"
    path.write_text(text, encoding="utf-8")
    plan = plan_story(read_story(path), Recipe(shots=shots))
    assert len(plan.shots) == shots
    assert [s.index for s in plan.shots] == list(range(1, shots + 1))
    return [s.narration for s in plan.shots]


def test_example_is_deterministic_byte_for_byte() -> None:
    story = read_story(EXAMPLES / "story.md")
    first = plan_story(story, Recipe()).to_json()
    second = plan_story(read_story(EXAMPLES / "story.md"), Recipe()).to_json()
    assert first == second
    plan = plan_story(story, Recipe())
    assert [c.name for c in plan.characters] == ["Mira", "Pip"]
    assert plan.duration_s == 64
    assert all("Warm storybook" in s.prompt for s in plan.shots)
    assert "pip" in plan.shots[1].characters
    assert "grey cat" in plan.shots[1].prompt


def test_korean_story_plans_with_hangul() -> None:
    plan = plan_story(read_story(EXAMPLES / "story.ko.md"), Recipe())
    assert plan.language == "ko" and len(plan.shots) == 8
    assert plan.shots[0].narration.startswith("산골 마을에는")
    assert [c.name for c in plan.characters] == ["하늘", "토리"]


def test_one_long_paragraph_splits_into_requested_shots(tmp_path: Path) -> None:
    text = " ".join(f"Sentence number {i} happens here." for i in range(20))
    narrations = plan_for(tmp_path, text)
    assert " ".join(narrations) == text
    assert all(narrations)


def test_three_sentences_still_make_eight_shots(tmp_path: Path) -> None:
    text = "The fox ran through the dark forest, past the old oak. It stopped. Then it slept soundly."
    narrations = plan_for(tmp_path, text)
    assert all(narrations)
    assert narrations[0].startswith("The fox")
    assert " ".join(narrations) == text


def test_single_word_story(tmp_path: Path) -> None:
    assert plan_for(tmp_path, "Hello", shots=3) == ["Hello", "Hello", "Hello"]


def test_recurring_names_become_characters(tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    path.write_text(
        "Once there was a girl. Later, Lena met Tom. Then Lena laughed and Tom ran. The end.", encoding="utf-8"
    )
    plan = plan_story(read_story(path), Recipe(shots=2))
    assert {c.name for c in plan.characters} == {"Lena", "Tom"}


@pytest.mark.parametrize(
    ("text", "count"),
    [("하늘은 달렸다. 토리가 따라왔다. 끝이었다.", 3), ('He said "Go!" She went. Done?', 3), ("No ending", 1)],
)
def test_sentence_split(text: str, count: int) -> None:
    assert len(split_sentences(text)) == count
