"""Micro-batching: requests that arrive while the model is busy are scored in one runtime call.

Checked applicants of concurrent requests are stacked and scored together (one call's fixed cost
shared), scored and audited in one worker-thread hop; every request gets its rows back with the
model version that scored them.

A request is scored by the model whose contract validated it: the job carries that model, and a
micro-batch only holds jobs of one model. After a swap (possibly to another contract), requests
validated just before it are still scored, framed and audited by the previous model object;
later ones by the new model; no predict call mixes the two.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from quantumfinance.scoring import Checked, score
from quantumfinance.scoring.output import output_json, output_rows
from quantumfinance_serving.audit import AuditError, AuditLog, audit_lineage
from quantumfinance_serving.bodies import Applicants
from quantumfinance_serving.model_store import LoadedModel

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    model: LoadedModel  # the model whose contract checked these applicants
    applicants: Applicants
    request_id: str
    key_id: str
    future: asyncio.Future


@dataclass(frozen=True)
class Scored:
    """One request's results: the JSON text of each (in request order), its decisions."""

    model: LoadedModel
    results_json: list[str]
    bands: list[str]
    decisions: list[str]


FEW_ROWS = 64  # results up to which Python dicts + msgspec beat Arrow's string kernels


def _results_json(model: LoadedModel, scored: Any) -> list[str]:
    """Each applicant's result as JSON text, encoded once for the whole micro-batch."""
    if len(scored) <= FEW_ROWS:
        return [msgspec.json.encode(r).decode() for r in output_rows(model.scoring, scored)]
    return output_json(model.scoring, scored).to_pylist()


def _stacked(jobs: list[_Job]) -> Checked:
    if len(jobs) == 1:
        return jobs[0].applicants.checked
    parts = [job.applicants.checked for job in jobs]
    return Checked(
        np.concatenate([p.slots for p in parts]), np.concatenate([p.numbers for p in parts])
    )


class MicroBatcher:
    """One consumer task; a batch holds the jobs (of one model) queued while the previous ran."""

    def __init__(
        self, audit: AuditLog, max_rows: int, on_audit_failure: Callable[[], None] = lambda: None
    ) -> None:
        self.audit = audit
        self.max_rows = max_rows
        self.on_audit_failure = on_audit_failure
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def score(
        self, model: LoadedModel, applicants: Applicants, request_id: str, key_id: str
    ) -> Scored:
        """Queue applicants validated by ``model``; resolves when it has scored and audited them."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(model, applicants, request_id, key_id, future))
        return await future

    async def _consume(self) -> None:
        held: _Job | None = None  # of another model than the batch before it: leads the next
        while True:
            first = held or await self._queue.get()
            held = None
            jobs, rows = [first], len(first.applicants)
            while not self._queue.empty() and rows < self.max_rows:
                job = self._queue.get_nowait()
                if job.model is not first.model:
                    held = job
                    break
                jobs.append(job)
                rows += len(job.applicants)
            try:
                outcome = await asyncio.to_thread(self._score_and_audit, jobs)
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the error
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job, scored in zip(jobs, outcome, strict=True):
                if not job.future.done():
                    job.future.set_result(scored)

    def _score_and_audit(self, jobs: list[_Job]) -> list[Scored]:
        model = jobs[0].model  # one model per micro-batch (see _consume)
        scored = score(model.scoring, _stacked(jobs))
        results = _results_json(model, scored)
        policy = model.scoring.policy
        bands = [policy.bands[b] for b in scored.band.tolist()]
        decisions = [policy.decisions[b] for b in scored.band.tolist()]
        pds, scores = scored.pd.tolist(), scored.score.tolist()
        now = dt.datetime.now(dt.UTC).isoformat()
        identity = model.identity
        common = {
            "model_name": identity.name,
            "model_version": identity.version,
            **audit_lineage(model),
        }
        records, outcome, start = [], [], 0
        for job in jobs:
            end = start + len(job.applicants)
            for row, applicant in enumerate(job.applicants.rows):
                at = start + row
                records.append(
                    {
                        "request_id": job.request_id,
                        "row": row,
                        "key_id": job.key_id,
                        **common,
                        "input_sha256": model.input_hash(applicant),
                        "pd": pds[at],
                        "score": scores[at],
                        "band": bands[at],
                        "decision": decisions[at],
                        "decided_at": now,
                    }
                )
            outcome.append(
                Scored(model, results[start:end], bands[start:end], decisions[start:end])
            )
            start = end
        try:
            self.audit.append(records)  # AuditError: no decision leaves unrecorded
        except AuditError:
            self.on_audit_failure()
            raise
        return outcome
