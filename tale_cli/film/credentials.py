"""Content Credentials (C2PA) on a film: a signed manifest that says Tale made it, that its pictures come from trained
models (the digital source type the EU AI Act's marking duty points to), and per shot which backend and model made
it; and the reading back of a film's credentials (issuer, trust, hash binding, actions) for `tale verify`.

c2pa-python does the signing and validation; it is imported here only, lazily. Signing writes the signed film beside
the source as a `.part` and renames it over the source, so a film is never left half signed.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from tale_cli.errors import CredentialsError, InputError, OutputError
from tale_cli.version import __version__

if TYPE_CHECKING:
    from tale_cli.keys.signing import SigningIdentity

GENERATOR = "Tale"
# The IPTC digital source types C2PA uses: all pictures from trained models, or those mixed with the user's own.
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
TALE_ASSERTION = "org.tale-cli.film"
SOFT_BINDING_ALG = "org.tale-cli.invisible-watermark.dwtdctsvd"
TRUST_ANCHORS_ENV = "TALE_C2PA_TRUST_ANCHORS"  # a PEM file of CAs `tale verify` trusts besides Tale's local one
INSTALL_HINT = "pip install c2pa-python"

Origin = Literal["generated", "user clip", "user still", "user picture", "user recording"]


class ShotSource(BaseModel):
    """Where one shot's picture came from."""

    index: int
    origin: Origin
    backend: str | None = None
    model: str | None = None


class PartSource(BaseModel):
    """Where a character's reference picture, the voice or the music came from."""

    name: str
    origin: Origin
    backend: str | None = None
    model: str | None = None


class FilmClaim(BaseModel):
    """What the film's credentials say about it."""

    title: str
    shots: list[ShotSource]
    references: list[PartSource] = []
    sound: list[PartSource] = []
    watermark: str | None = None  # a visible mark burned in (its spec's kind: "text" or "image")
    invisible_watermark: str | None = None  # the invisible mark's text

    @property
    def source_type(self) -> str:
        return TRAINED if all(shot.origin == "generated" for shot in self.shots) else COMPOSITE

    def manifest(self) -> dict[str, Any]:
        agent = {"name": GENERATOR, "version": __version__}
        actions: list[dict[str, Any]] = [
            {
                "action": "c2pa.created",
                "digitalSourceType": self.source_type,
                "softwareAgent": agent,
                "description": "a film made from a written story by text-to-video and image-to-video models",
            }
        ]
        # A visible mark is an edit of the picture; an invisible one is a watermark, which C2PA wants bound to the
        # manifest by a soft-binding assertion carrying what the mark says.
        if self.watermark is not None:
            edit = f"a visible {self.watermark} mark burned into the film"
            actions.append({"action": "c2pa.edited", "softwareAgent": agent, "description": edit})
        bindings = []
        if self.invisible_watermark is not None:
            mark = "an invisible mark embedded in every frame's luma (invisible-watermark, dwtDctSvd)"
            actions.append({"action": "c2pa.watermarked", "softwareAgent": agent, "description": mark})
            value = base64.b64encode(self.invisible_watermark.encode("utf-8")).decode("ascii")
            bindings.append(
                {
                    "label": "c2pa.soft-binding",
                    "data": {"alg": SOFT_BINDING_ALG, "blocks": [{"scope": {}, "value": value}]},
                }
            )
        data = {
            "shots": [shot.model_dump(exclude_none=True) for shot in self.shots],
            "references": [part.model_dump(exclude_none=True) for part in self.references],
            "sound": [part.model_dump(exclude_none=True) for part in self.sound],
        }
        return {
            "claim_generator_info": [agent],
            "title": self.title,
            "format": "video/mp4",
            "assertions": [
                {"label": "c2pa.actions.v2", "data": {"actions": actions}},
                {"label": TALE_ASSERTION, "data": data},
                *bindings,
            ],
        }


@dataclass(frozen=True)
class Signed:
    manifest_bytes: int
    added_bytes: int
    seconds: float


def available() -> bool:
    """Whether c2pa-python can be imported here."""
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def sign_film(path: Path, claim: FilmClaim, identity: SigningIdentity) -> Signed:
    """Sign `path` in place: the signed film is written to `path.part` and renamed over it."""
    import c2pa

    from tale_cli.keys.seal import clear_path, media_seal, memory_file

    began = time.perf_counter()
    part = path.with_name(path.name + ".part")
    # In a media-sealed run the film is opened in memory, signed into memory, and sealed into place.
    seal = media_seal(path)
    try:
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, identity.chain, identity.key, None)
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(claim.manifest()) as builder,
            clear_path(path) as readable,
            open(readable, "rb") as source,
            open(part, "w+b") if seal is None else os.fdopen(memory_file(b"", part.name), "w+b") as dest,
        ):
            before = readable.stat().st_size
            manifest = builder.sign(signer, "video/mp4", source, dest)
            dest.flush()
            os.fsync(dest.fileno())
            if seal is not None:
                dest.seek(0)
                signed = dest.read()
        if seal is None:
            os.replace(part, path)
        else:
            from tale_cli.files import atomic_write_bytes

            atomic_write_bytes(path, seal.seal(signed), mode=path.stat().st_mode & 0o777)
    except c2pa.C2paError as error:
        part.unlink(missing_ok=True)
        raise OutputError(
            f"the film could not be signed: {_first_line(error)}",
            hint="check the signing certificate (`tale keys signing show`), or render with --no-c2pa",
        ) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Signed(len(manifest), (len(signed) if seal is not None else path.stat().st_size) - before,
                  time.perf_counter() - began)  # fmt: skip


@dataclass
class FilmCredentials:
    """A film's Content Credentials as read and validated, for `tale verify`."""

    path: Path
    signed: bool
    state: str  # c2pa's validation state: "Trusted", "Valid", "Invalid"; "none" without credentials
    intact: bool  # the hash binding matches the file's bytes: it was not changed after signing
    trust: str  # "trusted", "local" (Tale's own CA on this machine, which viewers do not trust) or "untrusted"
    issuer: str | None = None
    signer: str | None = None
    signed_at: str | None = None
    generator: str | None = None
    source_type: str | None = None
    actions: list[str] = field(default_factory=list)
    shots: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    sound: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    invisible_mark: str | None = None
    invisible_checked: str = "not looked for"

    @property
    def ok(self) -> bool:
        return self.signed and self.intact

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        return {"path": str(self.path), "ok": self.ok, **data}


def read_credentials(path: Path, *, local_ca: bytes | None = None) -> FilmCredentials:
    """Read and validate `path`'s credentials. `local_ca`: Tale's own CA, trusted here as "local" (never by viewers)."""
    import c2pa

    if not path.is_file():
        raise InputError(f"no such film: {path}")
    from tale_cli.keys.seal import clear_path

    anchors = _trust_anchors()
    try:
        with clear_path(path) as readable:  # a media-sealed run's film, opened in memory
            return dataclasses.replace(_read(c2pa, readable, anchors, local_ca), path=path)
    except c2pa.C2paError as error:
        text = _first_line(error)
        if "ManifestNotFound" in type(error).__name__ or "no JUMBF" in text:
            return FilmCredentials(path, signed=False, state="none", intact=False, trust="untrusted")
        return FilmCredentials(path, True, "Invalid", intact=False, trust="untrusted", failures=[text])


def _read(c2pa: Any, path: Path, anchors: bytes | None, local_ca: bytes | None) -> FilmCredentials:
    def reader(trusted: bytes | None) -> Any:
        if trusted is None and path.suffix:
            return c2pa.Reader(str(path))
        with open(path, "rb") as stream:  # a film opened in memory (/proc/self/fd/N) has no suffix to tell its type
            if trusted is None:
                return c2pa.Reader("video/mp4", stream)
            context = c2pa.Context.from_dict({"trust": {"trust_anchors": trusted.decode("ascii")}})
            return c2pa.Reader("video/mp4", stream, context=context)

    def failed(results: dict[str, Any] | None) -> list[str]:
        return [str(item.get("code")) for item in ((results or {}).get("activeManifest") or {}).get("failure", [])]

    with reader(anchors) as read:
        state, results, active = read.get_validation_state(), read.get_validation_results(), read.get_active_manifest()
    failures = failed(results)
    trust = "untrusted" if any(code.startswith("signingCredential.") for code in failures) else "trusted"
    if trust == "untrusted" and local_ca is not None:
        with reader(local_ca) as local:
            if not any(code.startswith("signingCredential.") for code in failed(local.get_validation_results())):
                trust = "local"
    intact = state in ("Valid", "Trusted") and not any(
        code.startswith(("assertion.", "claimSignature.mismatch", "general.")) for code in failures
    )
    active = active or {}
    signature = active.get("signature_info") or {}
    assertions = {item.get("label"): item.get("data") for item in active.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions", [])
    tale = assertions.get(TALE_ASSERTION) or {}
    generator: dict[str, Any] = next(iter(active.get("claim_generator_info") or []), {})
    return FilmCredentials(
        path,
        signed=True,
        state=state or "Invalid",
        intact=intact,
        trust=trust,
        issuer=signature.get("issuer"),
        signer=signature.get("common_name"),
        signed_at=signature.get("time"),
        generator=" ".join(str(generator[k]) for k in ("name", "version") if k in generator) or None,
        source_type=next((a.get("digitalSourceType") for a in actions if a.get("digitalSourceType")), None),
        actions=[str(a.get("action")) for a in actions],
        shots=tale.get("shots", []),
        references=tale.get("references", []),
        sound=tale.get("sound", []),
        failures=[code for code in failures if not (code == "signingCredential.untrusted" and trust != "untrusted")],
    )


def verify_film(path: Path, *, marks: bool = True) -> FilmCredentials:
    """`tale verify`: the film's credentials (Tale's local CA, when this machine has one, trusted as "local") and its
    invisible mark; VerifyFailed (exit code 14) when it has no credentials or was changed after signing — the result
    rides on the error, for --json."""
    from tale_cli.keys.signing import local_ca

    if not available():
        from tale_cli.errors import MissingDependencyError

        raise MissingDependencyError("c2pa-python is not installed", hint=INSTALL_HINT)
    found = read_credentials(path, local_ca=local_ca())
    if marks:
        from tale_cli.film.watermark import find_mark, marks_available

        if marks_available():
            found.invisible_mark = find_mark(path)
            found.invisible_checked = "found" if found.invisible_mark is not None else "none found"
        else:
            found.invisible_checked = "not checked: pip install 'tale-cli[watermark]'"
    if not found.signed:
        raise VerifyFailed(f"{path.name} carries no Content Credentials", found)
    if not found.intact:
        reason = ", ".join(code for code in found.failures if not code.startswith("signingCredential.")) or found.state
        raise VerifyFailed(f"{path.name} was changed after it was signed ({reason})", found)
    return found


class VerifyFailed(CredentialsError):
    def __init__(self, message: str, found: FilmCredentials) -> None:
        super().__init__(message)
        self.found = found


def _trust_anchors() -> bytes | None:
    named = os.environ.get(TRUST_ANCHORS_ENV, "").strip()
    if not named:
        return None
    try:
        return Path(named).expanduser().read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {TRUST_ANCHORS_ENV} {named}: {error.strerror or error}") from None


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__
