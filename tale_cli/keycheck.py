"""`tale keys test`: the cheapest authenticated call each provider has, over plain HTTPS.

Each check is a free read (list models, organization, whoami, count tokens), sent with the key in a
header, never in the URL, and without following redirects (a redirect would carry the header to
another host). Base-URL environment variables are honoured, so tests point them at 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from tale_cli.errors import KeysError, missing_extra
from tale_cli.keys import Provider, get_key, key_source, provider, vertex_adc
from tale_cli.redact import redact

TIMEOUT_S = 15.0
RUNWAY_API_VERSION = "2024-11-06"
# countTokens is free; an unknown model still proves the key was accepted (auth comes first).
VERTEX_CHECK_MODEL = "gemini-3.8-flash"


@dataclass(frozen=True)
class KeyCheck:
    """The verdict of one key test: ok, rejected, missing, offline or error."""

    provider: str
    status: str
    detail: str
    source: str
    url: str = ""

    @property
    def works(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Request:
    url: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _base_url(p: Provider) -> str:
    return (os.environ.get(p.base_url_env, "").strip() or p.default_base_url).rstrip("/")


def _request_for(p: Provider, key: str | None, bearer: str | None = None) -> _Request:
    base = _base_url(p)
    if p.name == "google":
        return _Request(f"{base}/v1beta/models?pageSize=1", {"x-goog-api-key": key or ""})
    if p.name == "vertex":
        body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).encode()
        headers = {"Content-Type": "application/json"}
        if key:
            headers["x-goog-api-key"] = key
            path = f"/v1/publishers/google/models/{VERTEX_CHECK_MODEL}:countTokens"
        else:
            project, location = vertex_adc() or ("", "")
            headers["Authorization"] = f"Bearer {bearer}"
            if not os.environ.get(p.base_url_env) and location != "global":
                base = f"https://{location}-aiplatform.googleapis.com"
            path = (
                f"/v1/projects/{project}/locations/{location}/publishers/google/models/{VERTEX_CHECK_MODEL}:countTokens"
            )
        return _Request(base + path, headers, "POST", body)
    if p.name == "openai":
        return _Request(f"{base}/models", {"Authorization": f"Bearer {key}"})
    if p.name == "runway":
        return _Request(
            f"{base}/v1/organization", {"Authorization": f"Bearer {key}", "X-Runway-Version": RUNWAY_API_VERSION}
        )
    return _Request(f"{base}/api/whoami-v2", {"Authorization": f"Bearer {key}"})


def _adc_token() -> str:
    """An access token from application-default credentials (needs google-auth, part of the google extra)."""
    try:
        import google.auth
        import google.auth.transport.requests
        from google.auth.exceptions import GoogleAuthError
    except ImportError:
        raise missing_extra("google", "google-auth") from None
    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(google.auth.transport.requests.Request())
    except GoogleAuthError as error:
        raise KeysError(
            f"application-default credentials do not work: {redact(str(error))[:200]}",
            hint="run `gcloud auth application-default login`, or set a Vertex express key",
        ) from None
    token = str(credentials.token)
    from tale_cli.redact import register_secret

    register_secret(token)
    return token


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        error = data.get("error", data) if isinstance(data, dict) else data
        text = str(error.get("message") or error.get("error") or error) if isinstance(error, dict) else str(error)
    except ValueError:
        pass
    return redact(" ".join(text.split()))[:200]


def _verdict(p: Provider, status: int, body: bytes) -> tuple[str, str]:
    if 200 <= status < 300:
        return "ok", f"key accepted (HTTP {status})"
    detail = _error_detail(body)
    if status == 429:
        return "ok", "key accepted, but the provider is rate-limiting it right now (HTTP 429)"
    if status in (401, 403) or (status == 400 and ("API_KEY_INVALID" in detail or "API key not valid" in detail)):
        return "rejected", f"key rejected (HTTP {status}): {detail}"
    if status == 404 and p.name == "vertex":
        return "ok", f"key accepted (the check model {VERTEX_CHECK_MODEL} is not served: HTTP 404)"
    return "error", f"unexpected answer HTTP {status}: {detail}"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def check_key(name: str) -> KeyCheck:
    """Make the provider's cheapest authenticated call with its key and say whether the key works."""
    p = provider(name)
    source = key_source(p.name)
    key = get_key(p.name)
    bearer = None
    if key is None:
        if p.name == "vertex" and vertex_adc() is not None:
            bearer = _adc_token()
        else:
            return KeyCheck(p.name, "missing", f"no key set (run `tale keys set {p.name}`)", source.describe())
    request = _request_for(p, key, bearer)
    opener = urllib.request.build_opener(_NoRedirects())
    # The scheme is the provider's https URL or a base-URL variable the user set; file: and others are refused.
    if urlsplit(request.url).scheme not in ("https", "http"):
        raise KeysError(f"{p.base_url_env} must be an http(s) URL")
    http_request = urllib.request.Request(  # noqa: S310
        request.url, data=request.body, headers=request.headers, method=request.method
    )
    url = redact(request.url)
    try:
        with opener.open(http_request, timeout=TIMEOUT_S) as response:
            status, detail = _verdict(p, response.status, response.read(65536))
    except urllib.error.HTTPError as error:
        status, detail = _verdict(p, error.code, error.read(65536) if error.fp else b"")
    except OSError as error:  # URLError, timeouts and refused connections alike
        reason = getattr(error, "reason", error)
        return KeyCheck(
            p.name,
            "offline",
            f"skipped: cannot reach {_host(request.url)} ({redact(str(reason))[:120]}); are you offline?",
            source.describe(),
            url,
        )
    return KeyCheck(p.name, status, detail, source.describe(), url)
