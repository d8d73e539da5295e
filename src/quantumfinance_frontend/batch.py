"""Batch scoring through the API in chunks, keeping every row accounted for.

A row is either scored or listed with the field the API (or the client-side check) rejected:
nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from quantumfinance_frontend.api_client import ApiError, ScoringClient, ValidationFailed
from quantumfinance_frontend.applicant_fields import RowProblem

DEFAULT_CHUNK_SIZE = 1_000
RESULT_COLUMNS = ("pd", "score", "band", "decision", "reason_codes")


@dataclass
class BatchOutcome:
    """Scored rows by position in the uploaded file, problems the API reported, model seen."""

    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    error: ApiError | None = None  # why scoring stopped early (rate limit, API down, ...)
    unscored: list[int] = field(default_factory=list)  # positions not sent because of `error`


def chunks(items: Sequence[Any], size: int) -> list[range]:
    """Index ranges of at most `size` items."""
    return [range(start, min(start + size, len(items))) for start in range(0, len(items), size)]


def batch_results(body: Any) -> list[dict[str, Any]]:
    """The per-applicant results of a batch response, in request order."""
    if isinstance(body, list):
        return body
    for key in ("results", "scores", "predictions", "items"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return body[key]
    raise ValueError("the batch response holds no list of results")


def _score_chunk(
    client: ScoringClient, positions: list[int], payloads: list[dict], outcome: BatchOutcome
) -> None:
    """Score one chunk; rows the API rejects are reported and the rest re-sent once."""
    try:
        body = client.score_batch(payloads)
    except ValidationFailed as error:
        bad = {e.row for e in error.errors if e.row is not None}
        if not bad:  # the API did not say which rows: nothing safe to retry
            raise
        for e in error.errors:
            if e.row is not None:
                outcome.problems.append(RowProblem(positions[e.row] + 1, e.field, e.message))
        keep = [i for i in range(len(payloads)) if i not in bad]
        if keep:
            _score_chunk(client, [positions[i] for i in keep], [payloads[i] for i in keep], outcome)
        return
    results = batch_results(body)
    if len(results) != len(payloads):
        raise ValueError(f"the API returned {len(results)} results for {len(payloads)} applicants")
    if isinstance(body, dict) and isinstance(body.get("model"), dict):
        outcome.model = body["model"]
    for position, result in zip(positions, results, strict=True):
        outcome.results[position] = result


def score_in_chunks(
    client: ScoringClient,
    positions: Sequence[int],
    payloads: Sequence[dict],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
) -> BatchOutcome:
    """Send valid applicants to /v1/score/batch in chunks, reporting progress after each."""
    outcome = BatchOutcome()
    batches = chunks(payloads, chunk_size)
    for done, index in enumerate(batches, start=1):
        try:
            _score_chunk(
                client, [positions[i] for i in index], [payloads[i] for i in index], outcome
            )
        except ApiError as error:
            # Keep what was scored; say exactly which rows were not (no silent loss).
            outcome.error = error
            remaining = [i for chunk in batches[done - 1 :] for i in chunk]
            outcome.unscored = sorted(
                positions[i] for i in remaining if positions[i] not in outcome.results
            )
            break
        if on_progress:
            on_progress(min(done * chunk_size, len(payloads)), len(payloads))
    return outcome


def scored_frame(
    uploaded: pd.DataFrame, outcome: BatchOutcome, id_column: str | None = None
) -> pd.DataFrame:
    """The scored rows led by id, decision and score, then band, PD, the reasons (adverse-action
    reasons for review and decline only) and the uploaded values."""
    rows = []
    for position in sorted(outcome.results):
        result = outcome.results[position]
        approved = str(result.get("decision", "")).lower() == "approve"
        reasons = [] if approved else result.get("reason_codes") or []
        values = uploaded.iloc[position].to_dict()
        lead = {id_column: values.pop(id_column)} if id_column in values else {}
        rows.append(
            {
                **lead,
                "decision": result.get("decision"),
                "score": result.get("score"),
                "band": result.get("band"),
                "pd": result.get("pd"),
                "top_reason": reasons[0].get("text") if reasons else "",
                "reason_codes": "; ".join(str(r.get("code")) for r in reasons),
                "row": position + 1,
                **values,
            }
        )
    return pd.DataFrame(rows)
