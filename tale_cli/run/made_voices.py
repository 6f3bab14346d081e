"""What manifest.json keeps of the voices made at a provider for a run's characters (`tale voices design` / `clone`):
each found again by its key, so making the same voice for the same character twice pays once, and one accepted but
not yet ready is waited for again rather than paid for again."""

from __future__ import annotations

from typing import Literal

from tale_cli.files import digest
from tale_cli.record import Record


class MadeVoiceRecord(Record):
    """One voice made for one character: the provider's id for it, and what making it cost."""

    key: str  # made_voice_key(): the backend, the character and what the voice was made from
    character: str
    backend: str
    model: str | None = None
    how: Literal["design", "clone"]
    voice: str  # the provider's id, which speech requests name
    ready: bool = False  # False: accepted by the provider and still being made when last seen
    prompt: str | None = None  # a designed voice's description
    sample_sha256: str | None = None  # a cloned voice's sample, and the consent recording it was made with
    consent_sha256: str | None = None
    cost_usd: float | None = None
    made_at: str


def made_voice_key(
    *, backend: str, character: str, prompt: str | None = None, sample: str | None = None, consent: str | None = None
) -> str:
    """The content address of a voice to make: the same description (its spacing aside), or the same sample with the
    same consent, for the same character at the same provider is the same voice."""
    made_from = {"prompt": " ".join(prompt.split())} if prompt is not None else {"sample": sample, "consent": consent}
    return digest({"backend": backend, "character": character, **made_from})[:32]


def find_made_voice(records: list[MadeVoiceRecord] | None, key: str) -> MadeVoiceRecord | None:
    return next((record for record in records or [] if record.key == key), None)
