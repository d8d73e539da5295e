"""Liveness, readiness and Prometheus metrics (no key: probes and scrapers call these)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from quantumfinance_serving.deps import MetricsDep, StoreDep
from quantumfinance_serving.schemas import Status

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Status)
def health() -> dict:
    """200 while the process lives, model or not."""
    return {"status": "ok"}


@router.get("/ready", response_model=Status, responses={503: {"model": Status}})
def ready(store: StoreDep) -> Response | dict:
    """200 once a model is loaded, 503 (with the load error, if any) before."""
    if store.ready:
        return {"status": "ready"}
    return JSONResponse(
        {"status": "loading", "detail": store.last_error or "model is still loading"},
        status_code=503,
    )


@router.get("/metrics", response_class=Response, include_in_schema=True)
def metrics(store: StoreDep, serving: MetricsDep) -> Response:
    """Prometheus text format."""
    current = store.current
    serving.model_ready.set(1 if current else 0)
    if current is not None:
        version = current.identity.version
        serving.model_version.labels(current.identity.name).set(
            float(version) if version and version.isdigit() else 0
        )
    return Response(generate_latest(serving.registry), media_type=CONTENT_TYPE_LATEST)
