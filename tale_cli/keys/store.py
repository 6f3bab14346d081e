"""Bring-your-own API keys: lookup (TALE_* env, the provider's env var, the OS keyring), storage, tests.

Keys are never printed: callers get the value from `get_key` and show only `fingerprint`. Every value
read here is registered with `tale_cli.keys.redact`, so error output scrubs it even if an SDK echoes it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tale_cli.errors import KeysError, did_you_mean
from tale_cli.keys.redact import redact, register_secret

if TYPE_CHECKING:
    from tale_cli.registry import KeyService

KEYRING_SERVICE = "tale"
MAX_KEY_LENGTH = 4096
MIN_KEY_LENGTH = 8


def services() -> dict[str, KeyService]:
    """Every kind of key Tale holds, as the provider modules declare them in the registry."""
    from tale_cli.registry import key_services

    return dict(sorted(key_services().items()))


def provider(name: str) -> KeyService:
    """The key service called `name`; an unknown name is an error that lists the valid ones."""
    known = services()
    found = known.get(name.strip().lower())
    if found is None:
        raise KeysError(
            f"unknown provider '{name}'{did_you_mean(name.strip().lower(), known)}",
            hint="valid providers are: " + ", ".join(known),
        )
    return found


# ---------------------------------------------------------------- keyring


@dataclass(frozen=True)
class KeyringStatus:
    """Which keyring backend this machine has and whether it can really store a key."""

    backend: str
    usable: bool
    reason: str = ""


def keyring_status() -> KeyringStatus:
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception as error:
        return KeyringStatus("unavailable", False, f"the keyring could not be loaded ({type(error).__name__})")
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail.Keyring):
        return KeyringStatus(name, False, "no keyring backend on this machine")
    if isinstance(backend, null.Keyring):
        return KeyringStatus(name, False, "the keyring backend is the null one, which drops every key")
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return KeyringStatus(name, False, "no keyring backend on this machine")
    return KeyringStatus(name, True)


def _keyring_get(name: str) -> str | None:
    """The stored key, or None; a broken or absent keyring is treated as empty, never as a crash."""
    try:
        import keyring

        value = keyring.get_password(KEYRING_SERVICE, name)
    except Exception:
        return None
    if value:
        register_secret(value)
    return value or None


# ---------------------------------------------------------------- lookup


@dataclass(frozen=True)
class KeySource:
    """Where a provider's credential comes from, as `tale keys list` and `tale doctor` show it."""

    provider: str
    source: str  # "env", "keyring", "adc" or "none"
    where: str  # the env var name, "keyring (service tale)", "GOOGLE_CLOUD_PROJECT=…", or ""
    fingerprint: str | None

    def describe(self) -> str:
        if self.source == "none":
            return "not set"
        shown = f" {self.fingerprint}" if self.fingerprint else ""
        return f"{self.where}{shown}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(key: str) -> str:
    """The last four characters, enough to tell keys apart; shorter keys show nothing of themselves."""
    return f"…{key[-4:]}" if len(key) >= 16 else "…"


def _lookup(p: KeyService) -> tuple[str, str, str] | None:
    """(value, source, where) of the first place that holds a key for `p`."""
    for name in (p.tale_env_var, *p.standard_env_vars()):
        value = os.environ.get(name, "").strip()
        if value:
            register_secret(value)
            return value, "env", name
    stored = _keyring_get(p.name)
    if stored:
        return stored, "keyring", f"keyring (service {KEYRING_SERVICE})"
    return None


def get_key(name: str) -> str | None:
    """The key for provider `name` from the first place that has one; None when there is none."""
    found = _lookup(provider(name))
    return found[0] if found else None


def require_key(name: str, *, role: str | None = None) -> str:
    """The key for `name`, or a KeysError telling the user the ways to provide one (`role`: who needs it)."""
    key = get_key(name)
    if key is None:
        p = provider(name)
        needed_by = f" (needed by the {role})" if role else ""
        raise KeysError(
            f"no {p.label} found for '{p.name}'{needed_by}",
            hint=f"run `tale keys set {p.name}`, or set {p.tale_env_var}"
            + (f" or {p.env_vars[0]}" if p.env_vars and not p.env_vars_only_if else ""),
        )
    return key


def key_source(name: str) -> KeySource:
    p = provider(name)
    found = _lookup(p)
    if found is not None:
        value, source, where = found
        return KeySource(p.name, source, where, fingerprint(value))
    ambient = p.ambient() if p.ambient is not None else None
    if ambient is not None:
        return KeySource(p.name, "adc", ambient, None)
    return KeySource(p.name, "none", "", None)


def key_sources() -> list[KeySource]:
    return [key_source(name) for name in services()]


# ---------------------------------------------------------------- storage


def check_key_text(text: str) -> str:
    """A pasted key, stripped; refuses what cannot be a key (empty, spaces inside, control characters)."""
    key = text.strip()
    if not key:
        raise KeysError("no key given; nothing was stored")
    if len(key) < MIN_KEY_LENGTH or len(key) > MAX_KEY_LENGTH:
        raise KeysError(f"that does not look like a key ({len(key)} characters); nothing was stored")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise KeysError("a key cannot contain spaces or control characters; nothing was stored")
    return key


def _unusable_keyring_error(p: KeyService, status: KeyringStatus) -> KeysError:
    return KeysError(
        f"cannot store keys here: {status.reason}; set {p.tale_env_var} instead (on a pod, use its secrets)",
        hint="keys in environment variables take precedence over the keyring anyway",
    )


def storable(name: str) -> KeyService:
    """The key service called `name`, once the keyring is known to keep keys: asked before the key itself is, so
    nobody pastes a secret only to hear that it cannot be stored."""
    p = provider(name)
    status = keyring_status()
    if not status.usable:
        raise _unusable_keyring_error(p, status)
    return p


@dataclass(frozen=True)
class SetResult:
    provider: str
    fingerprint: str
    shadowed_by: str | None  # an env var that takes precedence over the stored key


def set_key(name: str, key_text: str) -> SetResult:
    """Store a key in the keyring and read it back: a backend that drops keys is refused, not trusted."""
    p = provider(name)
    key = check_key_text(key_text)
    register_secret(key)
    status = keyring_status()
    if not status.usable:
        raise _unusable_keyring_error(p, status)
    import keyring

    try:
        keyring.set_password(KEYRING_SERVICE, p.name, key)
        stored = keyring.get_password(KEYRING_SERVICE, p.name)
    except Exception as error:
        raise KeysError(
            f"the keyring refused the key: {redact(str(error)) or type(error).__name__}",
            hint=f"set {p.tale_env_var} instead",
        ) from None
    if stored != key:
        raise _unusable_keyring_error(p, KeyringStatus(status.backend, False, "the keyring did not keep the key"))
    shadow = next((var for var in (p.tale_env_var, *p.standard_env_vars()) if os.environ.get(var, "").strip()), None)
    return SetResult(p.name, fingerprint(key), shadow)


def delete_key(name: str) -> str:
    """Remove the stored key; returns the provider name. Keys in env vars are the user's to unset."""
    p = provider(name)
    status = keyring_status()
    if not status.usable:
        raise KeysError(f"no keyring to delete from: {status.reason}", hint=f"unset {p.tale_env_var} instead")
    if _keyring_get(p.name) is None:
        raise KeysError(f"no key stored in the keyring for '{p.name}'")
    import keyring

    try:
        keyring.delete_password(KEYRING_SERVICE, p.name)
    except Exception as error:
        raise KeysError(f"the keyring could not delete the key: {redact(str(error)) or type(error).__name__}") from None
    return p.name
