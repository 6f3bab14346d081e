"""API keys for the cloud backends and planners: one lookup, one 'missing key' error, one scrubber."""

from __future__ import annotations

import os
import re

from tale_cli.errors import KeysError

# provider -> environment variables, first match wins: Tale's own name, then the SDKs' standard ones.
KEY_ENV_VARS: dict[str, tuple[str, ...]] = {
    "google": ("TALE_GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "vertex": ("TALE_VERTEX_API_KEY",),
    "openai": ("TALE_OPENAI_API_KEY", "OPENAI_API_KEY"),
    "runway": ("TALE_RUNWAY_API_KEY", "RUNWAYML_API_SECRET"),
}


def get_key(provider: str) -> str | None:
    """The key for a provider from the environment, or None."""
    for name in KEY_ENV_VARS.get(provider, ()):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def require_key(provider: str, *, role: str) -> str:
    """The key, or a KeysError that says how to set it."""
    key = get_key(provider)
    if key is None:
        names = " or ".join(KEY_ENV_VARS.get(provider, ()))
        raise KeysError(
            f"no API key for {provider} (needed by the {role})",
            hint=f"run `tale keys set {provider}` or set {names}",
        )
    return key


_KEY_SHAPED = re.compile(
    r"(?i)((?:key|token|secret|authorization|bearer)[\"']?\s*[:=]?\s*[\"']?(?:bearer\s+)?)[\w.~+/-]{12,}"
)


def redact(text: str, *secrets: str | None) -> str:
    """`text` without the given secret values and without anything shaped like a credential field."""
    for secret in sorted((s for s in secrets if s and len(s) >= 6), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return _KEY_SHAPED.sub(r"\1[redacted]", text)
