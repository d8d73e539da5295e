"""Dependencies injected into routes: the caller's key id, rate limiting, app-scoped services,
and request bodies validated against the served model's contract.

All are ``async def``: none blocks, and FastAPI runs a plain ``def`` dependency in its thread
pool, one hop per dependency per request (measured: ~16 hops on /v1/model, most of its time)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.exceptions import RequestValidationError

from quantumfinance_serving.bodies import Applicants, BodyError, applicants, decode
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
    """Applicants that passed the contract of ``model``, which is then the one to score them.

    The contract depends on the model, which loads after startup and may be swapped, so the
    body is checked here against the model served at this moment rather than by a schema fixed
    when the routes were declared."""

    model: LoadedModel
    applicants: Applicants


INLINE_BYTES = 16_384  # bodies up to this size are checked on the event loop (~1 ms at most)


def _checked(model: LoadedModel, body: bytes, batch: bool, max_batch: int) -> Applicants:
    try:
        return applicants(model.scoring, decode(body), batch, max_batch)
    except BodyError as exc:
        raise RequestValidationError(exc.errors) from None


async def _validated(request: Request, store: ModelStore, batch: bool, max_batch: int):
    model = store.get()  # ModelNotReady (503): no contract to check against yet
    body = await request.body()
    if len(body) <= INLINE_BYTES:
        checked = _checked(model, body, batch, max_batch)
    else:  # a large body is decoded and checked off the event loop: /health keeps answering
        checked = await asyncio.to_thread(_checked, model, body, batch, max_batch)
    return ValidatedApplicants(model, checked)


async def one_applicant(request: Request, store: StoreDep) -> ValidatedApplicants:
    return await _validated(request, store, False, 1)


async def batch_of_applicants(
    request: Request, store: StoreDep, settings: SettingsDep
) -> ValidatedApplicants:
    return await _validated(request, store, True, settings.max_batch)


# Declare these after the key: authentication and the rate limit come before the body.
OneApplicant = Annotated[ValidatedApplicants, Depends(one_applicant)]
BatchOfApplicants = Annotated[ValidatedApplicants, Depends(batch_of_applicants)]
