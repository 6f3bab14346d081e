"""Keyring backends and environment helpers for the key tests: an in-memory keyring and a forgetful one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keyring
from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

from tale_cli.backends.google.client import VERTEX_LOCATION_ENV, VERTEX_PROJECT_ENV
from tale_cli.keys.store import services

FAKE_KEY = "test-key-not-real-1234"


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps passwords in a dict."""

    @properties.classproperty
    def priority(cls) -> float:
        return 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise PasswordDeleteError("not found")
        del self.store[(service, username)]


class ForgetfulKeyring(MemoryKeyring):
    """Accepts every write and keeps none of them, like a misconfigured backend would."""

    def set_password(self, service: str, username: str, password: str) -> None:
        return None


def key_env_names() -> set[str]:
    names = {VERTEX_PROJECT_ENV, VERTEX_LOCATION_ENV, "GOOGLE_GENAI_USE_VERTEXAI"}
    for provider in services().values():
        names |= {provider.tale_env_var, provider.base_url_env, *provider.env_vars}
    return names


def clear_key_env(monkeypatch) -> None:
    """Remove every variable Tale reads keys or base URLs from, so the developer's own keys never leak in."""
    for name in key_env_names():
        monkeypatch.delenv(name, raising=False)


@contextmanager
def using_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
