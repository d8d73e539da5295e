"""App factory: `create_app(settings)` wires settings, security, limits, model store and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from quantumfinance.contract import ContractError
from quantumfinance_serving.audit import AuditError, open_audit_log
from quantumfinance_serving.limits_middleware import MaxBodySizeMiddleware, MaxHeadersMiddleware
from quantumfinance_serving.metrics import MetricsMiddleware, ServingMetrics
from quantumfinance_serving.model_store import ModelNotReady, ModelStore
from quantumfinance_serving.openapi import served_openapi
from quantumfinance_serving.routes import health, model, monitoring, scoring
from quantumfinance_serving.scoring import MicroBatcher
from quantumfinance_serving.security import GuardMiddleware, KeyRing, MovingWindow
from quantumfinance_serving.settings import Settings

logger = logging.getLogger("quantumfinance_serving")


def _not_ready(_: Request, exc: ModelNotReady) -> JSONResponse:
    logger.warning("request refused, no model loaded: %s", exc)
    return JSONResponse(
        {"detail": "model not ready: none is loaded yet (GET /ready with a key says why)"},
        status_code=503,
    )


def _audit_failed(_: Request, exc: AuditError) -> JSONResponse:
    logger.error("decision not returned because it could not be audited: %s", exc)
    return JSONResponse(
        {"detail": "decision not returned: the audit log is unavailable"}, status_code=503
    )


def _refused_by_model(_: Request, exc: ContractError) -> JSONResponse:
    # The request schema is generated from the same contract the model checks, so this means
    # the two disagree (a bug to fix), not a bad request to blame on the caller's field.
    logger.error("the model refused input the API's contract schema accepted: %s", exc)
    return JSONResponse(
        {"detail": [{"loc": ["body"], "msg": str(exc), "type": "contract_refused"}]},
        status_code=422,
    )


def _start_metrics_port(settings: Settings, metrics: ServingMetrics):
    """/metrics on QF_METRICS_PORT (prometheus_client's own server), no key."""
    from prometheus_client import start_http_server  # noqa: PLC0415

    server, _ = start_http_server(settings.metrics_port, settings.host, metrics.registry)
    return server


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fresh app; the model loads in the background once the lifespan starts."""
    settings = settings or Settings()
    metrics = ServingMetrics()
    store = ModelStore(
        settings.model_uri,
        settings.reload_interval_seconds,
        settings.fast_path,
        on_reload_failure=metrics.reload_failures.inc,
    )
    metrics.watch(store)
    audit = open_audit_log(settings.audit_path, settings.audit_dsn)
    batcher = MicroBatcher(
        audit, max_rows=max(settings.max_batch, 1), on_audit_failure=metrics.audit_failures.inc
    )
    if not settings.key_hashes:
        logger.warning("QF_API_KEYS is empty: every /v1/* request will be refused with 401")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        metrics_server = _start_metrics_port(settings, metrics) if settings.metrics_port else None
        store.start()  # background thread: /health answers while the model loads
        batcher.start()
        yield
        await batcher.stop()
        store.stop()
        audit.close()
        if metrics_server is not None:
            metrics_server.shutdown()

    options = {
        "title": "QuantumFinance credit scoring API",
        "version": "1.0.0",
        "description": "Scores credit applicants with the registered `credit-score` pipeline "
        "model. The applicant fields are those of the served model's applicant contract.",
        "lifespan": lifespan,
    }
    if settings.docs_enabled:
        # Swagger UI and ReDoc from files shipped in the fastapi-offline wheel: no CDN.
        app = FastAPIOffline(**options)
    else:
        app = FastAPI(**options, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.audit = audit
    app.add_exception_handler(ModelNotReady, _not_ready)
    app.add_exception_handler(AuditError, _audit_failed)
    app.add_exception_handler(ContractError, _refused_by_model)
    # Added innermost first: metrics -> header cap -> trusted proxy headers -> key and limit ->
    # body cap.
    app.add_middleware(MaxBodySizeMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        GuardMiddleware,
        keyring=KeyRing(settings.key_hashes),
        rate_limit=MovingWindow(settings.rate_limit, settings.rate_limit_storage, "qf-key"),
        failed_auth=MovingWindow(
            settings.auth_failure_limit, settings.rate_limit_storage, "qf-auth-fail"
        ),
        keyed_paths=frozenset() if settings.metrics_port else frozenset({"/metrics"}),
    )
    if settings.proxy_networks:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_networks)
    app.add_middleware(
        MaxHeadersMiddleware,
        max_bytes=settings.max_header_bytes,
        max_count=settings.max_header_count,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(scoring.router)
    app.include_router(model.router)
    app.include_router(monitoring.router)
    app.include_router(health.router)
    if not settings.metrics_port:
        app.include_router(health.metrics_router)
    app.openapi = served_openapi(app, store, settings.max_batch)  # type: ignore[method-assign]
    return app
