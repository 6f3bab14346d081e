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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tale_cli.errors import KeysError
from tale_cli.keys.redact import redact
from tale_cli.keys.store import get_key, key_source, provider

if TYPE_CHECKING:
    from tale_cli.registry import KeyService

TIMEOUT_S = 15.0


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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _base_url(p: KeyService) -> str:
    return (os.environ.get(p.base_url_env, "").strip() or p.default_base_url).rstrip("/")


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        error = data.get("error", data) if isinstance(data, dict) else data
        text = str(error.get("message") or error.get("error") or error) if isinstance(error, dict) else str(error)
    except ValueError:
        pass
    return redact(" ".join(text.split()))[:200]


def _verdict(p: KeyService, status: int, body: bytes) -> tuple[str, str]:
    if 200 <= status < 300:
        return "ok", f"key accepted (HTTP {status})"
    detail = _error_detail(body)
    if status == 429:
        return "ok", "key accepted, but the provider is rate-limiting it right now (HTTP 429)"
    if status in (401, 403) or (status == 400 and ("API_KEY_INVALID" in detail or "API key not valid" in detail)):
        return "rejected", f"key rejected (HTTP {status}): {detail}"
    if status == 404 and p.not_found_is_accepted:
        return "ok", "key accepted (the model the check names is not served: HTTP 404)"
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
        if p.ambient is not None and p.ambient() is not None and p.ambient_token is not None:
            bearer = p.ambient_token()
        else:
            return KeyCheck(p.name, "missing", f"no key set (run `tale keys set {p.name}`)", source.describe())
    request = p.check(_base_url(p), key, bearer)
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
