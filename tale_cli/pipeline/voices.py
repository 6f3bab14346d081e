"""`tale voices design` and `tale voices clone`: a voice made at a provider for one character of a run — from a
description, or from a recorded sample with its owner's recorded consent — and kept as that character's voice for the
provider's backend in the run's plan.json, so every shot, retake and later film of the plan speaks with it.

Everything that can be refused is refused before any request: the character, a missing or unreadable consent
recording, a private run (private mode keeps to local voices), a backend that makes no voices, the key, the price
above --max-cost. Making a voice is priced from the run's price book, written to the audit log and recorded in the
manifest, where the same voice asked for again is found: it is paid for once."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import MadeVoice, VoiceMaking
from tale_cli.errors import BudgetError, InputError, PrivacyError, RecipeError
from tale_cli.files import now_iso
from tale_cli.keys.audit import AuditLog, audit_request
from tale_cli.run.made_voices import MadeVoiceRecord, find_made_voice, made_voice_key

if TYPE_CHECKING:
    from tale_cli.backends.base import VoiceBackend
    from tale_cli.config import Recipe
    from tale_cli.run.folder import Manifest, RunFolder
    from tale_cli.story.plan import Character, Plan


@dataclass(frozen=True)
class VoiceMade:
    """A character's made voice, as the command reports it."""

    run_dir: Path
    character: str
    name: str
    backend: str
    how: str  # "design" or "clone"
    voice: str  # the provider's id, now the character's voice for `backend` in plan.json
    model: str | None
    cost_usd: float | None  # what making the voice cost: 0 for a voice found again, made already
    found_again: bool
    plan: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "character": self.character,
            "name": self.name,
            "backend": self.backend,
            "how": self.how,
            "voice": self.voice,
            "model": self.model,
            "cost_usd": self.cost_usd,
            "found_again": self.found_again,
            "plan": str(self.plan),
        }


@dataclass(frozen=True)
class _Wanted:
    how: str
    prompt: str | None = None
    sample: Path | None = None
    consent: Path | None = None


def design_voice(
    run_dir: Path,
    character: str,
    description: str,
    *,
    backend: str | None = None,
    recipe: Recipe | None = None,
    max_cost: float | None = None,
    wait: bool = True,
    say: Callable[[str], None] | None = None,
) -> VoiceMade:
    """Design a voice for `character` (its id or name) from `description` at `backend` (by default the run's voice
    backend where it designs voices, else the first that does) and keep it as the character's voice there."""
    if not description.strip():
        raise InputError("describe the voice", hint='e.g. "a gravelly old fisherman, slow and warm"')
    wanted = _Wanted("design", prompt=description.strip())
    return _make(run_dir, character, wanted, backend, recipe, max_cost, wait, say)


def clone_voice(
    run_dir: Path,
    character: str,
    sample: Path,
    *,
    consent: Path | None,
    backend: str | None = None,
    recipe: Recipe | None = None,
    max_cost: float | None = None,
    wait: bool = True,
    say: Callable[[str], None] | None = None,
) -> VoiceMade:
    """Clone the voice in `sample` for `character`, with `consent` — a recording of the voice's owner agreeing to it —
    at `backend`, and keep it as the character's voice there. Without a consent recording that is audio, nothing is
    sent anywhere."""
    if consent is None:
        raise InputError(
            "a cloned voice needs its owner's recorded consent",
            hint="record the owner of the voice saying they agree to its use, and pass it with --consent FILE",
        )
    for path, what in ((consent, "consent recording"), (sample, "voice sample")):
        _check_audio(path, what)
    wanted = _Wanted("clone", sample=sample, consent=consent)
    return _make(run_dir, character, wanted, backend, recipe, max_cost, wait, say)


def _check_audio(path: Path, what: str) -> None:
    from tale_cli.media.ffmpeg import probe_audio

    if not path.is_file():
        raise InputError(f"the {what} {path} is not a file")
    try:
        seconds = probe_audio(path)
    except InputError:
        raise InputError(
            f"the {what} {path} is not audio", hint="give a recording: WAV, MP3, M4A, OGG or FLAC"
        ) from None
    if seconds <= 0:
        raise InputError(f"the {what} {path} holds no sound")


def _sha256(path: Path) -> str:
    from tale_cli.keys.seal import read_bytes

    return hashlib.sha256(read_bytes(path)).hexdigest()


def find_character(plan: Plan, wanted: str) -> Character:
    """A plan's character by id or (any case) name; an unknown one lists the plan's characters."""
    for character in plan.characters:
        if wanted in (character.id, character.name) or wanted.casefold() == character.name.casefold():
            return character
    listed = ", ".join(f"{c.id} ({c.name})" for c in plan.characters) or "none"
    raise InputError(f"the plan has no character '{wanted}'", hint=f"its characters are: {listed}")


def _model_for(backend: VoiceBackend, how: str) -> str | None:
    capabilities = backend.capabilities()
    return capabilities.design_model if how == "design" else capabilities.clone_model


def _maker(name: str | None, how: str, run_backend: str, recipe: Recipe) -> VoiceBackend:
    """The voice backend that makes the voice: the one named, else the run's own where it can, else the first that
    can; refused (before any request) when it makes no voices this way."""
    from tale_cli.config import VoiceConfig
    from tale_cli.registry import Role, create, names

    def backend(backend_name: str) -> VoiceBackend:
        voice = VoiceConfig(backend=backend_name)
        made: VoiceBackend = create(Role.VOICE, backend_name, recipe.model_copy(update={"voice": voice}))
        return made

    makers: list[str] = []
    because: dict[str, str] = {}
    for candidate_name in names(Role.VOICE):
        candidate = backend(candidate_name)
        try:
            if _model_for(candidate, how):
                makers.append(candidate_name)
            elif how == "design" and candidate.capabilities().no_design_because:
                because[candidate_name] = candidate.capabilities().no_design_because
        finally:
            candidate.close()
    if name is not None:
        backend(name).close()  # an unknown name: the registry lists the valid ones
    chosen = name or (run_backend if run_backend in makers else (makers[0] if makers else ""))
    verb = "designs a voice from a description" if how == "design" else "clones a voice from a sample"
    if chosen not in makers:
        reason = f" ({because[chosen]})" if chosen in because else ""
        raise RecipeError(
            f"the {chosen} voice backend never {verb}{reason}" if chosen else f"no voice backend {verb}",
            hint="backends that do: " + (", ".join(makers) or "none"),
        )
    return backend(chosen)


def _make(
    run_dir: Path,
    wanted_character: str,
    wanted: _Wanted,
    backend_name: str | None,
    given: Recipe | None,
    max_cost: float | None,
    wait: bool,
    say: Callable[[str], None] | None,
) -> VoiceMade:
    from tale_cli.run.open import holding, open_run
    from tale_cli.run.plan_file import save_plan

    folder, plan = open_run(run_dir)
    character = find_character(plan, wanted_character)
    with holding(folder, "making a voice", wait=wait, say=say or (lambda _: None), create=False) as manifest:
        recipe = _run_recipe(manifest, given)
        if folder.private or recipe.private:
            raise PrivacyError(
                "private mode keeps to local voices: making one sends a description or a recording to a provider",
                hint="give the character one of espeak's or supertonic's voices in plan.json instead",
            )
        backend = _maker(backend_name, wanted.how, recipe.voice.backend, recipe)
        try:
            key = made_voice_key(
                backend=backend.name,
                character=character.id,
                prompt=wanted.prompt,
                sample=_sha256(wanted.sample) if wanted.sample else None,
                consent=_sha256(wanted.consent) if wanted.consent else None,
            )
            earlier = find_made_voice(manifest.data.made_voices, key)
            cost: float | None
            if earlier is not None and earlier.ready:
                voice, model, cost, found_again = earlier.voice, earlier.model, 0.0, True
            else:
                made = _pay_for(backend, wanted, character, plan, folder, manifest, recipe, key, earlier, max_cost)
                voice, model, cost, found_again = made.voice, made.result.model or None, made.result.cost_usd, False
        finally:
            backend.close()
        _give_voice(character, backend.name, voice, recipe.voice.backend)
        save_plan(plan, folder)
    return VoiceMade(
        folder.root,
        character.id,
        character.name,
        backend.name,
        wanted.how,
        voice,
        model,
        cost,
        found_again,
        folder.plan,
    )


def _pay_for(
    backend: VoiceBackend,
    wanted: _Wanted,
    character: Character,
    plan: Plan,
    folder: RunFolder,
    manifest: Manifest,
    recipe: Recipe,
    key: str,
    earlier: MadeVoiceRecord | None,
    max_cost: float | None,
) -> MadeVoice:
    """Make the voice at the provider — or wait again for one it accepted earlier, paying nothing more — recording
    its id the moment it is accepted, then its cost, in the manifest, and the request in the audit log."""
    from tale_cli.backends.cloud import made_voice_cost

    price = made_voice_cost(recipe, backend.name, _model_for(backend, wanted.how) or "")
    if earlier is None and max_cost is not None and price is not None and price > max_cost:
        raise BudgetError(
            f"making this voice costs about ${price:.2f}, above --max-cost ${max_cost:.2f}",
            hint="raise --max-cost, or keep one of the backend's own voices",
        )
    backend.preflight()
    sample = _sha256(wanted.sample) if wanted.sample else None
    fields: dict[str, Any] = {"key": key, "character": character.id, "backend": backend.name, "how": wanted.how}
    fields |= {"prompt": wanted.prompt, "sample_sha256": sample}
    fields |= {"consent_sha256": _sha256(wanted.consent) if wanted.consent else None}

    def keep(voice: str, **made: Any) -> None:
        record = MadeVoiceRecord(
            **{k: v for k, v in fields.items() if v is not None}, voice=voice, made_at=now_iso(), **made
        )
        with manifest.edit() as data:
            data.made_voices = [*(m for m in data.made_voices or [] if m.key != key), record]

    request = VoiceMaking(
        name=f"{plan.title} · {character.name}"[:100],
        language=plan.language,
        prompt=wanted.prompt,
        sample=wanted.sample,
        consent=wanted.consent,
        accepted=lambda voice: keep(voice, ready=False, cost_usd=price),  # paid once accepted, ready or not
        resume=earlier.voice if earlier is not None else None,
    )
    audit = AuditLog(folder.root, audit_prompts=recipe.audit_prompts)
    said = wanted.prompt or f"voice sample sha256:{sample}"
    started = time.monotonic()
    try:
        made = backend.make_voice(request)
    except Exception as error:
        audit_request(audit, "voice", backend.name, None, said, None, started, error=error, character=character.id)
        raise
    cost = made.result.cost_usd
    audit_request(audit, "voice", backend.name, None, said, made.result, started, character=character.id)
    keep(made.voice, ready=True, model=made.result.model or None, cost_usd=cost)
    return made


def _give_voice(character: Character, backend: str, voice: str, run_backend: str) -> None:
    """The made voice becomes the character's voice for `backend`. A single voice kept from an older plan stays the
    character's voice in the run's own backend."""
    if isinstance(character.voice, dict):
        character.voice = {**character.voice, backend: voice}
    elif isinstance(character.voice, str) and run_backend not in ("none", backend):
        character.voice = {run_backend: character.voice, backend: voice}
    else:
        character.voice = {backend: voice}


def _run_recipe(manifest: Manifest, given: Recipe | None) -> Recipe:
    """The run's recipe, with the sound its film was cut with (its voice backend); the default recipe when the run's
    cannot be found."""
    from tale_cli.config import load_defaults, load_recipe
    from tale_cli.run.recipe import run_recipe_of, with_film_sound

    try:
        recipe = run_recipe_of(manifest, given)
    except RecipeError:
        recipe = load_recipe(load_defaults().recipe)
    return with_film_sound(recipe, manifest)
