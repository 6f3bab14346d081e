"""Sealed run folders: the story's words (plan, manifest, journal, audit lines, subtitles, judge notes) kept encrypted
at rest with age, opened in memory only.

A sealed run folder holds `seal.json`, which names the age recipient (a public key) its files are sealed to. Whole
files are age files (they start with the age header); the append-only logs (jobs.jsonl, audit.jsonl) seal each line
on its own (`age:` and the base64 of an age file), so a line is still one fsynced append. Readers take sealed and
plain bytes alike, so a conversion stopped half-way leaves a run every command still reads.

The identity (the secret key) comes from TALE_AGE_IDENTITY (the `AGE-SECRET-KEY-1…` value itself, or a file holding
it: a pod's secret) or else from the OS keyring (`tale keys seal-identity`); it is never printed. Every read of a sealed
file is one line in the run's audit log.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import getpass
import json
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import KeysError, OutputError, missing_extra
from tale_cli.keys.redact import register_secret

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyrage import x25519

SEAL_FILE = "seal.json"
IDENTITY_ENV = "TALE_AGE_IDENTITY"
KEYRING_NAME = "age-identity"  # the keyring entry (service "tale") holding the identity
AGE_HEADER = b"age-encryption.org/v1\n"
LINE_PREFIX = b"age:"
SECRET_PREFIX = "AGE-SECRET-KEY-1"  # noqa: S105 -- the prefix every identity starts with, not a secret
# Whole files sealed in a sealed run (by suffix), and the logs sealed line by line.
SEALED_SUFFIXES = (".json", ".srt")
# The media a run writes (clips and takes, pictures, voice, music, the film), sealed whole too in a media-sealed run.
MEDIA_SUFFIXES = (".mp4", ".png", ".jpg", ".jpeg", ".webp", ".wav", ".m4a", ".aac", ".mp3", ".flac", ".ogg")
AUDIT_FILE = "audit.jsonl"  # the run's audit log (tale_cli.keys.audit)
SEALED_LOGS = ("jobs.jsonl", AUDIT_FILE)
_HINT = f"run `tale keys seal-identity`, or set {IDENTITY_ENV} to the identity or a file holding it"

_lock = threading.Lock()
_identity: dict[str, Any] = {}  # the identity once loaded, under the source it came from


def _pyrage() -> Any:
    try:
        import pyrage
    except ImportError:
        raise missing_extra("seal", "pyrage") from None
    return pyrage


@dataclass(frozen=True)
class SealInfo:
    """seal.json: whom the run's files are sealed to."""

    recipient: str  # the age public key (age1…); not a secret
    media: bool = False  # the run's media are sealed too (`--seal-media`)

    def to_json(self) -> str:
        return json.dumps({"recipient": self.recipient, **({"media": True} if self.media else {})}, indent=2) + "\n"


def _identity_text() -> tuple[str, str]:
    """The identity's text and where it came from; KeysError when there is none."""
    value = os.environ.get(IDENTITY_ENV, "").strip()
    if value:
        if not value.startswith(SECRET_PREFIX):
            try:
                text = Path(value).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) else "not text"
                raise KeysError(f"cannot read the age identity file named by {IDENTITY_ENV}: {reason}") from None
            found = [line.strip() for line in text.splitlines() if line.strip().startswith(SECRET_PREFIX)]
            if not found:
                raise KeysError(f"the file named by {IDENTITY_ENV} holds no age identity ({SECRET_PREFIX}…)")
            value = found[0]
        register_secret(value)
        return value, IDENTITY_ENV
    from tale_cli.keys.store import _keyring_get

    stored = _keyring_get(KEYRING_NAME)
    if stored:
        return stored, "keyring"
    raise KeysError("no age identity to open sealed run folders with", hint=_HINT)


def identity_at_hand() -> bool:
    """Whether an identity is set or stored (a private run is then sealed by default); it is not checked here."""
    if os.environ.get(IDENTITY_ENV, "").strip():
        return True
    from tale_cli.keys.store import _keyring_get

    return _keyring_get(KEYRING_NAME) is not None


def identity() -> x25519.Identity:
    """The age identity, loaded once per process (again if its source changes)."""
    text, source = _identity_text()
    with _lock:
        cached = _identity.get(text)
        if cached is not None:
            return cached
        pyrage = _pyrage()
        try:
            loaded = pyrage.x25519.Identity.from_str(text)
        except Exception:
            raise KeysError(f"the age identity from {source} is not a valid identity", hint=_HINT) from None
        _identity.clear()
        _identity[text] = loaded
        return loaded


def new_identity() -> str:
    """A fresh identity's secret text (for the keyring or a pod's secret)."""
    text = str(_pyrage().x25519.Identity.generate())
    register_secret(text)
    return text


@dataclass(frozen=True)
class StoredIdentity:
    """A new identity as `tale keys seal-identity` made it: its recipient (public) and where its secret went."""

    recipient: str
    where: str


def make_identity(file: Path | None = None) -> StoredIdentity:
    """A new identity, stored in the OS keyring or written to a new owner-only `file` (a pod's secret); one already
    there is never replaced (the runs sealed to it would not open again)."""
    if file is not None:
        text = new_identity()
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            raise KeysError(f"{file} already exists; nothing was written", hint="name a new file") from None
        except OSError as error:
            raise KeysError(f"cannot write {file}: {error.strerror}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"# public key: {recipient_of(text)}\n{text}\n")
        return StoredIdentity(recipient_of(text), str(file))
    from tale_cli.keys.store import _keyring_get, keyring_status

    status = keyring_status()
    if not status.usable:
        raise KeysError(
            f"cannot store the identity here: {status.reason}", hint=f"write it to a file (--file) for {IDENTITY_ENV}"
        )
    existing = _keyring_get(KEYRING_NAME)
    if existing:
        raise KeysError(
            f"the keyring already holds an age identity (public key {recipient_of(existing)}); nothing was changed",
            hint="runs sealed to it open only with it",
        )
    import keyring

    text = new_identity()
    try:
        keyring.set_password("tale", KEYRING_NAME, text)
        kept = keyring.get_password("tale", KEYRING_NAME)
    except Exception as error:
        raise KeysError(f"the keyring refused the identity ({type(error).__name__})") from None
    if kept != text:
        raise KeysError("the keyring did not keep the identity", hint=f"write it to a file (--file) for {IDENTITY_ENV}")
    return StoredIdentity(recipient_of(text), "keyring (service tale)")


def recipient_of(secret: str) -> str:
    return str(_pyrage().x25519.Identity.from_str(secret).to_public())


def read_info(root: Path) -> SealInfo | None:
    """The run's seal.json; None for a folder that is not sealed."""
    path = root / SEAL_FILE
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SealInfo(recipient=str(data["recipient"]), media=data.get("media") is True)
    except (OSError, ValueError, KeyError, TypeError):
        raise KeysError(f"{path} is damaged: cannot tell whom the run is sealed to") from None


class Seal:
    """One sealed run folder's lock and key: seals bytes to its recipient, opens them with the identity (checked
    against the recipient before anything is read, so a wrong identity is one error and touches nothing)."""

    def __init__(self, root: Path, info: SealInfo) -> None:
        self.root = root
        self.info = info
        self._recipient: Any = None

    def check(self) -> x25519.Identity:
        """The identity, when it is the one this run is sealed to."""
        found = identity()
        if str(found.to_public()) != self.info.recipient:
            raise KeysError(f"the age identity does not open {self.root} (it is sealed to another key)", hint=_HINT)
        return found

    def seal(self, data: bytes) -> bytes:
        pyrage = _pyrage()
        if self._recipient is None:
            self._recipient = pyrage.x25519.Recipient.from_str(self.info.recipient)
        return bytes(pyrage.encrypt(data, [self._recipient]))

    def open(self, data: bytes, name: str) -> bytes:
        """Sealed bytes of the file `name` opened in memory; the read goes to the audit log."""
        key = self.check()
        try:
            plain = bytes(_pyrage().decrypt(data, [key]))
        except Exception:
            raise KeysError(f"{self.root / name} cannot be opened with this age identity", hint=_HINT) from None
        self.record_read(name)
        return plain

    def seal_line(self, line: bytes) -> bytes:
        return LINE_PREFIX + base64.b64encode(self.seal(line)) + b"\n"

    def open_lines(self, raw: bytes, name: str) -> list[bytes]:
        """The lines of a log, sealed lines opened (a torn or damaged one dropped); one audit line for the read."""
        key = self.check()
        pyrage = _pyrage()
        lines: list[bytes] = []
        sealed = False
        for line in raw.splitlines():
            if not line.startswith(LINE_PREFIX):
                lines.append(line)
                continue
            sealed = True
            with contextlib.suppress(binascii.Error, ValueError, pyrage.DecryptError):
                lines.append(bytes(pyrage.decrypt(base64.b64decode(line[len(LINE_PREFIX) :], validate=True), [key])))
        if sealed:
            self.record_read(name)
        return lines

    def record_read(self, name: str) -> None:
        """One plain line in the audit log for a read of the sealed file `name`: when, who, which file (no words)."""
        try:
            user = getpass.getuser()
        except Exception:
            user = "unknown"
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "user": user,
                 "host": socket.gethostname(), "event": "read", "file": name}  # fmt: skip
        path = self.root / AUDIT_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as error:
            raise OutputError(f"cannot write the audit log {path}: {error.strerror}") from None
        with os.fdopen(fd, "ab") as handle:
            handle.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))


def seal_of(root: Path) -> Seal | None:
    """The seal of a sealed run folder; None for a plain one."""
    info = read_info(root)
    return Seal(root, info) if info is not None else None


def is_sealed(data: bytes) -> bool:
    return data.startswith(AGE_HEADER)


def _sealed_root(path: Path) -> Path | None:
    for folder in list(path.parents)[:4]:
        if (folder / SEAL_FILE).is_file():
            return folder
    return None


def open_bytes(path: Path, data: bytes) -> bytes:
    """A run folder file's bytes as they read in the clear: a sealed file opened with the identity of the run it is
    in (KeysError when there is none, or the wrong one)."""
    if not is_sealed(data):
        return data
    root = _sealed_root(path)
    if root is None:
        raise KeysError(f"{path} is sealed, and no seal.json above it says whom to", hint="give the whole run folder")
    seal = seal_of(root)
    assert seal is not None
    return seal.open(data, path.relative_to(root).as_posix())


def read_bytes(path: Path) -> bytes:
    """`path`'s bytes, opened when it is sealed (see `open_bytes`)."""
    return open_bytes(path, path.read_bytes())


def read_lines(path: Path, raw: bytes) -> list[bytes]:
    """A log's lines in the clear (jobs.jsonl, audit.jsonl); sealed lines need the run's identity."""
    if LINE_PREFIX not in raw:
        return raw.splitlines()
    root = _sealed_root(path)
    seal = seal_of(root) if root is not None else None
    if seal is None:
        raise KeysError(f"{path} has sealed lines, and no seal.json above it says whom to")
    return seal.open_lines(raw, path.relative_to(seal.root).as_posix())


# ---------------------------------------------------------------- converting a run folder in place


def _text_files(root: Path, *, media: bool = False) -> list[Path]:
    """The files of a run folder that hold the story's words: whole files by suffix, and the two logs; with `media`,
    its media files too."""
    suffixes = SEALED_SUFFIXES + MEDIA_SUFFIXES if media else SEALED_SUFFIXES
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(current) / d).is_symlink())
        for name in sorted(files):
            path = Path(current) / name
            if path.is_symlink() or name == SEAL_FILE or name.endswith((".part", ".job.json")):
                continue  # a Ray job's record is read by the workers as it is; it holds ids, not words
            if name.lower().endswith(suffixes) or (Path(current) == root and name in SEALED_LOGS):
                found.append(path)
    return found


def media_sealed(root: Path) -> bool:
    """Whether a run folder keeps its media sealed as well (`--seal-media`)."""
    info = read_info(root)
    return info is not None and info.media


def is_sealed_file(path: Path) -> bool:
    """Whether the file at `path` is a whole age file (read from its first bytes only)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(AGE_HEADER)) == AGE_HEADER
    except OSError:
        return False


def memory_file(data: bytes, name: str) -> int:
    """A file in memory (memfd) holding `data`, read by a child process as /dev/fd/N: opened media reach ffmpeg
    without a copy in the clear on any disk. The caller closes the descriptor."""
    if not hasattr(os, "memfd_create"):
        raise OutputError("a sealed run's media are opened in memory, which this system cannot do (Linux can)")
    fd = os.memfd_create(name)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def media_seal(path: Path) -> Seal | None:
    """The seal a media file written at `path` is sealed with as it is made: that of the media-sealed run it is in
    (its work folders too); None elsewhere."""
    root = _sealed_root(path)
    if root is None:
        return None
    info = read_info(root)
    return Seal(root, info) if info is not None and info.media else None


def place_media(part: Path, target: Path) -> None:
    """A finished `part` file moved into place at `target` (a rename); in a media-sealed run it is sealed on the way,
    so what a backend wrote in the clear is on disk only until it has finished writing it."""
    seal = media_seal(target)
    if seal is None or is_sealed_file(part):
        os.replace(part, target)
        return
    from tale_cli.files import atomic_write_bytes

    data, mode = part.read_bytes(), part.stat().st_mode & 0o777
    atomic_write_bytes(target, seal.seal(data), mode=mode)  # by way of the same `.part` name, when it is `part`
    part.unlink(missing_ok=True)


def sealed_if_media(path: Path, data: bytes) -> bytes:
    """The bytes to write at `path`: sealed when it is in a media-sealed run, so it is never on disk in the clear."""
    seal = media_seal(path)
    return seal.seal(data) if seal is not None else data


@contextlib.contextmanager
def clear_path(path: Path) -> Iterator[Path]:
    """`path` as any reader takes it (Pillow, wave, an mmap): a sealed file (a media-sealed run) opened into a file
    in memory and named /proc/self/fd/N while the block runs, never a copy on a disk; any other file as itself."""
    if not is_sealed_file(path):
        yield path
        return
    fd = memory_file(read_bytes(path), path.name)
    try:
        yield Path(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _rewrite(path: Path, data: bytes) -> None:
    from tale_cli.files import atomic_write_bytes

    atomic_write_bytes(path, data, mode=path.stat().st_mode & 0o777)


def _relinked(path: Path, done: dict[tuple[int, int], Path]) -> bool:
    """A hard link of a file already converted in this pass (a clip and its cached copy are one file): `path` made
    a link to the converted one, atomically, so the pair stays one file on disk. False for a file seen first."""
    info = path.stat()
    key = (info.st_dev, info.st_ino)
    converted = done.get(key)
    if converted is None:
        if info.st_nlink > 1:
            done[key] = path
        return False
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    try:
        os.link(converted, part)
    except OSError:
        return False
    os.replace(part, path)
    return True


def _is_read_line(line: bytes) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and entry.get("event") == "read"


@dataclass(frozen=True)
class Converted:
    """What a conversion changed: the files it sealed or opened, and whether the folder was so already."""

    root: Path
    files: list[str]
    sealed: bool  # the folder as it is now
    already: bool  # it was already so: nothing was changed


def seal_folder(root: Path, *, media: bool = False) -> Converted:
    """Seal a run folder in place: seal.json first (to the identity's recipient), then each file atomically (a stopped
    conversion is finished by running it again; readers take sealed and plain files alike). A plain review page is
    removed: a sealed run's page is only served (`tale review --serve`). With `media` (or in a run whose seal.json
    says so) its media are sealed too. A wrong or missing identity changes nothing."""
    info = read_info(root)
    was_sealed = info is not None
    key = identity()
    recipient = str(key.to_public())
    if info is not None and info.recipient != recipient:
        Seal(root, info).check()  # the wrong identity: one clear error, nothing touched
    changed: list[str] = []
    if info is None or (media and not info.media):
        from tale_cli.files import atomic_write_text

        info = SealInfo(recipient, media=media or (info is not None and info.media))
        atomic_write_text(root / SEAL_FILE, info.to_json())
        if was_sealed:
            changed.append(SEAL_FILE)
    seal = Seal(root, info)
    linked: dict[tuple[int, int], Path] = {}
    for path in _text_files(root, media=info.media):
        if not (path.name in SEALED_LOGS and path.parent == root) and is_sealed_file(path):
            continue  # sealed already (a film is not read whole to tell)
        raw = path.read_bytes()
        if path.name in SEALED_LOGS and path.parent == root:
            out: list[bytes] = []
            for line in raw.splitlines():
                kept = line.startswith(LINE_PREFIX) or (path.name == "audit.jsonl" and _is_read_line(line))
                if line.strip():
                    out.append(line + b"\n" if kept else seal.seal_line(line))
            if out == [line + b"\n" for line in raw.splitlines() if line.strip()]:
                continue
            _rewrite(path, b"".join(out))
        elif not is_sealed(raw):
            if not _relinked(path, linked):
                _rewrite(path, seal.seal(raw))
        else:
            continue
        changed.append(path.relative_to(root).as_posix())
    page = root / "review.html"
    if page.is_file() and not page.is_symlink():
        page.unlink()
        changed.append(page.name)
    return Converted(root, changed, sealed=True, already=was_sealed and not changed)


def unseal_folder(root: Path) -> Converted:
    """Open a sealed run folder in place: each file atomically, seal.json last (so a stopped conversion still reads,
    and running it again finishes it). A wrong or missing identity changes nothing."""
    seal = seal_of(root)
    if seal is None:
        return Converted(root, [], sealed=False, already=True)
    seal.check()
    changed: list[str] = []
    linked: dict[tuple[int, int], Path] = {}
    for path in _text_files(root, media=True):
        if not (path.name in SEALED_LOGS and path.parent == root) and not is_sealed_file(path):
            continue
        raw = path.read_bytes()
        name = path.relative_to(root).as_posix()
        if path.name in SEALED_LOGS and path.parent == root:
            if LINE_PREFIX not in raw:
                continue
            _rewrite(path, b"".join(line + b"\n" for line in seal.open_lines(raw, name)))
            if path.name == AUDIT_FILE:
                seal.record_read(name)  # the line for this very read went to the file just replaced
        elif is_sealed(raw):
            if not _relinked(path, linked):
                _rewrite(path, seal.open(raw, name))
        else:
            continue
        changed.append(name)
    (root / SEAL_FILE).unlink()
    return Converted(root, changed, sealed=False, already=False)
