"""OpenAI planners: the Responses API with the plan's JSON schema as a strict text format, at OpenAI or any
compatible server (vLLM, Ollama).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tale_cli.backends.cloud import Cloud
from tale_cli.backends.openai.client import DEFAULT_PLAN_MODEL as DEFAULT_MODEL
from tale_cli.backends.openai.client import PLANNER_BASE_URL_ENV
from tale_cli.errors import RecipeError
from tale_cli.keys.store import require_key
from tale_cli.planners._llm import Message, plan_with

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Plan
    from tale_cli.story.reader import Story

# Local servers (vLLM, Ollama) rarely check keys; the SDK still wants one.
UNCHECKED_KEY = "unused"
# Where the openai-compatible planner's server is when the recipe names none.


def _plan(
    story: Story,
    recipe: Recipe,
    *,
    shots: int,
    seconds: float,
    client: Any,
    cloud: Cloud,
    model: str,
    planner: str,
    temperature: float | None,
) -> Plan:
    def ask(system: str, conversation: list[Message], schema: dict[str, Any]) -> str:
        arguments: dict[str, Any] = {
            "model": model,
            "instructions": system,
            "input": [{"role": role, "content": text} for role, text in conversation],
            "text": {"format": {"type": "json_schema", "name": "tale_plan", "strict": True, "schema": schema}},
        }
        if temperature is not None:
            arguments["temperature"] = temperature
        response = cloud.call("plan", lambda: client.responses.create(**arguments))
        return str(getattr(response, "output_text", "") or "")

    return plan_with(ask, story, recipe, shots=shots, seconds=seconds, planner=planner)


def plan_story(story: Story, recipe: Recipe, *, shots: int, seconds: float) -> Plan:
    """OpenAI's Responses API; OPENAI_BASE_URL (if set) is honoured by the SDK."""
    from tale_cli.backends.openai.client import openai_client

    key = require_key("openai", role="openai planner")
    model = recipe.planner.model or DEFAULT_MODEL
    cloud = Cloud("openai", model=model, section="planner")
    cloud.use_key(key)
    client = openai_client(key)
    # Reasoning models refuse a temperature; OpenAI's own planner leaves it to the model.
    return _plan(
        story,
        recipe,
        shots=shots,
        seconds=seconds,
        client=client,
        cloud=cloud,
        model=model,
        planner="openai",
        temperature=None,
    )


def plan_story_compatible(story: Story, recipe: Recipe, *, shots: int, seconds: float) -> Plan:
    """Any server that speaks the Responses API (vLLM, Ollama, ...) at the recipe's `base_url`."""
    from tale_cli.backends.openai.client import openai_client

    base_url = recipe.planner.base_url or os.environ.get(PLANNER_BASE_URL_ENV)
    if not base_url:
        raise RecipeError(
            "the openai-compatible planner needs a server address",
            hint='set base_url = "http://host:8000/v1" in the recipe\'s [planner] section, or TALE_PLANNER_BASE_URL',
        )
    if not recipe.planner.model:
        raise RecipeError(
            "the openai-compatible planner needs a model name", hint="set model in the recipe's [planner] section"
        )
    key = os.environ.get("TALE_PLANNER_API_KEY")
    cloud = Cloud(
        "openai-compatible planner",
        model=recipe.planner.model,
        section="planner",
        key_hint="set TALE_PLANNER_API_KEY to the key your server expects",
    )
    if key:
        cloud.use_key(key)
    client = openai_client(key or UNCHECKED_KEY, base_url=base_url)
    return _plan(
        story,
        recipe,
        shots=shots,
        seconds=seconds,
        client=client,
        cloud=cloud,
        model=recipe.planner.model,
        planner="openai-compatible",
        temperature=recipe.planner.temperature,
    )
