"""Fake OpenAI API (api.openai.com/v1): Responses for plans, Images generate and edit, the models list.

Keys come as `Authorization: Bearer`; errors are {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

from fakes.plans import plan_text
from fakes.server import Call, Route, png_bytes

KEY_PROVIDER = "openai"
FAKE_KEY = "test-openai-key-not-real-1234"
CLEARED_ENV: tuple[str, ...] = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "TALE_OPENAI_API_KEY")
# The models the free listing names; Responses and Images answer for any model name.
LISTED_MODELS = ("gpt-5-mini", "gpt-image-1")


def environment(url: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": url + "/v1", "TALE_OPENAI_API_KEY": FAKE_KEY}


def error(message: str, error_type: str, *, param: str | None = None, code: str | None = None) -> Any:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def busy_error(status: int) -> Any:
    if status == 429:
        return error("Rate limit reached", "requests", code="rate_limit_exceeded")
    return error("The server is overloaded or not ready yet.", "server_error")


def _missing(call: Call, param: str) -> bool:
    """True, after a 400 naming the parameter, when the JSON body lacks it."""
    if (call.json or {}).get(param):
        return False
    message = f"Missing required parameter: '{param}'."
    call.send(400, error(message, "invalid_request_error", param=param, code="missing_required_parameter"))
    return True


def _key_refused(call: Call) -> bool:
    """False for the right key; otherwise 401, with the wrong key echoed so tests prove Tale scrubs it."""
    given = call.bearer()
    if given == call.fake.keys[KEY_PROVIDER]:
        return False
    if not given:
        message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
        call.send(401, error(message, "invalid_request_error"))
    else:
        message = f"Incorrect API key provided: {given}."
        call.send(401, error(message, "invalid_request_error", code="invalid_api_key"))
    return True


def create_response(call: Call, match: re.Match[str]) -> None:
    """A Responses call with a JSON schema: the planner's."""
    if _key_refused(call) or call.throttled(busy_error) or _missing(call, "model"):
        return
    body = call.json
    prompt = body.get("input") if isinstance(body.get("input"), str) else json.dumps(body.get("input"))
    schema = body.get("text", {}).get("format", {}).get("schema")
    text = plan_text(call.fake, schema, prompt or "")
    content = [{"type": "output_text", "text": text, "annotations": []}]
    message = {"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant", "content": content}
    response = {
        "id": "resp_" + uuid.uuid4().hex[:12],
        "object": "response",
        "created_at": int(time.time()),
        "model": body["model"],
        "status": "completed",
        "output": [message],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 100, "output_tokens": 200, "total_tokens": 300},
    }
    call.send(200, response)


def create_image(call: Call, match: re.Match[str]) -> None:
    """Images generate (JSON) and edit (multipart form, whose prompt is one of the fields)."""
    if _key_refused(call) or call.throttled(busy_error):
        return
    if call.json is None:
        found = re.search(r'name="prompt"\r\n\r\n(.*?)\r\n--', call.raw.decode("latin-1"), flags=re.DOTALL)
        prompt = found.group(1) if found else ""
        kind = "openai-edit"
    elif _missing(call, "prompt"):
        return
    else:
        prompt = call.json["prompt"]
        kind = "openai-image"
    call.fake.count(kind)
    if call.fake.refuses(prompt):
        message = "Your request was rejected by the safety system."
        call.send(400, error(message, "image_generation_user_error", code="moderation_blocked"))
        return
    image = base64.b64encode(png_bytes(len(prompt))).decode()
    call.send(200, {"created": int(time.time()), "data": [{"b64_json": image}]})


def list_models(call: Call, match: re.Match[str]) -> None:
    """The free read `tale keys test` makes."""
    if _key_refused(call):
        return
    models = [{"id": name, "object": "model", "created": 0, "owned_by": "openai"} for name in LISTED_MODELS]
    call.send(200, {"object": "list", "data": models})


ROUTES: list[Route] = [
    ("POST", r"/v1/responses", create_response),
    ("POST", r"/v1/images/(?:generations|edits)", create_image),
    ("GET", r"/v1/models", list_models),
]
