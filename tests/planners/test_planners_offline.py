from __future__ import annotations

from pathlib import Path

import pytest

from tale_cli.config import Recipe
from tale_cli.planners import plan_story
from tale_cli.planners.offline import split_sentences
from tale_cli.story.pace import natural_seconds, speech_room
from tale_cli.story.plan import NARRATION_CHARS
from tale_cli.story.reader import read_story

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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


def _plan(tmp_path: Path, text: str, shots: int, seconds: float = 8.0):
    path = tmp_path / "s.md"
    path.write_text(text, encoding="utf-8")
    return plan_story(read_story(path), Recipe(shots=shots, seconds=seconds))


def test_quoted_speech_becomes_lines_of_the_character_who_says_it(tmp_path: Path) -> None:
    story = (
        "---\ntitle: Quotes\ncharacters:\n  - name: Mira\n    description: a keeper\n"
        "  - name: Pip\n    description: a cat\n---\n\n"
        '"The lamp is out," Mira said. Pip ran to the stairs.\n\n'
        "Pip looked up. “Follow me!” she called, and the wind answered.\n\n"
        'The letter said: "Come home." Mira folded it away.\n\n'
        "피프가 말했다. 「가자!」\n"
    )
    plan = _plan(tmp_path, story, shots=4)
    said = [(s.narration, [(line.speaker, line.text) for line in s.lines]) for s in plan.shots]
    assert said[0] == ("Pip ran to the stairs.", [("mira", "The lamp is out.")])
    assert said[1] == ("Pip looked up. And the wind answered.", [("pip", "Follow me!")])
    # The letter speaks, not a character: the narrator's words are its narration (`lines` are the characters').
    assert said[2] == ("Mira folded it away. Come home.", [])
    assert said[3] == ("가자!", [])
    assert [(item.who, item.text) for item in plan.shots[2].speech] == [
        ("narrator", "Mira folded it away."),
        ("narrator", "Come home."),
    ]
    assert "mira" in plan.shots[0].characters
    assert all('"' not in s.narration and "「" not in s.narration for s in plan.shots)


def test_every_shot_says_only_what_fits_its_seconds(tmp_path: Path) -> None:
    long_paragraph = (
        "The old ferry left the harbour late that evening. It carried forty passengers, three goats and a piano "
        "that nobody had ordered. The captain, who had sailed these waters for thirty years, watched the clouds "
        "gather over the western hills, and he did not like what he saw."
    )
    plan = _plan(tmp_path, f"# Ferry\n\n{long_paragraph}\n\nThe storm came at midnight.\n", shots=2, seconds=6.0)
    for shot in plan.shots:
        clips = (1 if shot.narration else 0) + len(shot.lines)
        said = natural_seconds(shot.narration) + sum(natural_seconds(line.text) for line in shot.lines)
        assert 0 < said <= speech_room(shot.duration_s, clips)
    first = plan.shots[0]
    assert first.narration.endswith(".") and first.narration in long_paragraph  # whole sentences, in order
    assert "forty passengers" in first.prompt and "piano" in first.prompt  # what is not said is still seen
    assert plan.notes and "shot 1" in plan.notes[0] and "natural pace" in plan.notes[0]
    assert plan.shots[1].narration == "The storm came at midnight."


def test_korean_words_are_budgeted_by_syllables(tmp_path: Path) -> None:
    sentence = "하늘은 달빛을 따라 산길을 천천히 걸어 올라갔다."
    plan = _plan(tmp_path, "# 밤길\n\n" + " ".join([sentence] * 6) + "\n", shots=1, seconds=6.0)
    narration = plan.shots[0].narration
    assert narration.startswith(sentence) and narration.count(sentence) == natural_count(sentence, 6.0)


def natural_count(sentence: str, seconds: float) -> int:
    count = 0
    while natural_seconds(" ".join([sentence] * (count + 1))) <= speech_room(seconds):
        count += 1
    return count


def test_the_examples_are_spoken_whole(tmp_path: Path) -> None:
    for name in ("story.md", "story.ko.md"):
        plan = plan_story(read_story(EXAMPLES / name), Recipe())
        assert plan.notes == [], plan.notes  # nothing cut: every paragraph fits its 8 s at a natural pace
    english = plan_story(read_story(EXAMPLES / "story.md"), Recipe())
    assert [(line.speaker, line.text) for line in english.shots[6].lines] == [
        ("mira", "Pip is the real keeper of the light.")
    ]


def test_a_ten_thousand_character_word_is_budgeted_by_its_characters(tmp_path: Path) -> None:
    """A "word" of 10,000 characters said as one word would be 2,000 characters of narration no voice fits in
    its shot: its characters count, and a shot says the pieces of it that fit."""
    word = "a" * 10_000
    plan = _plan(tmp_path, f"# Long\n\nMira woke. The {word} ends.\n\nShe slept.\n", shots=3, seconds=8.0)
    for shot in plan.shots:
        assert natural_seconds(shot.narration) <= speech_room(shot.duration_s)
    long = plan.shots[1].narration
    assert long.startswith("The a") and 40 < len(long) <= 200
    assert all(len(piece) <= 40 for piece in long.split())  # cut into pieces a line of subtitles holds
    assert plan.notes == [
        "shot 2: spoken words cut to what 8 s says at a natural pace "
        f"({len(long.replace(' ', ''))} of 10,008 characters kept; the rest stays in the prompt)"
    ]
    assert "The " + "a" * 3000 in plan.shots[1].prompt  # what is not said is still seen


def test_long_words_count_for_more_than_short_ones() -> None:
    assert natural_seconds("extraordinarily") == pytest.approx(natural_seconds("one") * 2)  # 15 characters
    assert natural_seconds("x" * 10_000) > 600


def test_no_narration_is_longer_than_any_voice_takes(tmp_path: Path) -> None:
    """The longest shot of plain words (each 12 characters) says more than a plan's narration may hold: it is cut
    at a word, within every voice's limit of characters in one request."""
    from tale_cli.config import load_recipe
    from tale_cli.registry import Role, create, names

    words = [f"{n:04d}abcdefgh" for n in range(400)]
    plan = _plan(tmp_path, "# Words\n\n" + " ".join(words) + ".\n", shots=1, seconds=60.0)
    narration = plan.shots[0].narration
    assert 1500 < len(narration) <= NARRATION_CHARS
    assert narration.split() == words[: len(narration.split())]  # whole words, in order
    recipe = load_recipe("preview")
    limits = {name: create(Role.VOICE, name, recipe).capabilities().max_input_chars for name in names(Role.VOICE)}
    assert min(limits.values()) >= NARRATION_CHARS, limits
