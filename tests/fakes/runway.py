"""Fake Runway API (api.dev.runwayml.com): image_to_video and text_to_video tasks, polling, organization.

Keys come as `Authorization: Bearer` with a required `X-Runway-Version`; errors are {"error": "..."},
validation errors add "issues". Finished tasks point at an output URL on this same server, like Runway's CDN.
"""

from __future__ import annotations

import re
from typing import Any

from fakes.server import REFUSAL_REASON, Call, Job, Route

KEY_PROVIDER = "runway"
FAKE_KEY = "test-runway-key-not-real-1234"
CLEARED_ENV: tuple[str, ...] = ("RUNWAYML_API_SECRET", "TALE_RUNWAY_API_KEY")
_BUSY = {429: "Too many requests", 503: "Service unavailable"}
MAX_SEED = 2**32 - 1
# The ratios each model takes, (text-to-video, image-to-video): the runwayml 5.24 API reference.
_GEN4 = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
_VEO = ("1280:720", "720:1280", "1920:1080", "1080:1920")
RATIOS = {"gen4_turbo": ((), _GEN4), "gen4.5": (("1280:720", "720:1280"), _GEN4), "veo3.1": (_VEO, _VEO),
          "veo3.1_fast": (_VEO, _VEO)}  # fmt: skip


def environment(url: str) -> dict[str, str]:
    return {"RUNWAYML_BASE_URL": url, "TALE_RUNWAY_API_KEY": FAKE_KEY}


def error(message: str, **extra: Any) -> Any:
    return {"error": message, **extra}


def busy_error(status: int) -> Any:
    return error(_BUSY[status])


def _refused(call: Call) -> bool:
    """False for the right key and a version header; otherwise 401 (the wrong key echoed) or 400."""
    given = call.bearer()
    if given != call.fake.keys[KEY_PROVIDER]:
        call.send(401, error(f"Invalid API secret {given}" if given else "Missing API secret"))
        return True
    if not call.headers.get("X-Runway-Version"):
        call.send(400, error("Missing X-Runway-Version header"))
        return True
    return False


# Credits per second of output by model, (without audio, with audio): the runwayml 5.24 API reference.
CREDITS_PER_SECOND = {"gen4_turbo": (5, 5), "gen4.5": (12, 12), "veo3.1": (20, 40), "veo3.1_fast": (10, 15)}


def _credits(job: Job) -> int:
    rates = CREDITS_PER_SECOND.get(job.extra.get("model", ""), (5, 5))
    return int(job.seconds * rates[job.audio])


def create_task(call: Call, match: re.Match[str]) -> None:
    if _refused(call) or call.throttled(busy_error):
        return
    body = call.json or {}
    endpoint = match["endpoint"]
    if endpoint == "text_to_video" and body.get("model") == "gen4_turbo":
        issue = {"path": ["model"], "message": "gen4_turbo is image-to-video only"}
        call.send(400, error("Validation of body failed", issues=[issue]))
        return
    if endpoint == "image_to_video" and not body.get("promptImage"):
        call.send(400, error("promptImage is required"))
        return
    offered = RATIOS.get(body.get("model", ""), ((), ()))[endpoint == "image_to_video"]
    if body.get("ratio") not in offered:
        issue = {"path": ["ratio"], "message": f"Invalid enum value. Expected {' | '.join(offered)}"}
        call.send(400, error("Validation of body failed", issues=[issue]))
        return
    seed = body.get("seed", 0)
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        issue = {"path": ["seed"], "message": f"Number must be less than or equal to {MAX_SEED}"}
        call.send(400, error("Validation of body failed", issues=[issue]))
        return
    job = call.fake.new_job(
        "runway", body.get("promptText", ""), float(body.get("duration", 5)), bool(body.get("audio"))
    )
    job.extra["model"] = body.get("model", "")
    job.extra["shape"] = body.get("ratio", "1280:720")
    call.send(200, {"id": job.id, "estimatedCost": {"credits": _credits(job)}})


def get_task(call: Call, match: re.Match[str]) -> None:
    if _refused(call):
        return
    job = call.fake.jobs.get(match["id"])
    if job is None:
        call.send(404, error("Task not found"))
        return
    state = call.fake.state(job)
    task: dict[str, Any] = {"id": job.id, "createdAt": "2026-11-01T00:00:00.000Z"}
    if state == "running":
        task |= {"status": "RUNNING", "progress": 0.5, "estimatedCost": {"credits": _credits(job)}}
    elif state == "refused":
        task |= {
            "status": "FAILED",
            "failure": REFUSAL_REASON,
            "failureCode": "SAFETY.INPUT.TEXT",
            "cost": {"credits": 0},
        }
    else:
        output = [f"{call.fake.url}/files/{job.id}.mp4"]
        task |= {"status": "SUCCEEDED", "output": output}
        if call.fake.task_cost_reported:
            task["cost"] = {"credits": _credits(job)}
    call.send(200, task)


def get_output(call: Call, match: re.Match[str]) -> None:
    """A finished task's video: an unauthenticated download, as from Runway's signed output URLs."""
    job = call.fake.jobs.get(match["id"])
    if job is None:
        call.send(404, error("expired"))
        return
    call.send(200, call.fake.clip(job), content_type="video/mp4")


def get_organization(call: Call, match: re.Match[str]) -> None:
    """The free read `tale keys test` makes."""
    if _refused(call):
        return
    call.send(200, {"creditBalance": 1000, "tier": {"maxMonthlyCreditSpend": 10000}, "usage": {"models": {}}})


ROUTES: list[Route] = [
    ("POST", r"/v1/(?P<endpoint>image_to_video|text_to_video)", create_task),
    ("GET", r"/v1/tasks/(?P<id>[\w-]+)", get_task),
    ("GET", r"/v1/organization", get_organization),
    ("GET", r"/files/(?P<id>[\w-]+)\.mp4", get_output),
]
