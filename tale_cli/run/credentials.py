"""What a run's film says of itself in its Content Credentials: per shot the backend and model of the take it plays
and whether that was generated or the user's own clip or still; the references' and the sound's origin likewise.
And the last step of a cut: the marks asked for, then the signature, on a film that has passed its checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.keys.seal import seal_of
from tale_cli.run.film_records import CredentialsRecord, CutSettings
from tale_cli.run.folder import Manifest, ShotRecord, now_iso

if TYPE_CHECKING:
    from tale_cli.film.credentials import FilmClaim, Origin, PartSource, ShotSource
    from tale_cli.media.ffmpeg import EncodeSettings
    from tale_cli.story.plan import Plan

USER_BACKEND = "user"  # the backend a take made from the user's own file is recorded with (tale_cli.pipeline.retake)
NOT_INSTALLED = "c2pa-python is not installed: the film carries no Content Credentials (pip install c2pa-python)"
LOCAL_NOTE = (
    "signed the film's Content Credentials with Tale's local certificate ({where}): viewers show it as signed by "
    "an untrusted issuer (`tale keys signing import` a certificate from a trusted CA to change that)"
)


def signing_wanted(settings: CutSettings) -> bool:
    """Whether this cut signs: asked for (not --no-c2pa) and c2pa-python installed."""
    from tale_cli.film.credentials import available

    return settings.credentials and available()


def film_claim(plan: Plan, manifest: Manifest, settings: CutSettings, *, final: bool, user_music: bool) -> FilmClaim:
    """The claim of the film cut from the run as it is; `final`: the final film of a run of drafts. A sealed run's claim
    names no character and no title: the film's credentials are text in the clear."""
    from tale_cli.film.credentials import FilmClaim, PartSource
    from tale_cli.film.watermark import parse_watermark

    data = manifest.data
    sealed = seal_of(manifest.folder.root) is not None
    shots = [_shot(shot.index, data.shots.get(str(shot.index)), final=final) for shot in plan.shots]
    references = []
    for number, character in enumerate(plan.characters, start=1):
        ref = data.refs.get(character.id)
        name = f"character {number}" if sealed else character.name
        if character.reference_image or ref is None or ref.backend in (None, USER_BACKEND):
            references.append(PartSource(name=name, origin="user picture"))
        else:
            references.append(PartSource(name=name, origin="generated", backend=ref.backend, model=ref.model))
    sound: list[PartSource] = []
    if settings.voice_dir is not None:
        sound.append(PartSource(name="voice", origin="user recording"))
    elif data.voice is not None and data.voice.backend != "none":
        models = sorted({clip.model for clip in data.voice.clips if clip.model})
        sound.append(
            PartSource(name="voice", origin="generated", backend=data.voice.backend, model=", ".join(models) or None)
        )
    if user_music:
        sound.append(PartSource(name="music", origin="user recording"))
    elif data.music is not None:
        sound.append(PartSource(name="music", origin="generated", backend=data.music.backend, model=data.music.model))
    visible = parse_watermark(settings.watermark) if settings.watermark else None
    return FilmClaim(
        title="film" if sealed or not plan.title else plan.title,
        shots=shots,
        references=references,
        sound=sound,
        watermark=visible.kind if visible is not None else None,
        invisible_watermark=settings.invisible_watermark,
    )


def _shot(index: int, entry: ShotRecord | None, *, final: bool) -> ShotSource:
    from tale_cli.film.credentials import ShotSource
    from tale_cli.run.takes import final_take

    if entry is None:  # a run folder put together by hand: its clips are the user's
        return ShotSource(index=index, origin="user clip")
    take = final_take(entry) if final else entry.current_take()
    backend, model = (take.backend, take.model) if take is not None else (entry.backend, entry.model)
    if backend == USER_BACKEND:
        origin: Origin = "user still" if model == "still" else "user clip"
        return ShotSource(index=index, origin=origin)
    return ShotSource(index=index, origin="generated", backend=backend, model=model)


def finish(
    made: Path,
    work: Path,
    claim: Callable[[], FilmClaim],
    settings: CutSettings,
    *,
    fps: int,
    duration_s: float,
    encode: EncodeSettings,
    say: Callable[[str], None],
) -> tuple[Path, CredentialsRecord | None]:
    """The checked film `made` with the marks asked for (checked again), then signed in place; the film and what the
    signing added. Nothing is signed that did not pass its check."""
    from tale_cli.media.ffmpeg import check_clip

    marked_s = None
    if settings.watermark is not None or settings.invisible_watermark is not None:
        from tale_cli.film.watermark import mark_film, parse_watermark

        began = time.perf_counter()
        say("marking the film")
        made = mark_film(
            made,
            work / "marked.mp4",
            visible=parse_watermark(settings.watermark) if settings.watermark else None,
            invisible=settings.invisible_watermark,
            fps=fps,
            encode=encode,
        )
        check_clip(made, expected_s=duration_s, fps=fps)
        marked_s = round(time.perf_counter() - began, 3)
    if not settings.credentials:
        return made, None
    from tale_cli.film.credentials import available, sign_film
    from tale_cli.keys.signing import describe_chain, signing_identity

    if not available():
        say(NOT_INSTALLED)
        return made, None
    identity = signing_identity()
    assert identity is not None  # made when missing
    signed = sign_film(made, claim(), identity)
    if identity.made_here:
        say(LOCAL_NOTE.format(where=identity.where))
    _, issuer, _ = describe_chain(identity.chain)
    return made, CredentialsRecord(
        source=identity.source,
        issuer=issuer,
        manifest_bytes=signed.manifest_bytes,
        added_bytes=signed.added_bytes,
        sign_s=round(signed.seconds, 3),
        mark_s=marked_s,
        signed_at=now_iso(),
    )
