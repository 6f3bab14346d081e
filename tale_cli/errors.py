"""One error family for everything Tale refuses or fails at, each with an exit code and a hint."""

from __future__ import annotations

import signal
from collections.abc import Iterable
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Process exit codes, documented in the README's exit-code table."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    INPUT = 3
    PLAN = 4
    RECIPE = 5
    OUTPUT = 6
    BACKEND = 7
    SHOTS_FAILED = 8
    BUDGET = 9
    KEYS = 10
    PRIVACY = 11
    MISSING_DEPENDENCY = 12
    BUSY = 13
    CREDENTIALS = 14
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


class Interrupted(KeyboardInterrupt):
    """A stop asked for by a signal: Ctrl-C (SIGINT), `kill` (SIGTERM) or a closed terminal (SIGHUP).

    A KeyboardInterrupt, so every place that already stops cleanly on Ctrl-C stops the same way on all three;
    the exit code is the shell's 128 + the signal's number (130, 143, 129).
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class TaleError(Exception):
    """An error the user can act on: one line of message and an optional hint."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(TaleError):
    """A story, clip or other input file that cannot be used."""

    exit_code = ExitCode.INPUT


class PlanError(TaleError):
    """A plan.json that does not validate."""

    exit_code = ExitCode.PLAN


class RecipeError(TaleError):
    """A recipe or config that does not exist or does not validate."""

    exit_code = ExitCode.RECIPE


class OutputError(TaleError):
    """An output folder that cannot be written."""

    exit_code = ExitCode.OUTPUT


class BackendError(TaleError):
    """A backend that failed in a way no retry fixes."""

    exit_code = ExitCode.BACKEND


class ShotsFailedError(TaleError):
    """A render that finished with one or more failed shots."""

    exit_code = ExitCode.SHOTS_FAILED


class BudgetError(TaleError):
    """A render whose estimate exceeds the allowed budget."""

    exit_code = ExitCode.BUDGET


class KeysError(TaleError):
    """A missing, invalid or unstorable API key."""

    exit_code = ExitCode.KEYS


class PrivacyError(TaleError):
    """A private run that names a backend which would leave the machine."""

    exit_code = ExitCode.PRIVACY


class MissingDependencyError(TaleError):
    """An optional extra that is not installed."""

    exit_code = ExitCode.MISSING_DEPENDENCY


def missing_extra(extra: str, package: str) -> MissingDependencyError:
    """The error for an optional dependency that is not installed."""
    return MissingDependencyError(
        f"{package} is not installed",
        hint=f"pip install 'tale-cli[{extra}]'",
    )


class BusyError(TaleError):
    """A run folder another command is writing (`--no-wait`); the message names its pid."""

    exit_code = ExitCode.BUSY


class CredentialsError(TaleError):
    """A film whose Content Credentials are missing, or no longer match its bytes (`tale verify`)."""

    exit_code = ExitCode.CREDENTIALS


class ShotRefusedError(BackendError):
    """A provider that refused to render a shot (safety filter); the message carries its reason."""


class QuotaError(BackendError):
    """A provider that keeps answering 'too many requests' or 'out of credits' after every retry."""


class PollTimeoutError(BackendError):
    """A paid job that did not finish in time; it stays recorded, so running again resumes it."""


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """`; did you mean 'preview'?` for the valid name closest to a mistyped one; empty when none is close."""
    import difflib

    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def describe_validation_error(error: Any) -> str:
    """The first problem of a pydantic error as `field.path: message`."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first.get("loc", ())) or "plan"
    return f"{location}: {first.get('msg', 'invalid value')}"
