"""Shared fixtures: tiny recipes and stories so real renders stay fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite never downloads: huggingface_hub reads this once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_RECIPE = """
description = "tiny test recipe"
width = 160
height = 96
fps = 12
shots = 3
seconds = 1.0

[video]
backend = "preview"
jobs = 2
"""

STORY = """---
title: The Small Test
characters:
  - name: Ada
    description: a tall woman in a green coat
---

Ada walked to the harbour at dawn. The boats were still asleep.

Ada found a bottle with a letter inside. She read it twice.

The letter said: "Meet me at the lighthouse." Ada smiled and began to run.
"""


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE, encoding="utf-8")
    return path


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_text(STORY, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def _signing_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tale's data folder for the session: its local signing chain is made once, never in the user's own."""
    return tmp_path_factory.mktemp("tale-data")


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch: pytest.MonkeyPatch, _signing_home: Path) -> None:
    # TALE_PRICES too: a test's prices are the default book unless it chooses one.
    for name in ("TALE_RECIPE", "TALE_OUT", "TALE_DEBUG", "TALE_PRICES", "TALE_C2PA_CERT", "TALE_C2PA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TALE_C2PA_TRUST_ANCHORS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(_signing_home))


@pytest.fixture(scope="session")
def _fake_provider_server(tmp_path_factory: pytest.TempPathFactory):
    import fakes

    server = fakes.start(tmp_path_factory.mktemp("fake-providers"))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_providers(_fake_provider_server, monkeypatch: pytest.MonkeyPatch):
    """A fake Vertex/Gemini/OpenAI/Runway server; the SDKs reach it through their standard base-URL variables."""
    import fakes

    fake = fakes.reset(_fake_provider_server)
    for name in fakes.CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in fakes.environment(fake).items():
        monkeypatch.setenv(name, value)
    # No stored keys: a test's keys are exactly the environment it sets.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    return fake


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """tiny_model("wan") -> a folder holding a tiny random-weight diffusers pipeline, built once per session."""
    pytest.importorskip("diffusers")
    import tiny_pipelines
    import torch

    # Tiny models gain nothing from threads, and on a shared CI box extra threads only contend.
    torch.set_num_threads(1)

    folders: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in folders:
            folders[name] = tiny_pipelines.save_tiny(name, tmp_path_factory.mktemp(f"tiny-{name}"))
        return folders[name]

    return build


def _is_loopback(host) -> bool:
    import ipaddress

    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def outbound_attempts(monkeypatch):
    """Every socket connect or name lookup that is not loopback fails loudly and is recorded."""
    import socket

    attempts: list[object] = []
    real_connect, real_connect_ex, real_getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def blocked(address):
        attempts.append(address)
        return OSError(f"outbound connection to {address!r} blocked: this test allows loopback only")

    def connect(self, address):
        if self.family == socket.AF_UNIX or _is_loopback(address[0]):
            return real_connect(self, address)
        raise blocked(address)

    def connect_ex(self, address):
        if self.family == socket.AF_UNIX or _is_loopback(address[0]):
            return real_connect_ex(self, address)
        raise blocked(address)

    def getaddrinfo(host, *args, **kwargs):
        if _is_loopback(host.decode() if isinstance(host, bytes) else host):
            return real_getaddrinfo(host, *args, **kwargs)
        raise blocked(host)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch):
    """full_disk(suffix) -> the folders shutil.disk_usage is asked about; from then on a file Tale writes atomically
    whose name ends in `suffix` (its `.part`) fills up as on a full disk: the write fails with the real ENOSPC of
    /dev/full, which, like a real one, names no file."""
    import shutil

    real_fdopen, real_disk_usage = os.fdopen, shutil.disk_usage
    asked: list[Path] = []

    def start(suffix: str) -> list[Path]:
        def fdopen(fd: int, *args, **kwargs):
            if os.readlink(f"/proc/self/fd/{fd}").endswith(suffix + ".part"):
                os.close(fd)
                return real_fdopen(os.open("/dev/full", os.O_WRONLY), *args, **kwargs)
            return real_fdopen(fd, *args, **kwargs)

        def disk_usage(path):
            asked.append(Path(path))
            return real_disk_usage(path)

        monkeypatch.setattr("tale_cli.files.os.fdopen", fdopen)
        monkeypatch.setattr("shutil.disk_usage", disk_usage)
        return asked

    if not Path("/dev/full").exists() or not Path("/proc/self/fd").is_dir():
        pytest.skip("needs Linux's /dev/full and /proc/self/fd")
    return start
