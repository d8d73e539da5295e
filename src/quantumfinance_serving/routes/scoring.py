"""POST /v1/score and /v1/score/batch."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError
from pydantic_core import to_json

from quantumfinance_serving.deps import BatcherDep, LimitedKeyId, MetricsDep, SettingsDep
from quantumfinance_serving.schemas import (
    Applicant,
    BatchRequest,
    BatchResponse,
    ErrorMessage,
    ScoreResponse,
)

router = APIRouter(prefix="/v1", tags=["scoring"])

ERRORS = {
    401: {"model": ErrorMessage, "description": "Missing or invalid API key"},
    413: {"model": ErrorMessage, "description": "Request body larger than QF_MAX_BODY_BYTES"},
    429: {"model": ErrorMessage, "description": "Rate limit exceeded (see Retry-After)"},
    503: {"model": ErrorMessage, "description": "Model not loaded yet, or audit log unavailable"},
}


def _model_ref(scored) -> dict:
    identity = scored.model.identity
    return {"name": identity.name, "version": identity.version}


def _json(payload: dict[str, Any], carrier: Response) -> Response:
    """Serialise in one Rust pass, skipping FastAPI's re-validation of our own output (10,000
    results cost ~0.4 s that way); keeps the headers dependencies set (X-RateLimit-*)."""
    response = Response(to_json(payload), media_type="application/json")
    response.headers.raw.extend(carrier.headers.raw)
    return response


@router.post("/score", response_model=ScoreResponse, responses=ERRORS)
async def score_applicant(
    applicant: Applicant,  # type: ignore[valid-type]
    key_id: LimitedKeyId,
    batcher: BatcherDep,
    metrics: MetricsDep,
    response: Response,
) -> Response:
    """Score one applicant: PD, points, band, decision and up to 4 reason codes."""
    request_id = uuid.uuid4().hex
    scored = await batcher.score([dict(vars(applicant))], request_id, key_id)
    metrics.count_decisions(scored.results)
    response.headers["X-Request-ID"] = request_id
    return _json(
        {**scored.results[0], "model": _model_ref(scored), "request_id": request_id}, response
    )


@router.post("/score/batch", response_model=BatchResponse, responses=ERRORS)
async def score_batch(
    batch: BatchRequest,
    key_id: LimitedKeyId,
    batcher: BatcherDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    response: Response,
) -> Response:
    """Score 1 to QF_MAX_BATCH applicants; results come back in request order."""
    size = len(batch.applicants)
    if not 1 <= size <= settings.max_batch:
        problem = "is empty" if size == 0 else f"has {size} applicants"
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "applicants"),
                    "msg": f"batch {problem}; send 1 to {settings.max_batch} (QF_MAX_BATCH)",
                    "type": "batch_size",
                }
            ]
        )
    request_id = uuid.uuid4().hex
    scored = await batcher.score([dict(vars(a)) for a in batch.applicants], request_id, key_id)
    metrics.count_decisions(scored.results)
    response.headers["X-Request-ID"] = request_id
    return _json(
        {"model": _model_ref(scored), "request_id": request_id, "results": scored.results},
        response,
    )
