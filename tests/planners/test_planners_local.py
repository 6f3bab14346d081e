"""The local planner: answers repaired into a Plan like every LLM planner's, and a real (tiny) transformers model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tale_cli.config import PlannerConfig, Recipe
from tale_cli.errors import PlanError
from tale_cli.planners._llm import extract_json
from tale_cli.planners.local import Messages, build_plan, plan_with_chat
from tale_cli.story.reader import read_story


def answer(shots: int = 3, *, characters: bool = True) -> str:
    data = {
        "title": "The Small Test",
        "style": "watercolour, soft dawn light",
        "characters": [{"id": "Ada Lovelace", "name": "Ada", "description": "a tall woman in a green coat"}] if characters else [],
        "shots": [
            {"prompt": f"Ada at the harbour, moment {n}", "camera": "slow push in", "characters": ["Ada Lovelace"],
             "narration": f"Sentence {n}.", "continuity": n > 1, "negative_prompt": "blurry"}
            for n in range(1, shots + 1)
        ],
    }  # fmt: skip
    return "Here is the plan:\n```json\n" + json.dumps(data) + "\n```"


class ScriptedChat:
    """A chat model that answers from a script and keeps the conversations it was given."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.conversations: list[Messages] = []

    def __call__(self, messages: Messages) -> str:
        self.conversations.append([dict(m) for m in messages])
        return self.answers.pop(0)


def test_a_valid_answer_becomes_the_plan(story_file: Path) -> None:
    story = read_story(story_file)
    chat = ScriptedChat(answer())
    plan = plan_with_chat(chat, story, Recipe(width=640, height=360), shots=3, seconds=4.0)
    assert [s.index for s in plan.shots] == [1, 2, 3] and {s.duration_s for s in plan.shots} == {4.0}
    # The model's "Ada Lovelace" is the story's Ada: one character, under the author's description.
    assert [c.id for c in plan.characters] == ["ada"] and plan.shots[0].characters == ["ada"]
    assert plan.characters[0].description == "a tall woman in a green coat" and not plan.notes
    assert (plan.width, plan.height, plan.slug) == (640, 360, "the-small-test")
    assert len(chat.conversations) == 1
    assert "exactly 3 shots" in chat.conversations[0][0]["content"]
    assert "Ada walked to the harbour" in chat.conversations[0][1]["content"]


def test_a_wrong_shot_count_is_repaired_without_asking_again(story_file: Path) -> None:
    chat = ScriptedChat(answer(shots=2))
    plan = plan_with_chat(chat, read_story(story_file), Recipe(), shots=3, seconds=8.0)
    assert len(plan.shots) == 3 and len(chat.conversations) == 1
    assert plan.notes == ["the planner gave 2 shots instead of 3: split the fullest shots in two"]


def test_an_answer_without_a_plan_is_asked_for_once_more(story_file: Path) -> None:
    chat = ScriptedChat("no json here", answer(shots=3, characters=False))
    plan = plan_with_chat(chat, read_story(story_file), Recipe(), shots=3, seconds=8.0)
    assert len(plan.shots) == 3 and len(chat.conversations) == 2
    assert "contains no JSON object" in chat.conversations[1][-1]["content"]


def test_two_answers_without_a_plan_are_a_plan_error(story_file: Path) -> None:
    chat = ScriptedChat("no json here", '{"shots": []}')
    with pytest.raises(PlanError, match=r"after one repair round: the answer has no shots"):
        plan_with_chat(chat, read_story(story_file), Recipe(), shots=3, seconds=8.0)
    assert len(chat.conversations) == 2


def test_extract_json_and_build_plan_errors(story_file: Path) -> None:
    assert extract_json('chatter {"a": [1, 2]} trailing') == {"a": [1, 2]}
    with pytest.raises(PlanError, match="not valid JSON"):
        extract_json('{"a": ')
    with pytest.raises(PlanError, match="has no shots"):
        build_plan('{"shots": [1]}', read_story(story_file), Recipe(), shots=1, seconds=8.0)


def test_a_ten_thousand_character_word_in_an_answer_is_cut_to_what_its_shot_says(story_file: Path) -> None:
    """Counted as one word, a model's 10,000-character "word" made a 2,000-character narration no voice fits in an
    8-second shot: its characters count, and the shot says the pieces of it that fit."""
    from tale_cli.story.pace import natural_seconds, speech_room

    data = json.loads(answer(shots=2).split("```json\n")[1].split("\n```")[0])
    data["shots"][0]["narration"] = "The " + "x" * 10_000 + " ends."
    data["shots"][1]["lines"] = [{"speaker": "Ada", "text": "Look: " + "y" * 10_000}]
    plan = build_plan(json.dumps(data), read_story(story_file), Recipe(), shots=2, seconds=8.0)
    first, second = plan.shots
    assert first.narration.startswith("The xxx") and len(first.narration) <= 200
    assert natural_seconds(first.narration) <= speech_room(8.0)
    said = natural_seconds(second.narration) + sum(natural_seconds(line.text) for line in second.lines)
    assert second.lines and said <= speech_room(8.0, 2) and all(len(line.text) <= 200 for line in second.lines)


def test_the_transformers_chat_model_runs_and_its_answer_is_checked(tmp_path: Path, story_file: Path) -> None:
    pytest.importorskip("transformers")
    import torch
    from tiny_pipelines import llama_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    from tale_cli.planners.local import TransformersChat, plan_story

    torch.set_num_threads(1)
    tokenizer = llama_tokenizer()
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         max_position_embeddings=4096, pad_token_id=2, eos_token_id=2))  # fmt: skip
    folder = tmp_path / "tiny-chat"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    config = PlannerConfig(backend="local", model=str(folder), temperature=0.0, max_tokens=6)
    chat = TransformersChat(config)
    reply = chat([{"role": "user", "content": "a fox"}])
    assert isinstance(reply, str) and reply == chat([{"role": "user", "content": "a fox"}])
    recipe = Recipe(planner=config)
    with pytest.raises(PlanError, match="after one repair round"):
        plan_story(read_story(story_file), recipe, shots=3, seconds=8.0)
