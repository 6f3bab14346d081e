"""An error raised in a worker (a process or a Ray actor), packed to cross over and rebuilt in the driver."""

from __future__ import annotations

import contextlib
import importlib

from tale_cli.errors import BackendError, TaleError

# (module, class name, message, hint): plain strings pickle everywhere, unlike some SDKs' exception classes.
PackedError = tuple[str, str, str, str | None]


def pack_error(error: BaseException) -> PackedError:
    # TaleErrors and some SDK errors carry a message and a hint of their own; other exceptions only their text.
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return type(error).__module__, type(error).__qualname__, message, getattr(error, "hint", None)


def unpack_error(packed: PackedError, where: str) -> TaleError:
    """The same TaleError class again, or a BackendError that says what was raised and on which worker."""
    module_name, class_name, message, hint = packed
    with contextlib.suppress(ImportError, AttributeError):
        cls = getattr(importlib.import_module(module_name), class_name)
        if isinstance(cls, type) and issubclass(cls, TaleError):
            return cls(message, hint=hint)
    return BackendError(f"{class_name} on {where}: {message}", hint=hint)
