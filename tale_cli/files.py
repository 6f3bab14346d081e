"""Files in a run folder written safely: atomic writes that never follow a planted symlink, links, timestamps."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tale_cli.errors import OutputError


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise OutputError(
            f"{path} is a symbolic link; Tale does not write through links in a run folder",
            hint="remove the link and run again",
        )


def find_symlink(root: Path) -> Path | None:
    """The first symbolic link anywhere under `root` (a run folder has none unless someone planted it)."""
    for current, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            if (Path(current) / name).is_symlink():
                return Path(current) / name
    return None


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` via `path.part` and a rename, refusing planted symlinks.

    A folder that cannot be written (read-only, not ours, a folder where the file goes) is an OutputError naming
    `path`; a full disk stays an OSError, one that names the `.part` file, so its folder is the one measured.
    """
    refuse_symlink(path)
    part = path.with_name(path.name + ".part")
    try:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(part, flags, mode)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(part, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(error.errno, error.strerror, error.filename or str(part)) from None
        raise OutputError(
            f"cannot write {path}: {error.strerror or error}",
            hint="make its folder writable, or move what is in the way",
        ) from None


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def link_or_copy(source: Path, target: Path) -> None:
    """`target` as a hard link to `source` (a copy where links are not allowed); a planted link is replaced."""
    if target.is_symlink() or target.exists():
        if not target.is_symlink() and target.samefile(source):
            return
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def digest(data: Any) -> str:
    """The SHA-256 of a JSON-able value: a cache key."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
