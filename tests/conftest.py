"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _fake_provider_server(tmp_path_factory: pytest.TempPathFactory):
    import fakeproviders

    server = fakeproviders.start(tmp_path_factory.mktemp("fake-providers"))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_providers(_fake_provider_server, monkeypatch: pytest.MonkeyPatch):
    """A fake Vertex/Gemini/OpenAI/Runway server; the SDKs reach it through their standard base-URL variables."""
    import fakeproviders

    fake = fakeproviders.reset(_fake_provider_server)
    for name in fakeproviders.CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in fakeproviders.environment(fake).items():
        monkeypatch.setenv(name, value)
    return fake
