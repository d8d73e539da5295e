"""Liveness, readiness and Prometheus metrics.

`/health` and `/ready` need no key (probes call them); without a key `/ready` says only what
state the API is in, never why (load errors carry server paths). `/metrics` needs a key unless
QF_METRICS_PORT serves it on a port of its own (main.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from quantumfinance_serving.audit import AuditError, AuditLog
from quantumfinance_serving.deps import KeyId, MetricsDep, StoreDep
from quantumfinance_serving.model_store import ModelStore
from quantumfinance_serving.schemas import ErrorMessage, Status

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"])


@router.get("/health", response_model=Status)
async def health() -> dict:
    """200 while the process lives, model or not."""
    return {"status": "ok"}


def readiness(store: ModelStore, audit: AuditLog) -> tuple[int, str, str, str | None]:
    """(HTTP status, state, public detail, operator detail) of the API now.

    503 when a score cannot succeed (no model loaded, audit sink not writable); 200 `degraded`
    when scores succeed but the served version is not the alias's, or reloads are failing."""
    if store.current is None:
        if store.last_error:
            return 503, "unavailable", "no model could be loaded", store.last_error
        return 503, "loading", "the model is still loading", None
    try:
        audit.check()
    except AuditError as exc:
        return 503, "unavailable", "the audit log is not writable", str(exc)
    served = store.current.identity.version
    if store.lagging:
        detail = f"serving version {served}; the alias points to version {store.alias_version}"
        return 200, "degraded", detail, store.last_error or store.check_error
    if store.last_error or store.check_error:
        return (
            200,
            "degraded",
            "reloads are failing; the loaded model keeps serving",
            (store.last_error or store.check_error),
        )
    return 200, "ready", None, None


@router.get("/ready", response_model=Status, responses={503: {"model": Status}})
def ready(request: Request, store: StoreDep) -> Response | dict:
    """200 `ready` (or `degraded`: the served version lags its alias, or reloads fail) when
    scores can succeed; 503 when they cannot (no model, audit log not writable). The reason is
    shown to callers with a valid x-api-key only."""
    code, state, public, private = readiness(store, request.app.state.audit)
    trusted = getattr(request.state, "key_id", None) is not None
    detail = f"{public}: {private}" if trusted and private else public
    body = {"status": state, "detail": detail}
    return body if code == 200 else JSONResponse(body, status_code=code)


@metrics_router.get("/metrics", response_class=Response, responses={401: {"model": ErrorMessage}})
def metrics(_: KeyId, serving: MetricsDep) -> Response:
    """Prometheus text format (needs an API key; see QF_METRICS_PORT for a keyless port)."""
    return Response(generate_latest(serving.registry), media_type=CONTENT_TYPE_LATEST)
