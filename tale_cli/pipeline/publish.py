"""Handing a film over: a run's film, subtitles or review page copied to object storage (S3, Google Cloud Storage) or
a local folder, and a signed link with a time limit for each file.

Uploads are content-addressed: every object carries its file's SHA-256 in its metadata (`tale-sha256`), and a file
whose object already holds the same bytes is not sent again, so publishing twice sends nothing the second time and a
publish that was stopped sends, when run again, only what is missing. A large file goes up in parts (a multipart
upload), several at a time. Credentials come from the provider's usual chain (for S3: the AWS_* variables, then the
profiles and roles boto3 knows; for Google: GOOGLE_APPLICATION_CREDENTIALS or the instance's account); they are never
printed. The object store library (obstore) is the `publish` extra.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tale_cli.errors import InputError, KeysError, OutputError, PrivacyError, TaleError, missing_extra
from tale_cli.files import refuse_symlink
from tale_cli.keys.redact import register_secret
from tale_cli.keys.seal import SEAL_FILE
from tale_cli.run.folder import Manifest, RunFolder
from tale_cli.run.identity import file_digest
from tale_cli.run.open import held

if TYPE_CHECKING:
    from obstore.store import GCSStore, S3Store

SCHEMES = ("s3", "gs", "file")
WHAT = ("film", "srt", "review")
DEFAULT_WHAT = ("film", "srt")
DEFAULT_EXPIRES = "7d"
# S3 and Google Cloud Storage both refuse a signed URL (SigV4, V4) valid for longer than seven days.
MAX_SIGNED = timedelta(days=7)
SHA_KEY = "tale-sha256"
# Files larger than one part go up as a multipart upload; S3's smallest part (but the last) is 5 MiB.
PART_BYTES = 8 * 1024 * 1024
PARTS_AT_ONCE = 4
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TYPES = {".mp4": "video/mp4", ".srt": "application/x-subrip", ".html": "text/html; charset=utf-8",
          ".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".vtt": "text/vtt"}  # fmt: skip
_LINKED = re.compile(r"""\b(?:src|href)="([^"]+)\"""")


@dataclass(frozen=True)
class Destination:
    """Where files go: `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX` or `file:///DIR`."""

    scheme: str
    bucket: str
    prefix: str
    folder: Path | None = None

    def __str__(self) -> str:
        if self.folder is not None:
            return self.folder.as_uri()
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


@dataclass
class PublishedFile:
    name: str  # its path in the run folder, and under the destination
    size: int
    sha256: str
    sent: bool  # False when the destination already held these bytes
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "sent": self.sent, "url": self.url}


@dataclass
class PublishResult:
    run: Path
    destination: str
    expires_s: int | None  # None for a local folder: its file:// links do not expire
    files: list[PublishedFile] = field(default_factory=list)

    @property
    def sent(self) -> list[PublishedFile]:
        return [item for item in self.files if item.sent]

    def to_json(self) -> dict[str, Any]:
        return {
            "run": str(self.run),
            "destination": self.destination,
            "expires_s": self.expires_s,
            "files": [item.to_json() for item in self.files],
            "sent": len(self.sent),
            "sent_bytes": sum(item.size for item in self.sent),
        }


def parse_destination(text: str) -> Destination:
    """`s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX` or `file:///DIR`; one clear error for anything else."""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InputError(
            f"cannot publish to '{text}'", hint="give --to s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or file:///DIR"
        )
    if parts.query or parts.fragment:
        raise InputError(f"--to takes no query or fragment: '{text}'")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InputError(f"'{text}' is not a local folder", hint="give an absolute path: file:///DIR")
        return Destination("file", "", "", Path(unquote(parts.path)))
    if not parts.netloc or "@" in parts.netloc or ":" in parts.netloc:
        raise InputError(f"'{text}' names no bucket", hint=f"give --to {scheme}://BUCKET/PREFIX")
    prefix = unquote(parts.path).strip("/")
    if any(piece in ("", ".", "..") for piece in prefix.split("/")) and prefix:
        raise InputError(f"the prefix of '{text}' has an empty, '.' or '..' part")
    return Destination(scheme, parts.netloc, prefix)


def parse_expiry(text: str, destination: Destination) -> timedelta | None:
    """`7d`, `12h`, `30m` or `90s` as a time limit (None for a local folder, whose links do not expire)."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text.lower())
    if found is None or int(found.group(1)) == 0:
        raise InputError(f"--expires '{text}' is not a time limit", hint="give a number and a unit: 7d, 12h, 30m, 90s")
    limit = timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])
    if destination.folder is not None:
        return None
    if limit > MAX_SIGNED:
        raise InputError(
            f"--expires {text} is longer than a signed link can last (7 days)", hint="give --expires 7d or less"
        )
    return limit


def parse_what(text: str) -> tuple[str, ...]:
    """`film,srt,review` as the kinds of file to publish, in that order, each once."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in WHAT:
            raise InputError(f"--what '{name}' is not a kind of file", hint=f"choose from {', '.join(WHAT)}")
    if not names:
        raise InputError("--what names nothing", hint=f"choose from {', '.join(WHAT)}")
    return tuple(name for name in WHAT if name in names)


def publish_refusal(run_dir: Path) -> str | None:
    """Why this run must not leave the machine without the user's say-so (`--yes`): sealed, private, or a manifest
    that cannot tell whether it is private; None when nothing holds it back."""
    data = Manifest.read(RunFolder(run_dir).manifest)
    extra = (data.model_extra or {}) if data is not None else {}
    if (run_dir / SEAL_FILE).is_file() or extra.get("sealed") or (data and getattr(data.run, "sealed", None)):
        return "it is sealed"
    if data is None:
        return "its manifest.json is missing or cannot be read, so whether it is private cannot be told"
    if data.run.private:
        return "it is private (rendered with private = true, so that nothing of it leaves the machine)"
    return None


def files_to_publish(folder: RunFolder, what: tuple[str, ...]) -> list[str]:
    """The run's files for each kind, as paths relative to the run folder: the film (the final one, else the draft),
    its subtitles, the review page and every file of the run it shows."""
    film = folder.film if folder.film.is_file() else folder.draft_film
    names: list[str] = []
    if "film" in what:
        if not film.is_file():
            raise InputError(f"{folder.root} has no film yet", hint="make it with `tale render` or `tale stitch`")
        names.append(film.name)
    if "srt" in what:
        subtitles = film.with_suffix(".srt")
        if not subtitles.is_file():
            raise InputError(f"{folder.root} has no subtitles ({subtitles.name})", hint="leave srt out of --what")
        names.append(subtitles.name)
    if "review" in what:
        page = folder.root / "review.html"
        if not page.is_file():
            raise InputError(f"{folder.root} has no review page", hint=f"make it with `tale review {folder.root}`")
        names += ["review.html", *_linked_files(folder.root, page.read_text(encoding="utf-8"))]
    return list(dict.fromkeys(names))


def _linked_files(root: Path, page: str) -> list[str]:
    """The run's own files a review page shows (its relative links), each a plain file inside the run folder."""
    found: list[str] = []
    base = root.resolve()
    for link in _LINKED.findall(page):
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            continue
        path = root / unquote(parts.path)
        if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(base):
            continue
        found.append(path.relative_to(root).as_posix())
    return found


def publish(
    run_dir: Path,
    to: str,
    *,
    expires: str = DEFAULT_EXPIRES,
    what: str | tuple[str, ...] = DEFAULT_WHAT,
    yes: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> PublishResult:
    """Copy a run's files to `to` (sending only what it does not hold already) and sign a link to each."""
    kinds = parse_what(what) if isinstance(what, str) else parse_what(",".join(what))
    destination = parse_destination(to)
    limit = parse_expiry(expires, destination)
    folder = RunFolder(run_dir)
    if not run_dir.is_dir() or not folder.plan.is_file():
        raise InputError(
            f"{run_dir} is not a run folder (no plan.json)", hint="give a run folder made by `tale render`"
        )
    refusal = publish_refusal(run_dir)
    if refusal is not None and not yes:
        raise PrivacyError(f"{run_dir} is not published: {refusal}", hint="add --yes to publish it all the same")
    from tale_cli.keys.seal import media_sealed

    if media_sealed(run_dir):
        raise InputError(
            f"{run_dir} is not published: its media are sealed, and a sealed film plays nowhere",
            hint=f"publish a plain copy (`tale stitch {run_dir} --out FILE`), or `tale unseal {run_dir}` first",
        )
    result = PublishResult(run_dir, str(destination), int(limit.total_seconds()) if limit else None)
    with held(folder, "publish", wait=wait, say=on_wait):
        names = files_to_publish(folder, kinds)
        if destination.folder is not None:
            result.files = [_copy(folder.root / name, destination.folder, name) for name in names]
        else:
            assert limit is not None
            with _store_errors(destination):
                store = open_store(destination)
                result.files = [_upload(store, folder.root / name, destination, name, limit) for name in names]
    return result


def _copy(source: Path, target_dir: Path, name: str) -> PublishedFile:
    """One file into a local folder, copied only when the folder does not hold the same bytes already."""
    digest, size = file_digest(source), source.stat().st_size
    target = target_dir / name
    try:
        for part in (target_dir, *reversed(target.relative_to(target_dir).parents)):
            refuse_symlink(target_dir / part)
        refuse_symlink(target)
        same = target.is_file() and target.stat().st_size == size and file_digest(target) == digest
        if not same:
            target.parent.mkdir(parents=True, exist_ok=True)
            part_file = target.with_name(target.name + ".part")
            shutil.copyfile(source, part_file)
            os.replace(part_file, target)
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
    return PublishedFile(name, size, digest, not same, target.as_uri())


def open_store(destination: Destination) -> S3Store | GCSStore:
    try:
        from obstore.store import GCSStore, S3Store
    except ImportError:
        raise missing_extra("publish", "obstore") from None
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GOOGLE_SERVICE_ACCOUNT_KEY"):
        register_secret(os.environ.get(name))  # redacted from any error or --debug traceback that might echo it
    retry = {"max_retries": 3, "retry_timeout": timedelta(seconds=60)}
    if destination.scheme == "gs":
        return GCSStore(destination.bucket, retry_config=retry)  # type: ignore[arg-type]
    options: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint"] = endpoint
    client = {"allow_http": True} if endpoint and endpoint.startswith("http://") else None
    return S3Store(
        destination.bucket,
        client_options=client,  # type: ignore[arg-type]
        retry_config=retry,  # type: ignore[arg-type]
        credential_provider=_aws_profile_chain(),
        **options,
    )


def _aws_profile_chain() -> Any:
    """boto3's credential chain (profiles, SSO, roles) where no key is in the environment and boto3 is installed;
    else None, and the store reads the environment, web identity and the instance's role itself."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return None
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None
    session = boto3.Session()
    if session.get_credentials() is None:
        raise KeysError(
            "no AWS credentials found",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run on a machine with a role",
        )
    return Boto3CredentialProvider(session)


def _upload(store: Any, source: Path, destination: Destination, name: str, limit: timedelta) -> PublishedFile:
    """One file as one object, sent only when the object does not hold these bytes already; and its signed link."""
    import obstore
    from obstore.exceptions import NotFoundError

    digest, size = file_digest(source), source.stat().st_size
    key = destination.key(name)
    try:
        held_now = obstore.get(store, key, options={"head": True})
        same = held_now.meta["size"] == size and held_now.attributes.get(SHA_KEY) == digest
    except (NotFoundError, FileNotFoundError):  # obstore raises the latter for a missing object
        same = False
    if not same:
        kind = _TYPES.get(source.suffix.lower(), "application/octet-stream")
        with source.open("rb") as handle:
            # A failed multipart upload is aborted by obstore (its parts deleted), so a failure leaves nothing behind.
            obstore.put(
                store,
                key,
                handle,
                attributes={"Content-Type": kind, SHA_KEY: digest},
                chunk_size=PART_BYTES,
                max_concurrency=PARTS_AT_ONCE,
            )
    return PublishedFile(name, size, digest, not same, signed_link(store, key, limit))


def signed_link(store: Any, key: str, limit: timedelta) -> str:
    """A link that downloads the object for `limit` without credentials: S3's SigV4 or Google's V4, signed here with
    the store's credentials (an instance's Google account without a key signs through Google's IAM API)."""
    import obstore

    return obstore.sign(store, "GET", key, limit)


@contextlib.contextmanager
def _store_errors(destination: Destination) -> Iterator[None]:
    """An object store's failure as one line naming the destination and the store's reason, never a credential."""
    try:
        yield
    except TaleError:
        raise
    except Exception as error:
        # obstore raises its own errors, and Python's (FileNotFoundError, PermissionError) for some of them.
        if type(error).__module__.split(".")[0] != "obstore" and not isinstance(error, OSError):
            raise
        text = str(error)
        code = re.search(r"<Code>(\w+)</Code>", text)
        status = re.search(r"status:\s*(\d{3})", text)
        reason = code.group(1) if code else (f"HTTP {status.group(1)}" if status else text.splitlines()[0][:160])
        name = type(error).__name__
        if "credential" in text.lower() and not code:
            raise KeysError(
                f"no usable credentials for {destination}: {text.splitlines()[0][:200]}",
                hint="set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file"
                if destination.scheme == "gs"
                else "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
            ) from None
        if name in ("PermissionDeniedError", "UnauthenticatedError") or (
            code and code.group(1) in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "ExpiredToken")
        ):
            where = "GOOGLE_APPLICATION_CREDENTIALS" if destination.scheme == "gs" else "the AWS_* variables or profile"
            raise KeysError(
                f"{destination} refused the credentials ({reason})", hint=f"check {where} and the bucket's permissions"
            ) from None
        raise OutputError(
            f"cannot publish to {destination}: {reason}", hint="check the bucket and its endpoint"
        ) from None
