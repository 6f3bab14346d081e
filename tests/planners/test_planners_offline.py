from __future__ import annotations

import re
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
    said = [[(item.who, item.text) for item in s.speech] for s in plan.shots]
    # In the order the story tells them (expectations changed with speech in story order: lines used to come last).
    assert said[0] == [("mira", "The lamp is out."), ("narrator", "Pip ran to the stairs.")]
    assert said[1] == [("narrator", "Pip looked up."), ("pip", "Follow me!"), ("narrator", "And the wind answered.")]
    assert said[2] == [("narrator", "Come home."), ("narrator", "Mira folded it away.")]  # the letter speaks
    assert said[3] == [("narrator", "가자!")]
    assert "mira" in plan.shots[0].characters
    assert plan.shots[0].narration == "Pip ran to the stairs." and plan.shots[1].lines[0].speaker == "pip"
    assert "Pip ran to the stairs." in plan.shots[0].prompt and "lamp is out" not in plan.shots[0].prompt


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
    # Every voice backend speaks it: in one clip where it takes the whole, else in whole-sentence (here whole-word)
    # clips within its limit of characters a request (Runway's text-to-speech takes 1,000).
    from tale_cli.config import VoiceConfig
    from tale_cli.film.voice import plan_speech

    for name in names(Role.VOICE):
        recipe = load_recipe("preview").model_copy(update={"voice": VoiceConfig(backend=name)})
        backend = create(Role.VOICE, name, recipe)
        try:
            limit = backend.capabilities().max_input_chars
            (entry,) = plan_speech(plan, recipe, backend)
            clips = [utterance.text for utterance in entry.utterances]
            assert all(len(text) <= limit for text in clips) and " ".join(clips) == narration, name
            assert len(clips) == (1 if limit >= NARRATION_CHARS else -(-len(narration) // limit)), (name, limit)
        finally:
            backend.close()


# ---------------------------------------------------------------------------------------------- the story's beats

SIX_SENTENCES = (
    "Once upon a time an old woodcutter lived at the edge of a dark forest. One evening he found a golden acorn "
    'under a tree. "What a strange thing," the woodcutter said. That night the goblins came to his hut and banged '
    'on the door. "Give it back!" they shouted. The woodcutter bit the acorn, crack, and the goblins ran away.'
)
KOREAN_SIX = (
    "옛날 어느 산골에 마음씨 착한 나무꾼이 살았다. 나무꾼은 산에서 개암을 주웠다. 한밤중에 도깨비들이 몰려왔다. "
    '도깨비들은 방망이를 두드리며 "금 나와라 뚝딱!" 하고 외쳤다. 배가 고파진 나무꾼이 개암을 딱! 하고 깨물자 '
    "도깨비들은 깜짝 놀라 도망쳤다. 나무꾼은 도깨비들이 두고 간 방망이를 가지고 집으로 돌아왔다."
)


def _kept(plan, sentence: str) -> bool:
    """The sentence reached a shot: its quotation is said (by whoever says it: its speech tag becomes the line's
    speaker), else every word of it is in the plan's speech or prompts (it may span two shots)."""
    quoted = re.search(r'"([^"]+)"', sentence)
    if quoted:
        words = quoted.group(1).rstrip(",")
        return any(words.rstrip(".") in item.text for shot in plan.shots for item in shot.speech)
    said = " ".join(text for shot in plan.shots for text in (shot.prompt, *(item.text for item in shot.speech)))
    return all(word.strip(",.!?").casefold() in said.casefold() for word in sentence.split())


@pytest.mark.parametrize("front_matter", [True, False])
@pytest.mark.parametrize("text", [SIX_SENTENCES, KOREAN_SIX], ids=["english", "korean"])
def test_every_sentence_of_a_six_sentence_story_reaches_a_shot(tmp_path: Path, text: str, front_matter: bool) -> None:
    heading = "---\ntitle: Six\nshots: 8\n---\n\n" if front_matter else ""
    plan = _plan(tmp_path, heading + text + "\n", shots=8)
    sentences = split_sentences(text)
    assert len(sentences) == 6, sentences
    missing = [sentence for sentence in sentences if not _kept(plan, sentence)]
    assert missing == [] and plan.notes == []
    spoken = " ".join(item.text for shot in plan.shots for item in shot.speech)
    # Said in the story's order: each sentence's first word comes after the one before's.
    at = 0
    for sentence in sentences:
        at = spoken.find(sentence.split()[0].strip('"'), at)
        assert at >= 0, (sentence, spoken)
        at += 1


def test_korean_names_lose_their_particles_and_plural_marker(tmp_path: Path) -> None:
    plan = _plan(tmp_path, KOREAN_SIX + "\n", shots=6)
    assert [c.name for c in plan.characters] == ["나무꾼", "도깨비"]
    goblins = next(c.id for c in plan.characters if c.name == "도깨비")
    # The goblins say their magic words, before the gold comes: the quotation is theirs, in its place.
    said = [(item.who, item.text) for shot in plan.shots for item in shot.speech]
    assert (goblins, "금 나와라 뚝딱!") in said
    at = said.index((goblins, "금 나와라 뚝딱!"))
    assert said[at - 1] == ("narrator", "도깨비들은 방망이를 두드리며")
    assert all(goblins in shot.characters for shot in plan.shots if "도깨비" in shot.prompt)


def test_a_sound_word_stays_in_its_sentence(tmp_path: Path) -> None:
    assert split_sentences("배가 고파진 나무꾼이 개암을 딱! 하고 깨물자 도깨비들은 도망쳤다. 끝이었다.") == [
        "배가 고파진 나무꾼이 개암을 딱! 하고 깨물자 도깨비들은 도망쳤다.",
        "끝이었다.",
    ]
    assert split_sentences('"Crack!" went the acorn. "Stop! Thief!" he cried. The end.') == [
        '"Crack!" went the acorn.',
        '"Stop! Thief!" he cried.',
        "The end.",
    ]
    plan = _plan(tmp_path, KOREAN_SIX + "\n", shots=8)
    assert any("개암을 딱! 하고 깨물자" in item.text for shot in plan.shots for item in shot.speech)
    assert not any(item.text.startswith("하고") for shot in plan.shots for item in shot.speech)


def test_quoted_speech_goes_to_the_character_its_tag_names_without_front_matter(tmp_path: Path) -> None:
    plan = _plan(tmp_path, SIX_SENTENCES + "\n", shots=6)
    assert "Woodcutter" in [c.name for c in plan.characters]
    said = [(item.who, item.text) for shot in plan.shots for item in shot.speech]
    assert ("woodcutter", "What a strange thing.") in said
    # "they shouted" names no one the story knows: the narrator says the words, in their place.
    assert said.index(("narrator", "Give it back!")) == said.index(("woodcutter", "What a strange thing.")) + 2


def test_words_that_cannot_fit_are_cut_least_important_first(tmp_path: Path) -> None:
    story = (
        "---\ntitle: Crowded\ncharacters:\n  - name: Mira\n---\n\n"
        "The storm had raged over the little island for three long days and nights. "
        "Grey rain ran down every window and every wall of the old stone house. "
        "Mira lit the great lamp at last.\n"
    )
    plan = _plan(tmp_path, story, shots=1, seconds=8.0)
    narration = plan.shots[0].narration
    # The sentence that names a character stays, and the one that opens the paragraph; the description goes.
    assert "Mira lit the great lamp" in narration and narration.startswith("The storm had raged")
    assert "Grey rain" not in narration and "Grey rain ran down every window" in plan.shots[0].prompt
    assert plan.notes and plan.notes[0].startswith("shot 1: spoken words cut")


def test_entities_are_the_named_things_the_story_returns_to_and_none_in_korean(tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    path.write_text(
        "Sam carried the red umbrella to the station every day. Rain or shine, the umbrella went with him.\n\n"
        "One afternoon at the station, a stranger asked to borrow it. The rocks were wet.\n\n"
        "Sam handed over the red umbrella and watched the train leave. The rocks shone.\n",
        encoding="utf-8",
    )
    plan = plan_story(read_story(path), Recipe(shots=3))
    assert [(e.id, e.kind, e.name) for e in plan.entities] == [
        ("red-umbrella", "prop", "red umbrella"),
        ("station", "place", "station"),
    ]
    assert [s.entities for s in plan.shots] == [["red-umbrella", "station"], ["station"], ["red-umbrella"]]
    # The example's lamp is "its lamp" when it first appears (a lamp, not one named), its rocks and gears are many
    # things: its plan is the one it always was, with no entity to draw.
    example = plan_story(read_story(EXAMPLES / "story.md"), Recipe())
    assert example.entities == [] and "entities" not in example.to_json()
    korean = plan_story(read_story(EXAMPLES / "story.ko.md"), Recipe())
    assert korean.entities == [] and "entities" not in korean.to_json()


def test_a_worn_thing_is_wardrobe_and_a_place_gone_to_twice_is_a_place(tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    path.write_text(
        "Ada wrapped her red scarf tight and walked to the pier.\n\n"
        "At the pier the wind pulled at her red scarf.\n\n"
        "She waited at the pier until the ferry came. Ada laughed.\n",
        encoding="utf-8",
    )
    plan = plan_story(read_story(path), Recipe(shots=3))
    assert [(e.id, e.kind, e.name) for e in plan.entities] == [
        ("pier", "place", "pier"),
        ("red-scarf", "wardrobe", "red scarf"),
    ]
    assert [s.entities for s in plan.shots] == [["pier", "red-scarf"], ["pier", "red-scarf"], ["pier"]]


def test_a_named_thing_counts_where_its_phrase_runs_on_and_worn_things_keep_their_words(tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    path.write_text(
        "Jun waits at the old train station with a red umbrella.\n\n"
        "A girl in a yellow raincoat runs past and drops a silver key. Jun picks up the silver key.\n\n"
        "Jun walks back to the old train station. The red umbrella drips beside him.\n\n"
        "The girl in the yellow raincoat returns.\n",
        encoding="utf-8",
    )
    plan = plan_story(read_story(path), Recipe(shots=4))
    found = {(e.id, e.kind) for e in plan.entities}
    # "The red umbrella drips" does not show where its phrase ends, but the story named it so before; a raincoat is
    # worn whatever word follows it.
    assert found == {
        ("old-train-station", "place"),
        ("red-umbrella", "prop"),
        ("yellow-raincoat", "wardrobe"),
    }  # the silver key is named twice, but in one paragraph only: the story does not return to it
    assert "red-umbrella" in plan.shots[2].entities and plan.shots[3].entities == ["yellow-raincoat"]


def test_declared_korean_entities_are_found_with_their_particles(tmp_path: Path) -> None:
    path = tmp_path / "ko.md"
    path.write_text(
        "---\nentities:\n  - name: 등불\n  - name: 항구\n    kind: place\n---\n\n"
        "준이는 다락방에서 등불을 찾았다.\n\n저녁이 되자 준이는 등불을 들고 항구로 내려갔다.\n\n아침이 되자 항구는 고요했다.\n",
        encoding="utf-8",
    )
    plan = plan_story(read_story(path), Recipe(shots=3))
    assert [(e.id, e.kind) for e in plan.entities] == [("entity-1", "prop"), ("entity-2", "place")]
    assert [s.entities for s in plan.shots] == [["entity-1"], ["entity-1", "entity-2"], ["entity-2"]]
