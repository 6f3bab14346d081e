"""The fake planners' answer, shared by the Gemini and OpenAI fakes: a valid plan for the schema Tale sent."""

from __future__ import annotations

import json
import re
from typing import Any

from fakes.server import FakeProviders

# A plan cut off mid-object: what a model that ran out of tokens sends back.
CUT_OFF_PLAN = '{"title": "The Lighthouse Keeper\'s Cat", "shots": [{"duration_s": 8, "prompt": '


def allowed_durations(schema: dict[str, Any], prompt: str) -> list[float]:
    """The shot lengths the request allows, read as a model would: from the prompt, else the schema's bounds."""
    said = re.search(r"Allowed shot durations in seconds: ([\d., ]+);", prompt)
    if said:
        return [float(value) for value in said.group(1).replace(" ", "").split(",") if value]
    duration = schema["properties"]["shots"]["items"]["properties"]["duration_s"]
    return [float(value) for value in duration.get("enum") or [duration.get("maximum", 8)]]


def plan_answer(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    """A valid plan for the structured-output schema Tale sent: its shot count and allowed durations."""
    shots_schema = schema["properties"]["shots"]
    count = shots_schema.get("minItems", 8)
    allowed = allowed_durations(schema, prompt)
    preferred = re.search(r"prefer (\d+(?:\.\d+)?) s", prompt)
    seconds = float(preferred.group(1)) if preferred and float(preferred.group(1)) in allowed else allowed[-1]
    names = re.findall(r"\b(Mira|Pip)\b", prompt) or ["Mira"]
    characters = [
        {"id": name.lower(), "name": name, "description": f"{name}, drawn the same in every shot"}
        for name in dict.fromkeys(names)
    ]
    return {
        "title": "The Lighthouse Keeper's Cat",
        "style": "Warm storybook animation",
        "characters": characters,
        "shots": [
            {
                "duration_s": seconds,
                "prompt": f"Shot {n}: a lighthouse on a rocky island at dusk, painterly",
                "negative_prompt": "blurry, text",
                "camera": "slow push in",
                "characters": [characters[n % len(characters)]["id"]],
                "narration": f"Line {n} of the story.",
                "continuity": n > 1,
            }
            for n in range(1, count + 1)
        ],
    }


def plan_text(fake: FakeProviders, schema: Any, prompt: str) -> str:
    """The planner's reply text, counted as one "plan" create; cut off while `malformed_plans` says so."""
    with fake.lock:
        fake.creates["plan"] += 1
        malformed = fake.malformed_plans > 0
        if malformed:
            fake.malformed_plans -= 1
    if malformed:
        return CUT_OFF_PLAN
    return json.dumps(plan_answer(schema, prompt))
