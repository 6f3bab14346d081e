"""Tale: turn a written story into a one-minute film from the terminal.

The Python API (tale_cli.api) is importable from here — `tale_cli.render(...)`, `retake`, `pick`, `stitch`,
`finalize` — and loaded only when first used, so that `tale --help` stays quick.
"""

from __future__ import annotations

from typing import Any

from tale_cli.version import __version__

_API = ("render", "retake", "pick", "stitch", "finalize")


def __getattr__(name: str) -> Any:
    if name in _API:
        from tale_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'tale_cli' has no attribute {name!r}")


__all__ = ["__version__", "finalize", "pick", "render", "retake", "stitch"]
