"""The job journal of one paid item — a shot or a character's reference — for one set of parameters.

A provider job's id is recorded the moment the provider accepts it: in jobs.jsonl first (one small fsynced append, so
a kill right after the answer still leaves it), then in the manifest. A render that finds a job of the same
parameters — its own, one killed before the manifest was saved, or one of an edit undone — polls that job again
instead of paying for a new one."""

from __future__ import annotations

from typing import Any

from tale_cli.files import now_iso
from tale_cli.run.folder import Manifest


class JobJournal:
    """Where the backend asks for an earlier job of its parameters and records the one it starts."""

    def __init__(
        self, manifest: Manifest, params_hash: str, *, shot: int | None = None, ref: str | None = None
    ) -> None:
        if (shot is None) == (ref is None):
            raise ValueError("a job journal is for one shot or one reference")
        self.manifest = manifest
        self.params_hash = params_hash
        self.shot = shot
        self.ref = ref

    def existing_job(self) -> dict[str, Any] | None:
        entry = self.manifest.shot(self.shot) if self.shot is not None else self.manifest.ref(self.ref or "")
        job = entry.job
        if job is not None and job.get("params_hash") == self.params_hash:
            return job
        # Not in the manifest: killed before it was saved, rebuilt without it, or made earlier with these parameters
        # (an edit undone) and perhaps still held by the provider.
        return self.manifest.journal.job_for(self.params_hash)

    def record_job(self, job: dict[str, Any]) -> None:
        recorded = {**job, "params_hash": self.params_hash}
        if self.shot is not None:
            self.manifest.record_shot_job(self.shot, {**recorded, "recorded_at": now_iso()})
        else:
            self.manifest.record_ref_job(self.ref or "", recorded)
