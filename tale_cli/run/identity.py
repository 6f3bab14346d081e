"""File identity: what a finished file of a run is (size and SHA-256), whether it still is, and where a verified
copy of it can be found again.

Every file a run paid for or derived — shots, takes, references, voice clips, the voice track, music, the film — is
recorded with `file_record` when made and checked with `file_damage` before use.
"""

from __future__ import annotations

import functools
import hashlib
import stat
from collections.abc import Iterable
from pathlib import Path

from tale_cli.files import link_or_copy
from tale_cli.record import FileRecord


def file_digest(path: Path) -> str:
    """The SHA-256 of a file as it reads in the clear (a sealed one opened in memory: a cache key stays the same when
    a run's media are sealed)."""
    from tale_cli.keys.seal import is_sealed_file, read_bytes

    if is_sealed_file(path):
        return hashlib.sha256(read_bytes(path)).hexdigest()
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


@functools.lru_cache(maxsize=256)
def _facts_of(path: str, size: int, mtime_ns: int, inode: int) -> tuple[int, str]:
    """The size and SHA-256 of a file as it reads in the clear: a sealed one (a media-sealed run) is opened in memory,
    so its record is the same before and after sealing. A render checks each cached file twice (before spending,
    then before use): each is read once."""
    from tale_cli.keys.seal import is_sealed_file, read_bytes

    if is_sealed_file(Path(path)):
        plain = read_bytes(Path(path))
        return len(plain), hashlib.sha256(plain).hexdigest()
    return size, file_digest(Path(path))


def file_record(path: Path) -> FileRecord:
    """What a finished file is: its size and SHA-256, recorded to tell later that it is still the same file."""
    info = path.stat()
    size, sha = _facts_of(str(path), info.st_size, info.st_mtime_ns, info.st_ino)
    return FileRecord(size=size, sha256=sha)


def file_damage(path: Path, known: FileRecord) -> str | None:
    """Why `path` is no longer the file `known` describes, or None when it is."""
    try:
        info = path.lstat()
    except OSError:
        return "it is gone"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a plain file"
    size, sha = _facts_of(str(path), info.st_size, info.st_mtime_ns, info.st_ino)
    if size != known.size:
        return f"{size} bytes where {known.size} were written"
    if sha != known.sha256:
        return "its content changed after it was written"
    return None


def find_verified(known: FileRecord, places: Iterable[Path]) -> Path | None:
    """The first of `places` that holds exactly the file `known` describes (a plain file of its size and digest)."""
    for place in places:
        if file_damage(place, known) is None:
            return place
    return None


def restore(target: Path, known: FileRecord, places: Iterable[Path]) -> str | None:
    """Make `target` the file `known` describes again, from a verified copy among `places` (hard-linked, else copied).

    None when `target` is (now) that file; else why it is not, and could not be found anywhere."""
    damage = file_damage(target, known)
    if damage is None:
        return None
    source = find_verified(known, (place for place in places if place != target))
    if source is None:
        return damage
    link_or_copy(source, target)
    return None if file_damage(target, known) is None else damage
