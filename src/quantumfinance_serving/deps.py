"""Dependencies injected into routes: the caller's key id, rate limiting, app-scoped services,
and request bodies validated against the served model's contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, Security, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from quantumfinance_serving import rate_limit
from quantumfinance_serving.metrics import ServingMetrics
from quantumfinance_serving.model_store import LoadedModel, ModelStore
from quantumfinance_serving.scoring import MicroBatcher
from quantumfinance_serving.security import api_key_header, authenticate
from quantumfinance_serving.settings import Settings


def require_key(request: Request, api_key: Annotated[str | None, Security(api_key_header)]) -> str:
    return authenticate(request, api_key)


KeyId = Annotated[str, Depends(require_key)]


def limited_key(request: Request, response: Response, key_id: KeyId) -> str:
    rate_limit.enforce(request, response)
    return key_id


LimitedKeyId = Annotated[str, Depends(limited_key)]


def require_admin(request: Request, key_id: KeyId) -> str:
    if key_id not in request.app.state.settings.admin_ids:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"key {key_id!r} is not an admin key")
    return key_id


AdminKeyId = Annotated[str, Depends(require_admin)]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> ModelStore:
    return request.app.state.store


def get_batcher(request: Request) -> MicroBatcher:
    return request.app.state.batcher


def get_metrics(request: Request) -> ServingMetrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]


@dataclass(frozen=True)
class ValidatedApplicants:
    """Applicants that passed the request schema of ``model``, which is then the one to score them.

    The schema depends on the model (its contract), which loads after startup and may be
    swapped, so the body is validated here against the model served at this moment rather
    than by a schema fixed when the routes were declared."""

    model: LoadedModel
    applicants: list[dict[str, Any]]


def _invalid(exc: ValidationError) -> RequestValidationError:
    """pydantic's errors, located in the body as FastAPI reports them; inputs not echoed back."""
    return RequestValidationError(
        [
            {**error, "loc": ("body", *error["loc"])}
            for error in exc.errors(include_url=False, include_input=False)
        ]
    )


async def one_applicant(request: Request, store: StoreDep) -> ValidatedApplicants:
    model = store.get()  # ModelNotReady (503): no contract to validate against yet
    body = await request.body()
    try:
        applicant = model.request_schema.applicant_from_json(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return ValidatedApplicants(model, [applicant])


async def batch_of_applicants(
    request: Request, store: StoreDep, settings: SettingsDep
) -> ValidatedApplicants:
    model = store.get()
    body = await request.body()
    try:
        applicants = model.request_schema.applicants_from_json(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    size = len(applicants)
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
    return ValidatedApplicants(model, applicants)


# Declare these after the key: authentication and the rate limit come before the body.
OneApplicant = Annotated[ValidatedApplicants, Depends(one_applicant)]
BatchOfApplicants = Annotated[ValidatedApplicants, Depends(batch_of_applicants)]
