"""The fake planners' answer, shared by the Gemini and OpenAI fakes: a plan for the schema Tale sent.

By default a sensible plan; the server's knobs make it cut off (`malformed_plans`), the wrong length
(`plan_shots`), or schema-valid nonsense (`nonsense_plans`): what a real model sometimes sends.
"""

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


# Sentences that have nothing to do with any story.
UNRELATED = (
    "The quarterly report was filed in triplicate before lunch.",
    "Bees tell each other the distance to flowers by dancing.",
    "A spreadsheet of tide tables was left open on the kitchen table.",
    "Copper conducts heat better than stainless steel does.",
    "The committee postponed the vote until the following spring.",
    "Volcanic soil is unusually rich in minerals.",
    "Her library card expired during the long winter.",
    "Most parking garages are painted in pale, forgettable colours.",
    "Is the printer on the third floor still out of toner?",
)


def unrelated(start: int, count: int) -> str:
    """`count` unrelated sentences, from the `start`-th on."""
    return " ".join(UNRELATED[(start + i) % len(UNRELATED)] for i in range(count))


def nonsense_answer(schema: dict[str, Any], count: int) -> dict[str, Any]:
    """Valid for the schema Tale sent and nonsense in every field.

    Every string is unrelated sentences (names and cameras too long for a plan, prompts too long for
    any video model), shots name characters that do not exist, and durations sit between the allowed ones.
    """
    duration = schema["properties"]["shots"]["items"]["properties"]["duration_s"]
    low = float(duration.get("minimum", 1))
    high = float(duration.get("maximum", low))
    off_grid = round(low + (high - low) * 0.37, 2)
    characters = [
        {
            "id": "-".join(UNRELATED[n].lower().rstrip(".?").split()[:4]),
            "name": unrelated(n, 2),
            "description": unrelated(n + 1, 3),
        }
        for n in range(2)
    ]
    entities = [
        {"id": "Not An Id!", "kind": "vehicle", "name": unrelated(n + 2, 2), "description": ""} for n in range(2)
    ]
    return {
        "title": unrelated(3, 1),
        "style": unrelated(4, 30),
        "characters": characters,
        "entities": entities,
        "shots": [
            {
                "duration_s": off_grid,
                "prompt": unrelated(n, 90),
                "negative_prompt": unrelated(n + 2, 50),
                "camera": unrelated(n + 5, 6),
                "characters": [unrelated(n + 6, 1), unrelated(n + 7, 2)],
                "entities": [unrelated(n + 8, 1)],
                "narration": unrelated(n + 1, 2),
                "continuity": n % 2 == 0,
            }
            for n in range(count)
        ],
    }


def plan_answer(schema: dict[str, Any], prompt: str, count: int) -> dict[str, Any]:
    """A sensible plan for the structured-output schema Tale sent: `count` shots of an allowed duration."""
    allowed = allowed_durations(schema, prompt)
    preferred = re.search(r"prefer (\d+(?:\.\d+)?) s", prompt)
    seconds = float(preferred.group(1)) if preferred and float(preferred.group(1)) in allowed else allowed[-1]
    names = re.findall(r"\b(Mira|Pip)\b", prompt) or ["Mira"]
    characters = [
        {"id": name.lower(), "name": name, "description": f"{name}, drawn the same in every shot"}
        for name in dict.fromkeys(names)
    ]
    # The recurring things a story names, as a model lists them (none for a story without them).
    things = [
        {"id": word.replace(" ", "-"), "kind": kind, "name": word, "description": f"the same {word} in every shot"}
        for word, kind in (("brass lantern", "prop"), ("harbor", "place"))
        if word in prompt.casefold()
    ]
    return {
        "title": "The Lighthouse Keeper's Cat",
        "style": "Warm storybook animation",
        "characters": characters,
        "entities": things,
        "shots": [
            {
                "duration_s": seconds,
                "prompt": f"Shot {n}: a lighthouse on a rocky island at dusk, painterly",
                "negative_prompt": "blurry, text",
                "camera": "slow push in",
                "characters": [characters[n % len(characters)]["id"]],
                "entities": [things[n % len(things)]["name"]] if things else [],
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
    count = fake.plan_shots or schema["properties"]["shots"].get("minItems", 8)
    if fake.nonsense_plans:
        return json.dumps(nonsense_answer(schema, count))
    return json.dumps(plan_answer(schema, prompt, count))
