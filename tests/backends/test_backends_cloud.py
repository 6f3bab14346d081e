"""The cloud backends' shared glue: retries, Retry-After, error translation, key scrubbing, cancelling."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate

import pytest

from tale_cli.backends.cloud import Cloud, RetryPolicy, http_status, retry_after_s
from tale_cli.errors import BackendError, KeysError, QuotaError, ShotRefusedError
from tale_cli.registry import Role, names, provider


class Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}


class StatusError(Exception):
    def __init__(self, status: int, message: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status
        self.message = message
        self.response = Response(status, headers)


class GoogleStyleError(Exception):
    """google-genai's errors carry the status as `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = "RESOURCE_EXHAUSTED"
        self.message = message


class ConnectError(Exception):
    pass


class ReadTimeout(Exception):
    pass


def failing(*errors: Exception):
    calls = []

    def call():
        calls.append(time.monotonic())
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return call, calls


def quick() -> Cloud:
    return Cloud("testprovider", policy=RetryPolicy(retries=3, base_s=0.001, max_s=0.01))


def test_429_and_5xx_are_retried_then_succeed():
    call, calls = failing(StatusError(429, "slow down"), StatusError(503, "busy"))
    assert quick().call("create", call, creates=True) == "ok"
    assert len(calls) == 3


def test_retry_after_is_honoured():
    cloud = Cloud("p", policy=RetryPolicy(retries=2, base_s=5.0, max_s=60.0))
    call, calls = failing(StatusError(429, "wait", {"Retry-After": "0.2"}))
    cloud.call("create", call)
    assert 0.18 <= calls[1] - calls[0] < 2.0


def test_retry_after_forms():
    assert retry_after_s(StatusError(429, headers={"Retry-After": "3"})) == 3.0
    future = formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_s(StatusError(429, headers={"Retry-After": future})) <= 31
    assert retry_after_s(StatusError(429)) is None
    assert retry_after_s(ValueError("no response")) is None


def test_backoff_has_jitter_and_a_cap():
    policy = RetryPolicy(retries=5, base_s=1.0, max_s=8.0)
    delays = {round(policy.delay(2, None), 6) for _ in range(20)}
    assert len(delays) > 1 and all(2.0 <= d <= 4.0 for d in delays)
    assert all(policy.delay(10, None) <= 8.0 for _ in range(10))
    assert policy.delay(0, 120.0) == 8.0


def test_statuses_from_every_sdk_shape():
    assert http_status(StatusError(404)) == 404
    assert http_status(GoogleStyleError(429, "x")) == 429
    assert http_status(ValueError("x")) is None


def test_too_many_429s_become_a_quota_error():
    call, calls = failing(*[GoogleStyleError(429, "Resource exhausted")] * 10)
    with pytest.raises(QuotaError, match="after 4 tries: Resource exhausted") as caught:
        quick().call("create", call)
    assert "fallback" in caught.value.hint
    assert len(calls) == 4


def test_client_errors_are_not_retried_and_say_why():
    call, calls = failing(StatusError(400, "duration must be 4, 6 or 8"))
    with pytest.raises(BackendError, match=r"rejected the create request \(400\): duration must be 4, 6 or 8"):
        quick().call("create", call)
    assert len(calls) == 1

    call, _ = failing(StatusError(400, "Input blocked by the content moderation system"))
    with pytest.raises(ShotRefusedError, match="moderation"):
        quick().call("create", call)

    call, _ = failing(StatusError(400, "You do not have enough credits"))
    with pytest.raises(QuotaError, match="enough credits"):
        quick().call("create", call)


def test_a_rejected_key_stops_every_later_call():
    cloud = quick()
    call, calls = failing(StatusError(401, "Incorrect API key provided: wrong-key-not-real-5555"))
    cloud.use_key("wrong-key-not-real-5555")
    with pytest.raises(KeysError) as caught:
        cloud.call("create", call)
    assert "wrong-key-not-real-5555" not in caught.value.message
    with pytest.raises(KeysError):
        cloud.call("poll", lambda: calls.append(0.0))
    assert len(calls) == 1


def test_a_paid_create_is_repeated_only_when_it_surely_was_not_sent():
    call, calls = failing(ConnectError("connection refused"))
    assert quick().call("create", call, creates=True) == "ok"
    assert len(calls) == 2

    call, calls = failing(ReadTimeout("no answer"))
    with pytest.raises(BackendError, match="cannot reach testprovider during create") as caught:
        quick().call("create", call, creates=True)
    assert len(calls) == 1 and "base URL" in caught.value.hint

    call, calls = failing(ReadTimeout("no answer"))
    assert quick().call("poll", call) == "ok"


def test_closing_stops_a_backoff_at_once():
    cloud = Cloud("p", policy=RetryPolicy(retries=3, base_s=30.0, max_s=30.0))
    threading.Timer(0.1, cloud.stopped.set).start()
    started = time.monotonic()
    with pytest.raises(BackendError, match="stopped"):
        cloud.call("poll", failing(StatusError(503))[0])
    assert time.monotonic() - started < 5


def test_messages_never_show_the_key_in_use():
    cloud = quick()
    cloud.use_key("in-use-key-not-real-7777")
    call, _ = failing(
        StatusError(400, "bad request for in-use-key-not-real-7777 at /v1/x?key=in-use-key-not-real-7777")
    )
    with pytest.raises(BackendError) as caught:
        cloud.call("create", call)
    assert "in-use-key-not-real-7777" not in caught.value.message


def test_registry_names_the_cloud_backends():
    assert {"veo", "gemini-omni", "runway"} <= set(names(Role.VIDEO))
    assert {"openai", "gemini"} <= set(names(Role.IMAGE))
    assert not any(provider(name).runs_locally() for name in ("veo", "gemini-omni", "runway", "openai", "gemini"))


def test_a_download_that_is_not_a_video_is_a_backend_error(tmp_path):
    from cloudrender import one_shot_plan, shot_request

    from tale_cli.backends.cloud import conform_into, raw_path
    from tale_cli.config import Recipe

    plan = one_shot_plan(Recipe(width=320, height=180))
    request = shot_request(plan, plan.shots[0], tmp_path / "s.mp4.part")
    raw = raw_path(request)
    raw.write_bytes(b"<html>expired</html>")
    with pytest.raises(BackendError, match="not a video"):
        conform_into(request, raw)
    assert not request.output.exists()
