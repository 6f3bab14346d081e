"""The Gemini planner: structured output with the plan's JSON schema as the response schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tale_cli.backends.cloud import Cloud
from tale_cli.backends.google.client import DEFAULT_PLAN_MODEL as DEFAULT_MODEL
from tale_cli.keys.store import require_key
from tale_cli.planners._llm import Message, plan_with

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.story.plan import Plan
    from tale_cli.story.reader import Story

# Models that still take temperature, top_p and top_k: deprecated for the Gemini API on 2026-07-21 and not
# sent to gemini-3 and later.
SAMPLING_MODEL_PREFIXES = ("gemini-1.", "gemini-2.")


def takes_sampling(model: str) -> bool:
    return model.removeprefix("models/").startswith(SAMPLING_MODEL_PREFIXES)


def plan_story(story: Story, recipe: Recipe, *, shots: int, seconds: float) -> Plan:
    from tale_cli.backends.google.client import gemini_client, sdk

    _, types = sdk()
    key = require_key("google", role="gemini planner")
    model = recipe.planner.model or DEFAULT_MODEL
    cloud = Cloud("google", model=model, section="planner")
    cloud.use_key(key)
    client = gemini_client(key)

    def ask(system: str, conversation: list[Message], schema: dict[str, Any]) -> str:
        contents = [
            types.Content(role="model" if role == "assistant" else "user", parts=[types.Part(text=text)])
            for role, text in conversation
        ]
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=recipe.planner.temperature if takes_sampling(model) else None,
            response_mime_type="application/json",
            response_json_schema=schema,
        )
        response = cloud.call(
            "plan", lambda: client.models.generate_content(model=model, contents=contents, config=config)
        )
        return response.text or ""

    return plan_with(ask, story, recipe, shots=shots, seconds=seconds, planner="gemini")
