"""Casting: every character of a plan gets a voice in each voice backend, from its description, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.backends.base import VoiceInfo
from tale_cli.cli.app import app
from tale_cli.config import Recipe
from tale_cli.errors import ExitCode, PlanError
from tale_cli.film.voice import check_cast
from tale_cli.planners import plan_story
from tale_cli.planners.casting import choose, cues
from tale_cli.registry import Role, names
from tale_cli.story.plan import Character, load_plan, parse_plan
from tale_cli.story.reader import read_story

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CAST = """---
title: The Ferry
characters:
  - name: Old Tom
    description: an old fisherman with a gravelly laugh and a grey beard
  - name: Lily
    description: a little girl in a red hood
  - name: June
    description: a woman who runs the ferry
    voice: en-gb+f4
  - name: Bo
    description: a boy with a kite
    voice: {{espeak: en-us+m6, openai: voice_made_for_bo}}
---

Old Tom rowed Lily, June and Bo across the bay. "Hold on," he said.
"""


def _planned(tmp_path: Path, story: Path) -> dict:
    result = CliRunner().invoke(app, ["plan", str(story), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [plan_file] = tmp_path.glob("*/plan.json")
    return json.loads(plan_file.read_text(encoding="utf-8"))


@pytest.mark.parametrize("example", ["story.md", "story.ko.md"])
def test_each_character_of_the_examples_has_its_own_voice_in_every_backend(tmp_path: Path, example: str) -> None:
    plan = _planned(tmp_path, EXAMPLES / example)
    characters = plan["characters"]
    assert len(characters) == 2
    for backend in names(Role.VOICE):
        voices = [character["voice"][backend] for character in characters]
        assert len(set(voices)) == len(voices), (backend, voices)
    narrator = {"espeak": "ko" if example == "story.ko.md" else "en-us", "openai": "marin", "gemini": "Sulafat"}
    for backend, voice in narrator.items():
        assert voice not in [character["voice"][backend] for character in characters]
    # Planned again, the same story casts the same voices.
    again = _planned(tmp_path / "again", EXAMPLES / example)
    assert [c["voice"] for c in again["characters"]] == [c["voice"] for c in characters]


def test_the_korean_girl_gets_female_voices(tmp_path: Path) -> None:
    haneul = _planned(tmp_path, EXAMPLES / "story.ko.md")["characters"][0]
    assert haneul["name"] == "하늘" and cues(haneul["description"]) == {"female", "young"}
    voice = haneul["voice"]
    assert voice["espeak"].startswith("ko+f") and voice["supertonic"].startswith("F")
    assert voice["gemini"] == "Leda"  # the one young female voice Gemini lists ("youthful")


def test_the_description_chooses_the_voice_and_the_author_s_own_is_kept(tmp_path: Path) -> None:
    story = tmp_path / "ferry.md"
    story.write_text(CAST.format(), encoding="utf-8")
    characters = {c["name"]: c["voice"] for c in _planned(tmp_path / "out", story)["characters"]}
    assert characters["Old Tom"]["espeak"] == "en-us+grandpa"
    assert characters["Lily"]["espeak"].startswith("en-us+f") and characters["Lily"]["gemini"] == "Leda"
    assert characters["June"] == "en-gb+f4"  # one voice for every backend, as the author wrote it
    assert characters["Bo"]["espeak"] == "en-us+m6" and characters["Bo"]["openai"] == "voice_made_for_bo"
    assert characters["Bo"]["gemini"] not in (characters["Old Tom"]["gemini"], characters["Lily"]["gemini"])
    assert characters["Bo"]["supertonic"].startswith("M")


def test_cues_read_english_words_whole_and_korean_anywhere() -> None:
    assert cues("an old fisherman") == {"old", "male"}
    assert cues("the shepherd's dog") == set()  # "he" inside "shepherd" is no cue
    assert cues("열두 살 소녀") == {"female", "young"}
    assert cues("a girl and her brother") == {"young"}  # both genders named: neither
    assert cues("할아버지가") == {"male", "old"}


def test_every_character_gets_a_different_voice_until_there_are_none_left() -> None:
    voices = [VoiceInfo("a", traits=("female",)), VoiceInfo("b", traits=("male",))]
    people = [Character(id=f"c{n}", name=f"C{n}", description="a woman") for n in range(3)]
    # The woman's voice first, then the other one, then the best fit again once each is given.
    assert choose(people, voices) == {"c0": "a", "c1": "b", "c2": "a"}
    assert choose(people[:1], voices, taken={"a"}) == {"c0": "b"}


def test_the_recipe_s_narrator_is_not_cast(tmp_path: Path) -> None:
    story = tmp_path / "ferry.md"
    story.write_text(CAST.format(), encoding="utf-8")
    recipe = Recipe.model_validate({"voice": {"backend": "espeak", "voice": "en-us+grandpa"}})
    plan = plan_story(read_story(story), recipe, planner_name="offline")
    assert "en-us+grandpa" not in [c.voice_for("espeak") for c in plan.characters]


def test_a_plan_s_voices_round_trip_and_old_plans_read_as_before(tmp_path: Path) -> None:
    shots = [{"index": 1, "duration_s": 4.0, "prompt": "p"}]
    plan = parse_plan({"title": "T", "slug": "t", "shots": shots, "characters": [
        {"id": "a", "name": "A", "voice": {"espeak": "en-us+f2", "gemini": "Kore"}},
        {"id": "b", "name": "B", "voice": "en-us+m1"},
        {"id": "c", "name": "C", "voice": {}},
    ]})  # fmt: skip
    a, b, c = plan.characters
    assert (a.voice_for("espeak"), a.voice_for("openai"), b.voice_for("openai"), c.voice) == (
        "en-us+f2", None, "en-us+m1", None
    )  # fmt: skip
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json(), encoding="utf-8")
    assert load_plan(path) == plan and "voice" not in json.loads(path.read_text())["characters"][2]
    with pytest.raises(PlanError, match="voice"):
        parse_plan({"title": "T", "slug": "t", "shots": shots, "characters": [
            {"id": "a", "name": "A", "voice": {"Espeak!": "en-us"}}]})  # fmt: skip


def test_a_voice_kept_for_a_backend_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    shots = [{"index": 1, "duration_s": 4.0, "prompt": "p", "lines": [{"speaker": "a", "text": "Hello."}]}]
    plan = parse_plan({"title": "T", "slug": "t", "shots": shots,
                       "characters": [{"id": "a", "name": "A", "voice": {"espek": "en-us+f2"}}]})  # fmt: skip
    with pytest.raises(PlanError, match="'espek', which is not a voice backend") as refused:
        check_cast(plan)
    assert "espeak" in (refused.value.hint or "")
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json(), encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(path), "--voice", "espeak", "--out", str(tmp_path / "o")])
    assert result.exit_code == ExitCode.PLAN and "espek" in result.output


def test_a_story_planned_again_keeps_its_characters_voices(tmp_path: Path) -> None:
    story = tmp_path / "ferry.md"
    story.write_text(CAST.format(), encoding="utf-8")
    first = _planned(tmp_path / "out", story)
    plan_file = tmp_path / "out" / "the-ferry" / "plan.json"
    edited = json.loads(plan_file.read_text(encoding="utf-8"))
    edited["characters"][1]["voice"]["espeak"] = "en-us+f5"  # Lily's, by hand
    plan_file.write_text(json.dumps(edited), encoding="utf-8")
    story.write_text(CAST.format() + "\nThe bay was calm by noon.\n", encoding="utf-8")
    again = {c["name"]: c["voice"] for c in _planned(tmp_path / "out", story)["characters"]}
    assert again["Lily"] == {**first["characters"][1]["voice"], "espeak": "en-us+f5"}
    assert again["Old Tom"] == first["characters"][0]["voice"] and again["June"] == "en-gb+f4"
