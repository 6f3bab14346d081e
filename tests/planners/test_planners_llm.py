"""The Gemini, OpenAI and OpenAI-compatible planners against the fake provider server."""

from __future__ import annotations

import json
import logging

import pytest
from cloudrender import EXAMPLE_STORY
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.config import Recipe, load_recipe
from tale_cli.errors import KeysError, PlanError, RecipeError
from tale_cli.planners import plan_story, planner
from tale_cli.planners._llm import (
    PlanSettings,
    _user_prompt,
    chunk_story,
    parse_answer,
    repair_answer,
    response_schema,
    trim_text,
)
from tale_cli.story.pace import budget_words, natural_seconds, speech_room
from tale_cli.story.plan import load_plan, parse_plan
from tale_cli.story.reader import read_story


def plan_requests(fake):
    return [r for r in fake.requests if r["path"].endswith(":generateContent") or r["path"] == "/v1/responses"]


def test_gemini_planner_plans_the_example_story(fake_providers):
    story = read_story(EXAMPLE_STORY)

    plan = plan_story(story, load_recipe("veo-3.1-fast"))

    assert len(plan.shots) == 8 and [s.index for s in plan.shots] == list(range(1, 9))
    assert {s.duration_s for s in plan.shots} == {8.0}
    assert [c.id for c in plan.characters] == ["mira", "pip"]
    assert plan.title == story.title and plan.slug == "the-lighthouse-keeper-s-cat"
    assert plan.style == story.meta.style and (plan.width, plan.height) == (1280, 720)
    (sent,) = plan_requests(fake_providers)
    assert sent["path"] == "/v1/models/gemini-3.8-flash:generateContent"
    config = sent["json"]["generationConfig"]
    schema = config["responseJsonSchema"]
    assert config["responseMimeType"] == "application/json"
    assert schema["properties"]["shots"]["minItems"] == schema["properties"]["shots"]["maxItems"] == 8
    # Veo with reference images renders 8 s shots only: the schema allows nothing else, without a numeric enum.
    duration = schema["properties"]["shots"]["items"]["properties"]["duration_s"]
    assert (duration["minimum"], duration["maximum"]) == (8.0, 8.0) and "enum" not in duration
    # Sampling settings are deprecated for gemini-3 models: none is sent.
    assert not {"temperature", "topP", "topK"} & set(config)
    prompt = sent["json"]["contents"][0]["parts"][0]["text"]
    assert "a small grey cat with white paws and one torn ear" in prompt and "Plan exactly 8 shots" in prompt
    assert "SAME words every time" in sent["json"]["systemInstruction"]["parts"][0]["text"]


def test_durations_follow_the_video_backend(fake_providers):
    recipe = load_recipe("veo-3.1-fast").model_copy(update={"continuity": "first-frame"})
    plan_story(read_story(EXAMPLE_STORY), recipe)
    schema = plan_requests(fake_providers)[0]["json"]["generationConfig"]["responseJsonSchema"]
    duration = schema["properties"]["shots"]["items"]["properties"]["duration_s"]
    assert (duration["minimum"], duration["maximum"]) == (4.0, 8.0) and duration["description"].endswith("4, 6, 8")


def test_malformed_answer_is_repaired_once(fake_providers):
    fake_providers.malformed_plans = 1

    plan = plan_story(read_story(EXAMPLE_STORY), load_recipe("gemini-omni"))

    assert len(plan.shots) == 8
    _first, repair = plan_requests(fake_providers)
    turns = repair["json"]["contents"]
    assert [t["role"] for t in turns] == ["user", "model", "user"]
    assert turns[1]["parts"][0]["text"].startswith('{"title"')
    assert "not valid JSON" in turns[2]["parts"][0]["text"]


def test_malformed_twice_is_a_clear_error(fake_providers):
    fake_providers.malformed_plans = 2
    with pytest.raises(
        PlanError, match="gemini planner returned an invalid plan twice: the answer is not valid JSON"
    ) as caught:
        plan_story(read_story(EXAMPLE_STORY), load_recipe("gemini-omni"))
    assert "--planner offline" in caught.value.hint
    assert fake_providers.creates["plan"] == 2


def test_openai_planner_uses_the_responses_api_with_a_strict_schema(fake_providers):
    fake_providers.malformed_plans = 1
    plan = plan_story(read_story(EXAMPLE_STORY), load_recipe("runway-gen4-turbo"))

    assert len(plan.shots) == 8 and {s.duration_s for s in plan.shots} == {8.0}
    first, repair = plan_requests(fake_providers)
    body = first["json"]
    assert body["model"] == "gpt-5.4-mini" and "temperature" not in body
    assert body["text"]["format"]["type"] == "json_schema" and body["text"]["format"]["strict"] is True
    duration = body["text"]["format"]["schema"]["properties"]["shots"]["items"]["properties"]["duration_s"]
    assert (duration["minimum"], duration["maximum"]) == (2.0, 10.0)  # what gen4_turbo renders
    assert [m["role"] for m in repair["json"]["input"]] == ["user", "assistant", "user"]
    assert first["headers"]["authorization"] == "Bearer test-openai-key-not-real-1234"


def test_openai_compatible_planner_talks_to_the_recipes_server(fake_providers, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("TALE_OPENAI_API_KEY")
    recipe = Recipe(
        planner={"backend": "openai-compatible", "model": "qwen2.5-14b", "base_url": fake_providers.url + "/v1"},
        video={"backend": "veo"},
    )
    fake_providers.keys["openai"] = "unused"

    plan = plan_story(read_story(EXAMPLE_STORY), recipe, planner_name="openai-compatible")

    assert len(plan.shots) == 8
    (sent,) = plan_requests(fake_providers)
    assert sent["json"]["model"] == "qwen2.5-14b" and sent["json"]["temperature"] == 0.4


def test_openai_compatible_planner_needs_an_address(fake_providers):
    with pytest.raises(RecipeError, match="needs a server address"):
        planner("openai-compatible")(read_story(EXAMPLE_STORY), Recipe(planner={"model": "m"}), shots=8, seconds=8)
    assert fake_providers.requests == []


def test_long_stories_are_planned_in_parts_with_the_same_characters(fake_providers):
    recipe = load_recipe("veo-3.1-fast")
    recipe = recipe.model_copy(update={"planner": recipe.planner.model_copy(update={"max_chunk_chars": 400})})

    plan = plan_story(read_story(EXAMPLE_STORY), recipe)

    sent = plan_requests(fake_providers)
    assert len(sent) == 3
    counts = [r["json"]["generationConfig"]["responseJsonSchema"]["properties"]["shots"]["minItems"] for r in sent]
    assert sum(counts) == 8 and len(plan.shots) == 8
    later = sent[1]["json"]["contents"][0]["parts"][0]["text"]
    assert "part 2 of 3" in later and "reuse their ids and descriptions exactly" in later and "- mira: Mira:" in later
    assert len({c.id for c in plan.characters}) == len(plan.characters)


def test_chunk_story_gives_every_part_a_shot():
    story = read_story(EXAMPLE_STORY)
    for max_chars, shots in [(500, 8), (200, 8), (100, 3), (20_000, 8)]:
        chunks = chunk_story(story, max_chars, shots)
        assert sum(share for _, share in chunks) == shots
        assert all(share >= 1 for _, share in chunks)
        assert len(chunks) <= shots
        assert "".join(part for part, _ in chunks).replace("\n", "") == story.body.replace("\n", "")


def test_response_schema_is_strict():
    schema = response_schema(5, (4.0, 6.0, 8.0))

    def walk(node):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert set(node["required"]) == set(node["properties"])
            for child in node["properties"].values():
                walk(child)
        if node.get("type") == "array":
            walk(node["items"])

    walk(schema)
    assert json.dumps(schema)


def test_response_schema_has_no_numeric_enum():
    """The Gemini API's Schema.enum is a list of strings: a number there is a 400 (TYPE_STRING)."""
    from fakes.google import numeric_enum

    for durations in [(8.0,), (4.0, 6.0, 8.0), tuple(float(s) for s in range(2, 11))]:
        assert numeric_enum(response_schema(8, durations), "schema") is None
    assert numeric_enum({"properties": {"d": {"type": "number", "enum": [8.0]}}}, "s") == ("s.properties[d].enum[0]", 8)


def test_gemini_2_models_still_get_the_recipes_temperature(fake_providers):
    recipe = load_recipe("gemini-omni")
    recipe = recipe.model_copy(update={"planner": recipe.planner.model_copy(update={"model": "gemini-2.5-flash"})})

    plan_story(read_story(EXAMPLE_STORY), recipe)

    assert plan_requests(fake_providers)[0]["json"]["generationConfig"]["temperature"] == 0.4


def test_wrong_key_is_a_keys_error(fake_providers, monkeypatch):
    monkeypatch.setenv("TALE_GOOGLE_API_KEY", "wrong-gemini-key-not-real-1111")
    with pytest.raises(KeysError, match="google rejected the API key") as caught:
        plan_story(read_story(EXAMPLE_STORY), load_recipe("gemini-omni"))
    assert "wrong-gemini-key" not in str(caught.value)


def test_missing_key_is_a_keys_error_before_any_call(fake_providers, monkeypatch):
    monkeypatch.delenv("TALE_OPENAI_API_KEY")
    with pytest.raises(
        KeysError, match="no OpenAI API key found for 'openai' \\(needed by the openai planner\\)"
    ) as caught:
        plan_story(read_story(EXAMPLE_STORY), load_recipe("runway-gen4.5"))
    assert "tale keys set openai" in caught.value.hint
    assert fake_providers.requests == []


# ---------------------------------------------------------------- repair


def test_schema_valid_nonsense_still_gives_a_valid_eight_shot_plan(fake_providers, caplog):
    fake_providers.nonsense_plans = True

    with caplog.at_level(logging.WARNING, logger="tale"):
        plan = plan_story(read_story(EXAMPLE_STORY), load_recipe("veo-3.1-fast"))

    assert fake_providers.creates["plan"] == 1  # repaired, not asked for again
    assert parse_plan(json.loads(plan.to_json())) == plan
    assert len(plan.shots) == 8 and {s.duration_s for s in plan.shots} == {8.0}  # references: 8 s only
    ids = {c.id for c in plan.characters}
    assert all(set(shot.characters) <= ids for shot in plan.shots)
    assert all(len(c.name) <= 80 for c in plan.characters) and all(len(s.camera) <= 200 for s in plan.shots)
    assert all(len(s.prompt) <= 4000 and s.prompt.endswith((".", "?")) for s in plan.shots)
    assert any("who is not among the characters" in note for note in plan.notes)
    assert [r.getMessage() for r in caplog.records] == [f"gemini planner: {note}" for note in plan.notes]


def test_nonsense_for_runway_is_trimmed_to_its_prompt_limit_and_snapped_to_whole_seconds(fake_providers):
    fake_providers.nonsense_plans = True

    plan = plan_story(read_story(EXAMPLE_STORY), load_recipe("runway-gen4-turbo"))

    assert len(plan.shots) == 8 and {s.duration_s for s in plan.shots} == {5.0}  # 2 + 8 × 0.37 = 4.96 → 5
    assert "shot 8: 4.96 s is not a length the video model renders; 5 s instead" in plan.notes
    assert all(900 < len(s.prompt) <= 1000 and s.prompt.endswith((".", "?")) for s in plan.shots)
    (sent,) = plan_requests(fake_providers)
    assert "under 1000 characters" in sent["json"]["input"][0]["content"]


@pytest.mark.parametrize("given", [7, 9])
def test_a_plan_with_a_shot_too_few_or_too_many_is_fitted_to_eight(fake_providers, given):
    fake_providers.plan_shots = given

    plan = plan_story(read_story(EXAMPLE_STORY), load_recipe("gemini-omni"))

    assert [s.index for s in plan.shots] == list(range(1, 9)) and fake_providers.creates["plan"] == 1
    how = "split the fullest shots in two" if given < 8 else "merged neighbouring shots"
    assert plan.notes == [f"the planner gave {given} shots instead of 8: {how}"]
    narration = " ".join(s.narration for s in plan.shots)
    assert all(f"Line {n} of the story." in narration for n in range(1, given + 1))  # nothing is lost


def test_repair_matches_characters_by_id_or_name_in_any_spelling_and_drops_the_rest():
    settings = PlanSettings(shots=2, seconds=8.0, durations=(4.0, 6.0, 8.0), max_prompt_chars=60)
    answer = {
        "style": "ink",
        "characters": [
            {"id": "Mira Keeper", "name": "Mira", "description": "a keeper"},
            {"id": "pip", "name": "Pip", "description": "a cat"},
            {"id": "pip", "name": "Pip again", "description": "the same id twice"},
        ],
        "shots": [
            {"duration_s": 7, "prompt": "A lamp. " * 20, "characters": ["MIRA", "pip the cat", "Captain Ahab"]},
            {"duration_s": "4", "prompt": "", "narration": "Dawn.", "characters": ["mira-keeper", "Tom"]},
        ],
    }
    known = [{"id": "tom", "name": "Tom", "description": "a fisherman from an earlier part"}]

    repaired = repair_answer(answer, settings, known, first_index=3)

    assert [c["id"] for c in repaired.characters] == ["mira-keeper", "pip", "tom"]
    assert [s["characters"] for s in repaired.shots] == [["mira-keeper", "pip"], ["mira-keeper", "tom"]]
    assert [s["duration_s"] for s in repaired.shots] == [8.0, 4.0]
    assert repaired.shots[0]["prompt"] == ("A lamp. " * 7).strip() and repaired.shots[1]["prompt"] == "Dawn."
    assert repaired.notes == [
        "shot 3: dropped 'Captain Ahab', who is not among the characters",
        "shot 3: 7 s is not a length the video model renders; 8 s instead",
        "shot 3: prompt cut to 55 characters at a sentence end",
    ]


def test_only_an_answer_without_a_plan_is_asked_for_again():
    with pytest.raises(PlanError, match="not valid JSON"):
        parse_answer('{"shots": [')
    with pytest.raises(PlanError, match="has no shots"):
        parse_answer('{"characters": [], "shots": []}')
    assert parse_answer('```json\n{"shots": [{}]}\n```') == {"shots": [{}]}


def test_trim_text_keeps_whole_sentences_and_else_whole_words():
    assert trim_text("One. Two three. Four.", 16) == "One. Two three."
    assert trim_text("an unbroken clause without any end", 20) == "an unbroken clause"
    assert trim_text("short", 20) == "short"


def test_tale_plan_turns_nonsense_into_a_valid_plan(fake_providers, tmp_path):
    fake_providers.nonsense_plans = True

    result = CliRunner().invoke(app, ["plan", str(EXAMPLE_STORY), "--recipe", "veo-3.1-fast", "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    plan = load_plan(tmp_path / "the-lighthouse-keeper-s-cat" / "plan.json")
    assert len(plan.shots) == 8 and plan.notes and fake_providers.creates["plan"] == 1
    assert "warning: gemini planner: shot 1: dropped" in " ".join(result.output.split())


def test_repair_keeps_each_shots_words_within_its_seconds_and_gives_lines_to_characters():
    long = " ".join(f"Sentence {n} of a narration far too long for one short shot." for n in range(1, 8))
    shot = {"duration_s": 6, "prompt": "a harbour", "narration": long, "characters": ["mira"], "lines": [
        {"speaker": "Mira", "text": "Hold the lamp steady."},
        {"speaker": "Stranger", "text": "Who goes there?"},
        {"speaker": "narrator", "text": "Nobody answered."},
        {"speaker": "mira", "text": ""},
    ]}  # fmt: skip
    data = {"style": "s", "characters": [{"id": "mira", "name": "Mira", "description": "a keeper"}], "shots": [shot]}
    repaired = repair_answer(data, PlanSettings(1, 6.0, (6.0,)), [])
    (fixed,) = repaired.shots
    assert [(line["speaker"], line["text"]) for line in fixed["lines"]] == [
        ("mira", "Hold the lamp steady."),
        ("narrator", "Who goes there?"),
        ("narrator", "Nobody answered."),
    ]
    clips = 1 + len(fixed["lines"])
    said = natural_seconds(fixed["narration"]) + sum(natural_seconds(line["text"]) for line in fixed["lines"])
    assert fixed["narration"].startswith("Sentence 1 of") and said <= speech_room(6.0, clips)
    assert "shot 1: a line of 'Stranger', who is not among the characters, is narrated" in repaired.notes
    assert "shot 1: its spoken words were cut to what 6 s says at a natural pace" in repaired.notes


def test_the_prompt_gives_the_word_budget_and_the_schema_asks_for_lines():
    schema = response_schema(2, (4.0, 8.0))
    line = schema["properties"]["shots"]["items"]["properties"]["lines"]["items"]
    assert line["required"] == ["speaker", "text"]
    story = read_story(EXAMPLE_STORY)
    prompt = _user_prompt(story, story.body, PlanSettings(2, 8.0, (4.0, 8.0)), 1, 1, [])
    words, syllables = budget_words(8.0)
    assert f"8 s: at most {words} words ({syllables} syllables" in prompt and words == 21


def test_the_planner_asks_for_entities_and_keeps_the_ones_its_shots_list(fake_providers, tmp_path):
    story_file = tmp_path / "lantern.md"
    story_file.write_text(
        "---\ntitle: The Lantern\nentities:\n  - name: harbor\n    description: grey stone quays\n---\n\n"
        "Mira lit the brass lantern. She carried the brass lantern to the harbor every night.\n",
        encoding="utf-8",
    )

    plan = plan_story(read_story(story_file), load_recipe("veo-3.1-fast"))

    assert [(e.id, e.kind, e.description) for e in plan.entities] == [
        ("harbor", "place", "grey stone quays"),
        ("brass-lantern", "prop", "the same brass lantern in every shot"),
    ]
    assert [s.entities for s in plan.shots[:2]] == [["harbor"], ["brass-lantern"]]
    (sent,) = plan_requests(fake_providers)
    schema = sent["json"]["generationConfig"]["responseJsonSchema"]
    assert "entities" in schema["required"] and "entities" in schema["properties"]["shots"]["items"]["required"]
    prompt = sent["json"]["contents"][0]["parts"][0]["text"]
    assert "- harbor (place): harbor: grey stone quays" in prompt


def test_nonsense_entities_are_dropped_with_a_note_and_a_bad_kind_is_guessed():
    settings = PlanSettings(shots=1, seconds=8.0, durations=(8.0,))
    answer = {
        "characters": [{"id": "lamp", "name": "Lamp", "description": "a walking lamp"}],
        "entities": [
            {"id": "lamp", "kind": "vehicle", "name": "red scarf", "description": "wool"},
            {"id": "Not An Id!", "kind": "place", "name": "The Harbor"},
        ],
        "shots": [
            {"duration_s": 8, "prompt": "p", "characters": ["lamp"], "entities": ["RED SCARF", "the-harbor", "a kite"]}
        ],
    }

    repaired = repair_answer(answer, settings, [])

    assert [(e["id"], e["kind"]) for e in repaired.entities] == [("red-scarf", "wardrobe"), ("harbor", "place")]
    assert repaired.shots[0]["entities"] == ["red-scarf", "harbor"]
    assert repaired.notes == ["shot 1: dropped 'a kite', which is not among the entities"]
