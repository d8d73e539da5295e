"""Dependencies injected into routes: the caller's key id, rate limiting, app-scoped services,
and request bodies validated against the served model's contract.

All are ``async def``: none blocks, and FastAPI runs a plain ``def`` dependency in its thread
pool, one hop per dependency per request (measured: ~16 hops on /v1/model, most of its time)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from quantumfinance_serving.metrics import ServingMetrics
from quantumfinance_serving.model_store import LoadedModel, ModelStore
from quantumfinance_serving.scoring import MicroBatcher
from quantumfinance_serving.security import api_key_header
from quantumfinance_serving.security import require_key as established_key
from quantumfinance_serving.settings import Settings


async def require_key(request: Request, _: Annotated[str | None, Security(api_key_header)]) -> str:
    """The caller's key id. GuardMiddleware has checked the key, and slowapi's middleware the
    per-key limit, of every `/v1/*` request before its body was read; the Security parameter
    documents the header."""
    return established_key(request)


KeyId = Annotated[str, Depends(require_key)]
LimitedKeyId = KeyId  # one limit policy for all of /v1/*, applied by SlowAPIASGIMiddleware


async def require_admin(request: Request, key_id: KeyId) -> str:
    if key_id not in request.app.state.settings.admin_ids:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"key {key_id!r} is not an admin key")
    return key_id


AdminKeyId = Annotated[str, Depends(require_admin)]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> ModelStore:
    return request.app.state.store


async def get_batcher(request: Request) -> MicroBatcher:
    return request.app.state.batcher


async def get_metrics(request: Request) -> ServingMetrics:
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


def _printable(value: Any) -> Any:
    """Strings with lone surrogates (from hostile JSON keys) escaped, so the error serialises."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_printable(v) for v in value)
    return value


def _invalid(exc: ValidationError) -> RequestValidationError:
    """pydantic's errors, located in the body as FastAPI reports them; inputs not echoed back."""
    return RequestValidationError(
        [
            _printable({**error, "loc": ("body", *error["loc"])})
            for error in exc.errors(include_url=False, include_input=False)
        ]
    )


def _validated(body: bytes, from_json: Callable[[bytes], Any], from_python: Callable[[Any], Any]):
    """The body validated by the served schema; RequestValidationError naming the fields.

    The JSON parser refuses a lone surrogate (``"\\ud800"``) for the whole document, which
    names no field. Python's JSON reader accepts it (and NaN, Infinity) as a value, so such a
    body is validated again from Python objects: the error then names the field it is in."""
    try:
        return from_json(body)
    except ValidationError as exc:
        if any(error["type"] != "json_invalid" for error in exc.errors()):
            raise _invalid(exc) from None
        try:
            data = json.loads(body)
        except ValueError:
            raise _invalid(exc) from None
    try:
        return from_python(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


async def one_applicant(request: Request, store: StoreDep) -> ValidatedApplicants:
    model = store.get()  # ModelNotReady (503): no contract to validate against yet
    schema = model.request_schema
    body = await request.body()
    applicant = _validated(body, schema.applicant_from_json, schema.applicant_from_python)
    return ValidatedApplicants(model, [applicant])


async def batch_of_applicants(
    request: Request, store: StoreDep, settings: SettingsDep
) -> ValidatedApplicants:
    model = store.get()
    schema = model.request_schema
    body = await request.body()
    applicants = _validated(body, schema.applicants_from_json, schema.applicants_from_python)
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
