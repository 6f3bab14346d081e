"""Scrub API keys out of any text before it is printed, logged or written: known values and key-shaped fields."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from urllib.parse import quote

REDACTED = "[redacted]"
# Shorter values are not treated as secrets: redacting them would mangle ordinary text.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_registered: set[str] = set()

# Query parameters and headers that carry credentials, whatever their value.
_SECRET_NAMES = r"(?:api[_-]?key|key|access[_-]?token|token|secret|api[_-]?secret|password|x-goog-api-key|x-api-key)"  # noqa: S105
_QUERY_PARAM = re.compile(rf"(?i)([?&;]{_SECRET_NAMES}=)[^&#\s\"'<>]+")
_HEADER = re.compile(r"(?im)\b((?:x-goog-api-key|x-api-key|api-key|x-runway-api-key)\s*[:=]\s*[\"']?)[^\s\"',}]+")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)[^\s\"',}]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=:-]{6,}")
_JSON_FIELD = re.compile(rf"(?i)([\"']{_SECRET_NAMES}[\"']\s*:\s*[\"'])[^\"']+")


def register_secret(value: str | None) -> None:
    """Remember a secret so every later `redact` call removes it, wherever it came from."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _registered.add(value)


def _known_secrets() -> set[str]:
    values = {value for value in secret_env_values() if len(value) >= MIN_SECRET_LENGTH}
    with _lock:
        values |= _registered
    return values


def _variants(secret: str) -> set[str]:
    """The forms a secret takes once quoted into a URL or a JSON string."""
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every known key value (and `secrets`) and every credential-looking field replaced by [redacted]."""
    if not text:
        return text
    forms = set()
    for secret in _known_secrets() | {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}:
        forms |= _variants(secret)
    # Longest first, so a key that contains another key is removed whole.
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, REDACTED)
    text = _QUERY_PARAM.sub(rf"\1{REDACTED}", text)
    text = _HEADER.sub(rf"\1{REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    return _JSON_FIELD.sub(rf"\1{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that formats each record once and redacts the result (SDKs log request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        return True


_installed = {"on": False}


def install_log_redaction() -> None:
    """Redact every log record of the process, whichever logger or handler it goes through."""
    if _installed["on"]:
        return
    _installed["on"] = True
    previous = logging.getLogRecordFactory()
    redacting = RedactingFilter()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redacting.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)


def secret_env_values() -> list[str]:
    """Every key value currently set in any environment variable Tale reads keys from."""
    from tale_cli.registry import key_services

    services = key_services()
    names = {p.tale_env_var for p in services.values()}
    for p in services.values():
        names.update(p.env_vars)
    return [value for name in sorted(names) if (value := os.environ.get(name, "").strip())]
