"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def fake_providers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A fake Vertex/Gemini/OpenAI/Runway server; the SDKs reach it through their standard base-URL variables."""
    import fakeproviders

    fake, server = fakeproviders.start(tmp_path_factory.mktemp("fake-providers"))
    for name in fakeproviders.CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in fakeproviders.environment(fake).items():
        monkeypatch.setenv(name, value)
    yield fake
    server.shutdown()
    server.server_close()
