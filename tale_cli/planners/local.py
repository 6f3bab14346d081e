"""The `local` planner: a transformers chat model on this machine writes the plan JSON.

The story never leaves the machine. The model's answer is repaired like every LLM planner's
(tale_cli/planners/_llm.py); one that holds no plan at all goes back to the model once with the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tale_cli.config import PlannerConfig, Recipe
from tale_cli.errors import PlanError, RecipeError
from tale_cli.planners._llm import (
    PlanSettings,
    assemble_plan,
    author_characters,
    author_entities,
    parse_answer,
    repair_answer,
)
from tale_cli.planners.entities import found_entities, mentions
from tale_cli.story.plan import Entity, Plan
from tale_cli.story.reader import Story

Messages = list[dict[str, str]]
Chat = Callable[[Messages], str]

SYSTEM = """You turn a short story into a shot plan for an AI video model. Answer with ONE JSON object and nothing else.
Shape:
{{"title": str, "style": str (one visual style for the whole film),
 "characters": [{{"id": "lowercase-id", "name": str, "description": str (looks, clothes, age; the same words every time)}}],
 "entities": [{{"id": "lowercase-id", "kind": "prop" | "wardrobe" | "place", "name": str, "description": str (its look, the
               same words every time)}}] (objects, clothes and places the story comes back to; [] if none),
 "shots": [{{"prompt": str (what the camera sees: subject, action, setting, light; name and describe the characters present),
            "negative_prompt": str, "camera": str, "characters": [character ids present], "entities": [entity ids present],
            "narration": str (one or two sentences of the story, in the story's language),
            "continuity": bool (true when this shot continues the previous one without a cut)}}]}}
Rules: exactly {shots} shots, each about {seconds:g} seconds, in story order, covering the whole story.
Prompts in English; character ids only from "characters"; no markdown, no comments."""

USER = "Story (language: {language}):\n\n{body}"
REPAIR = (
    "That answer is not a valid plan: {problem}\nReply with the corrected JSON object only, with exactly {shots} shots."
)


def build_plan(answer: str, story: Story, recipe: Recipe, *, shots: int, seconds: float) -> Plan:
    """The plan in a model's answer, repaired like every LLM planner's; PlanError when it holds no plan."""
    settings = PlanSettings(shots=shots, seconds=seconds, durations=(seconds,))
    things = author_entities(story)
    repaired = repair_answer(parse_answer(answer), settings, author_characters(story), things=things)
    if not repaired.entities and not things:
        # A small model often leaves entities out: the ones the offline planner finds, in the shots that name them.
        repaired.entities = found_entities(story, repaired.characters)
        for shot in repaired.shots:
            text = f"{shot['prompt']} {shot['narration']}"
            shot["entities"] = [e["id"] for e in repaired.entities if mentions(text, Entity.model_validate(e))]
    return assemble_plan(story, recipe, [repaired], planner="local")


def plan_with_chat(chat: Chat, story: Story, recipe: Recipe, *, shots: int, seconds: float) -> Plan:
    """Ask and repair; ask once more, with the problem spelled out, only for an answer that holds no plan."""
    body = story.body[: recipe.planner.max_chunk_chars]
    messages: Messages = [
        {"role": "system", "content": SYSTEM.format(shots=shots, seconds=seconds)},
        {"role": "user", "content": USER.format(language=story.language, body=body)},
    ]
    answer = chat(messages)
    try:
        return build_plan(answer, story, recipe, shots=shots, seconds=seconds)
    except PlanError as error:
        problem = error.message
    messages += [
        {"role": "assistant", "content": answer},
        {"role": "user", "content": REPAIR.format(problem=problem, shots=shots)},
    ]
    answer = chat(messages)
    try:
        return build_plan(answer, story, recipe, shots=shots, seconds=seconds)
    except PlanError as error:
        raise PlanError(
            f"the local planner's plan is invalid after one repair round: {error.message}",
            hint="try a larger model in [planner] model, or plan offline (--planner offline) and edit plan.json",
        ) from None


class TransformersChat:
    """A chat model loaded once with transformers; the weights come from a folder or the HF cache."""

    def __init__(self, config: PlannerConfig, *, seed: int = 0) -> None:
        from tale_cli.backends.diffusers.pipelines import require_local_extra
        from tale_cli.backends.models import resolve_model

        require_local_extra()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = resolve_model(config.model)
        self.config = config
        self.seed = seed
        cuda = torch.cuda.is_available()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch.bfloat16 if cuda else torch.float32, device_map="auto" if cuda else None
        )
        self.model.eval()

    def __call__(self, messages: Messages) -> str:
        import torch

        encoded: Any = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        inputs = encoded.to(self.model.device)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": self.config.temperature, "top_p": 0.9}
            if self.config.temperature > 0
            else {"do_sample": False}
        )
        torch.manual_seed(self.seed)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.config.max_tokens, pad_token_id=pad, **sampling)
        prompt_length = inputs["input_ids"].shape[1]
        return str(self.tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True))


def plan_story(story: Story, recipe: Recipe, *, shots: int, seconds: float) -> Plan:
    """The planner registry's entry point: load the recipe's chat model and plan the story with it."""
    if not recipe.planner.model:
        raise RecipeError(
            "the local planner needs a model", hint='set [planner] model = "Qwen/Qwen2.5-7B-Instruct" (or a folder)'
        )
    chat = TransformersChat(recipe.planner, seed=recipe.seed)
    return plan_with_chat(chat, story, recipe, shots=shots, seconds=seconds)
