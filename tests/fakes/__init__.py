"""Fake Vertex, Gemini API, OpenAI and Runway servers on 127.0.0.1 that the real SDKs talk to through their base URLs.

One module per key provider (tale_cli/keys/store.py) speaks enough of that provider's REST API for the SDKs' own
code to run, with its key check and error shapes; `fakes.server` is the HTTP core and the state they share.
Clips are real small MP4s and images real PNGs. The server counts every create call and can be told to
rate-limit, refuse, never finish, be slow, or answer a plan badly.
"""

from __future__ import annotations

from pathlib import Path

from fakes import google, openai, runway, server, vertex
from fakes.server import REFUSAL_REASON, FakeProviders, FakeServer, ProviderFake, clip_bytes, png_bytes, reset

PROVIDERS: tuple[ProviderFake, ...] = (vertex, google, openai, runway)
FAKE_KEYS = {provider.KEY_PROVIDER: provider.FAKE_KEY for provider in PROVIDERS}
# Cleared before a test sets `environment`: nothing inherited that could reach a real provider.
CLEARED_ENV = tuple(name for provider in PROVIDERS for name in provider.CLEARED_ENV)

__all__ = [
    "CLEARED_ENV",
    "FAKE_KEYS",
    "PROVIDERS",
    "REFUSAL_REASON",
    "FakeProviders",
    "FakeServer",
    "clip_bytes",
    "environment",
    "png_bytes",
    "reset",
    "start",
]


def start(workdir: Path) -> FakeServer:
    """Start the fake server for every provider on a free 127.0.0.1 port in a background thread."""
    return server.start(workdir, PROVIDERS)


def environment(fake: FakeProviders) -> dict[str, str]:
    """Base URLs pointed at the fake and fake keys, for every provider."""
    return server.environment(fake, PROVIDERS)
