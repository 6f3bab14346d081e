"""One writer per run folder: an OS lock on `.lock` in the folder, held while a command writes it.

Two `tale render` of one folder would each pay for every shot and overwrite each other's `*.part`
files. The lock is `flock` on a file in the run folder, so the kernel drops it when its process ends
however it ends (`kill -9` included): a lock file left behind never blocks anyone. The holder writes
its pid and what it is doing into the file, for the message the next command shows while it waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tale_cli.errors import BusyError, OutputError
from tale_cli.run.folder import RunFolder

LOCK_NAME = ".lock"
POLL_S = 0.2
# How long to wait for a holder that has just taken the lock to write its pid.
HOLDER_WRITE_S = 1.0


def lock_path(folder: RunFolder) -> Path:
    return folder.root / LOCK_NAME


@contextmanager
def run_folder_lock(
    folder: RunFolder, doing: str, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the run folder for this process while the block runs; `doing` ("rendering") tells others why.

    Another holder makes this wait (saying so once per holder through `on_wait`) or, with `wait=False`,
    raise BusyError at once. Folders created only to hold the lock are removed again if nothing else was
    written in them, so a command that stops early (a missing key) leaves nothing behind.
    """
    folder.check_writable()
    created: list[Path] = []
    fd = _acquire(folder, doing, wait=wait, on_wait=on_wait, created=created)
    try:
        yield
    finally:
        # Unlinked while still held: a command waiting on this file sees it gone and opens the new one.
        with contextlib.suppress(OSError):
            lock_path(folder).unlink()
        os.close(fd)
        for path in reversed(created):
            try:
                path.rmdir()
            except OSError:
                break


def _acquire(
    folder: RunFolder, doing: str, *, wait: bool, on_wait: Callable[[str], None] | None, created: list[Path]
) -> int:
    announced: tuple[int, str] | None = None
    while True:
        fd = _open(folder, created)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd, settle=not wait)
            os.close(fd)
            pid, what = holder or (0, "writing")
            who = f"pid {pid}" if pid else "another command"
            if not wait:
                raise BusyError(
                    f"{who} is {what} {folder.root}; nothing was done",
                    hint="run the command again once it has finished, or leave out --no-wait to wait for it",
                ) from None
            if holder is not None and holder != announced and on_wait is not None:
                on_wait(f"waiting for {who}, which is {what} this run folder…")
                announced = holder
            time.sleep(POLL_S)
            continue
        if _still_linked(fd, lock_path(folder)):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {doing}\n".encode(), 0)
            return fd
        # The holder before us unlinked this file as it let go; the next command locks a new one.
        os.close(fd)


def _open(folder: RunFolder, created: list[Path]) -> int:
    """The lock file, opened (and its folder made) afresh: a holder that finished may have removed both."""
    while True:
        _make_folders(folder, created)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(lock_path(folder), flags, folder.file_mode)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise OutputError(f"cannot open {lock_path(folder)}: {error.strerror}") from None


def _make_folders(folder: RunFolder, created: list[Path]) -> None:
    while True:
        missing = [path for path in (folder.root, *folder.root.parents) if not path.exists()]
        try:
            for path in reversed(missing):
                try:
                    path.mkdir(mode=0o700 if folder.private else 0o755)
                except FileExistsError:
                    continue
                if path not in created:
                    created.append(path)
            return
        except FileNotFoundError:
            # A holder letting go removed a parent it had made, between our look and our mkdir: look again.
            continue
        except OSError as error:
            raise OutputError(f"cannot create {folder.root}: {error.strerror}") from None


def _still_linked(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _holder(fd: int, *, settle: bool) -> tuple[int, str] | None:
    """(pid, what it is doing) as the holder wrote them; None while it has not written them yet."""
    deadline = time.monotonic() + (HOLDER_WRITE_S if settle else 0.0)
    while True:
        pid, _, what = os.pread(fd, 200, 0).decode("utf-8", "replace").strip().partition(" ")
        if pid.isdigit():
            return int(pid), what or "writing"
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)
