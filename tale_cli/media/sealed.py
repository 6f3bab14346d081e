"""ffmpeg and a media-sealed run (tale_cli.keys.seal): a sealed input reaches ffmpeg as a copy opened in memory
(memfd, read as /dev/fd/N), and an output is written to memory and sealed into place when ffmpeg is done, so no clip,
picture or sound of such a run is ever on a disk in the clear."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

_opened = threading.local()  # the in-memory copies opened for the next ffmpeg this thread runs
_OUTPUT_FORMATS = {".mp4": "mp4", ".m4a": "ipod", ".mov": "mov", ".wav": "wav", ".png": "image2", ".jpg": "image2"}


def opened_input(path: Path) -> str:
    """The argument naming a file ffmpeg reads: a sealed file as a copy opened in memory, /dev/fd/N, handed to the
    next ffmpeg this thread runs and closed after it; any other file as itself (absolute: never taken for an option
    or a protocol)."""
    from tale_cli.keys.seal import is_sealed_file, memory_file, read_bytes

    if not is_sealed_file(path):
        return str(path if path.is_absolute() else Path.cwd() / path)
    fd = memory_file(read_bytes(path), path.name)
    _pending_fds().append(fd)
    return f"/dev/fd/{fd}"


def _pending_fds() -> list[int]:
    if not hasattr(_opened, "fds"):
        _opened.fds = []
    fds: list[int] = _opened.fds
    return fds


@contextlib.contextmanager
def opened_fds() -> Iterator[list[int]]:
    """The descriptors opened_input made for this ffmpeg run, closed when it ends."""
    fds = _pending_fds()
    try:
        yield fds
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        fds.clear()


@contextlib.contextmanager
def sealed_output(args: Sequence[str]) -> Iterator[tuple[list[str], list[int]]]:
    """ffmpeg's arguments and the descriptors it must inherit: for an output file (the last argument) in a
    media-sealed run, a memfd in its stead (as /dev/fd/N, its format named), sealed into place when the block ends
    without an error; any other output as it is."""
    if not args or not args[-1].startswith("/") or args[-1].startswith(("/dev/", "/proc/")):
        yield list(args), []
        return
    output = Path(args[-1])
    formats = [_OUTPUT_FORMATS[suffix] for suffix in output.suffixes if suffix in _OUTPUT_FORMATS]
    from tale_cli.keys.seal import media_seal, memory_file

    seal = media_seal(output) if formats and hasattr(os, "memfd_create") else None
    if seal is None:
        yield list(args), []
        return
    named = len(args) >= 3 and args[-3] == "-f"
    fd = memory_file(b"", output.name)
    try:
        yield [*args[:-1], *([] if named else ["-f", formats[-1]]), f"/dev/fd/{fd}"], [fd]
        from tale_cli.files import atomic_write_bytes

        atomic_write_bytes(output, seal.seal(Path(f"/proc/self/fd/{fd}").read_bytes()), mode=0o666)
    finally:
        os.close(fd)
