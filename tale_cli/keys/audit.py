"""The run's audit log: one JSON line per inference request in `audit.jsonl`, never a key.

Each line says when, who (user and host), which role/backend/model, which shot, the prompt's SHA-256
(the prompt itself only when the recipe sets `audit_prompts = true`), the outcome and the billed units. In a sealed
run (tale_cli.keys.seal) each request's line is sealed, and every read of a sealed file adds a plain line
(`"event": "read"`, the file's name) that says who read what and when.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.errors import InputError, OutputError
from tale_cli.keys.redact import redact

if TYPE_CHECKING:
    from tale_cli.backends.base import RenderResult

AUDIT_FILE = "audit.jsonl"
# A backend that retries inside one request lists its failed attempts in RenderResult.notes under this key
# (dicts with "outcome" and "error"); the pipeline writes one audit line for each, then one for the request.
ATTEMPTS_NOTE = "attempts"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


_deferred: dict[Path, list[str]] = {}
_deferred_lock = threading.Lock()


class AuditLog:
    """Appends audit records to `run_dir/audit.jsonl`; safe to share between threads."""

    def __init__(self, run_dir: Path, *, audit_prompts: bool) -> None:
        self.path = Path(run_dir) / AUDIT_FILE
        self.audit_prompts = audit_prompts
        self._lock = threading.Lock()
        self._user = _user()
        self._host = socket.gethostname()

    def record(
        self,
        *,
        role: str,
        backend: str,
        model: str,
        shot: int | None,
        prompt: str,
        outcome: str,
        billed_units: float | None = None,
        unit: str | None = None,
        cost_usd: float | None = None,
        attempt: int = 1,
        job_id: str | None = None,
        duration_s: float | None = None,
        error: str | None = None,
        character: str | None = None,
        defer: bool = False,
    ) -> dict[str, Any]:
        """Append one request's line; returns what was written. `error` is redacted before it is kept.

        With `defer=True` the line is held in memory until `write_deferred` for the same run folder, replacing
        any line held before: for a local planning made before the run folder may be written (a render
        refused afterwards leaves no trace of a request that never left the machine).
        """
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "user": self._user,
            "host": self._host,
            "role": role,
            "backend": backend,
            "model": model,
            "shot": shot,
            "character": character,
            "attempt": attempt,
            "prompt_sha256": prompt_sha256(prompt),
            "outcome": outcome,
            "billed_units": billed_units,
            "unit": unit,
            "cost_usd": cost_usd,
            "job_id": job_id,
            "duration_s": None if duration_s is None else round(duration_s, 3),
        }
        if error:
            entry["error"] = redact(error)[:500]
        if self.audit_prompts:
            entry["prompt"] = redact(prompt)
        line = json.dumps({k: v for k, v in entry.items() if v is not None}, ensure_ascii=False) + "\n"
        if defer:
            with _deferred_lock:
                _deferred[self.path.resolve()] = [line]
            return entry
        with self._lock:
            self._append(line)
        return entry

    def write_deferred(self) -> int:
        """Write the lines held back with `defer=True` for this run folder; returns how many."""
        with _deferred_lock:
            lines = _deferred.pop(self.path.resolve(), [])
        with self._lock:
            for line in lines:
                self._append(line)
        return len(lines)

    def _append(self, line: str) -> None:
        from tale_cli.keys.seal import seal_of

        seal = seal_of(self.path.parent)
        data = seal.seal_line(line.encode("utf-8")) if seal is not None else line.encode("utf-8")
        _append_bytes(self.path, data)


def _append_bytes(path: Path, data: bytes) -> None:
    """One append to the audit log; O_NOFOLLOW: a symlink planted as audit.jsonl is refused, not written through."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as error:
        raise OutputError(
            f"cannot write the audit log {path}: {error.strerror}",
            hint="a symlink or unwritable file is in the run folder; remove it" if path.is_symlink() else None,
        ) from None
    with os.fdopen(fd, "ab") as handle:
        handle.write(data)


@dataclass(frozen=True)
class AuditSummary:
    entries: list[dict[str, Any]]
    requests: int
    failed: int
    cost_usd: float
    reads: list[dict[str, Any]] = field(default_factory=list)  # reads of a sealed run's files


def read_audit(run_dir: Path) -> AuditSummary:
    """The audit log of a run folder (or the audit.jsonl file itself), one dict per request."""
    run_dir = Path(run_dir)
    path = run_dir if run_dir.name == AUDIT_FILE or run_dir.is_file() else run_dir / AUDIT_FILE
    if not path.exists():
        raise InputError(f"no audit log at {path}", hint="pass a run folder that `tale render` wrote")
    from tale_cli.keys.seal import read_lines

    entries: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    try:
        for number, line in enumerate(read_lines(path, path.read_bytes()), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line.decode("utf-8"))
            except json.JSONDecodeError:
                raise InputError(f"{path}: line {number} is not JSON") from None
            if not isinstance(entry, dict):
                raise InputError(f"{path}: line {number} is not a JSON object")
            (reads if entry.get("event") == "read" else entries).append(entry)
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    failed = sum(1 for entry in entries if entry.get("outcome") != "ok")
    cost = sum(float(entry.get("cost_usd") or 0) for entry in entries)
    return AuditSummary(entries, len(entries), failed, round(cost, 4), reads)


def audit_request(
    audit: AuditLog | None,
    role: str,
    backend: str,
    shot: int | None,
    prompt: str,
    result: RenderResult | None,
    started: float,
    *,
    error: BaseException | None = None,
    character: str | None = None,
) -> None:
    """One audit line per request; a backend's retried attempts (RenderResult.notes["attempts"]) come first."""
    if audit is None:
        return
    same: dict[str, Any] = {"role": role, "backend": backend, "shot": shot, "prompt": prompt, "character": character}
    model = result.model if result is not None else ""
    attempts = result.notes.pop(ATTEMPTS_NOTE, []) if result is not None else []
    attempts = attempts if isinstance(attempts, list) else []
    for number, attempt in enumerate(attempts, start=1):
        failed = attempt if isinstance(attempt, dict) else {}
        outcome = str(failed.get("outcome", "retry"))
        audit.record(**same, model=model, attempt=number, outcome=outcome, error=str(failed.get("error", "")) or None)
    units, unit = None, None
    if result is not None and result.billed_seconds is not None:
        units, unit = result.billed_seconds, "seconds"
    elif result is not None and result.billed_credits is not None:
        units, unit = result.billed_credits, "credits"
    audit.record(
        **same,
        model=model,
        attempt=len(attempts) + 1,
        outcome="ok" if error is None else "error",
        billed_units=units,
        unit=unit,
        cost_usd=result.cost_usd if result is not None else None,
        job_id=result.provider_job_id if result is not None else None,
        duration_s=time.monotonic() - started,
        error=None if error is None else getattr(error, "message", None) or str(error) or type(error).__name__,
    )
