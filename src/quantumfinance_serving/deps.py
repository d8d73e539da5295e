"""Dependencies injected into routes: the caller's key id, rate limiting, app-scoped services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, Security, status

from quantumfinance_serving import rate_limit
from quantumfinance_serving.metrics import ServingMetrics
from quantumfinance_serving.model_store import ModelStore
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
