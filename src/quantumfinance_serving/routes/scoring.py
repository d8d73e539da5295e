"""POST /v1/score and /v1/score/batch.

The request bodies are validated by dependencies against the served model's contract (see
deps.OneApplicant); their OpenAPI schemas (`Applicant`, `BatchRequest`) are filled in from the
same contract when /openapi.json is built (openapi.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from fastapi import APIRouter, Response

from quantumfinance_serving.deps import (
    BatcherDep,
    BatchOfApplicants,
    LimitedKeyId,
    MetricsDep,
    OneApplicant,
)
from quantumfinance_serving.schemas import (
    BatchResponse,
    ErrorMessage,
    ScoreResponse,
    ValidationFailure,
)
from quantumfinance_serving.scoring import Scored

router = APIRouter(prefix="/v1", tags=["scoring"])

ERRORS = {
    401: {"model": ErrorMessage, "description": "Missing or invalid API key"},
    413: {"model": ErrorMessage, "description": "Request body larger than QF_MAX_BODY_BYTES"},
    422: {
        "model": ValidationFailure,
        "description": "The body does not fit the served model's applicant contract: one item "
        "per bad field",
    },
    429: {"model": ErrorMessage, "description": "Rate limit exceeded (see Retry-After)"},
    503: {"model": ErrorMessage, "description": "Model not loaded yet, or audit log unavailable"},
}


def _request_body(schema: str) -> dict[str, Any]:
    """The body as OpenAPI shows it; the referenced schema is the served model's (openapi.py)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    }


def _model_ref(scored: Scored) -> bytes:
    identity = scored.model.identity
    return msgspec.json.encode({"name": identity.name, "version": identity.version})


def _json(content: bytes, carrier: Response) -> Response:
    """The response body as encoded once by the scorer (results) and here (the envelope),
    skipping FastAPI's re-validation of our own output; keeps the headers dependencies set
    (X-RateLimit-*)."""
    response = Response(content, media_type="application/json")
    response.headers.raw.extend(carrier.headers.raw)
    return response


@router.post(
    "/score",
    response_model=ScoreResponse,
    responses=ERRORS,
    openapi_extra=_request_body("Applicant"),
)
async def score_applicant(
    key_id: LimitedKeyId,
    body: OneApplicant,
    batcher: BatcherDep,
    metrics: MetricsDep,
    response: Response,
) -> Response:
    """Score one applicant: PD, points, band, decision and up to 4 reason codes."""
    request_id = uuid.uuid4().hex
    scored = await batcher.score(body.model, body.applicants, request_id, key_id)
    metrics.count_decisions(scored.bands, scored.decisions)
    response.headers["X-Request-ID"] = request_id
    result = scored.results_json[0]
    envelope = f',"model":{_model_ref(scored).decode()},"request_id":"{request_id}"}}'
    return _json((result[:-1] + envelope).encode(), response)


@router.post(
    "/score/batch",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra=_request_body("BatchRequest"),
)
async def score_batch(
    key_id: LimitedKeyId,
    body: BatchOfApplicants,
    batcher: BatcherDep,
    metrics: MetricsDep,
    response: Response,
) -> Response:
    """Score 1 to QF_MAX_BATCH applicants; results come back in request order."""
    request_id = uuid.uuid4().hex
    scored = await batcher.score(body.model, body.applicants, request_id, key_id)
    metrics.count_decisions(scored.bands, scored.decisions)
    response.headers["X-Request-ID"] = request_id
    head = f'{{"model":{_model_ref(scored).decode()},"request_id":"{request_id}","results":['
    return _json((head + ",".join(scored.results_json) + "]}").encode(), response)
