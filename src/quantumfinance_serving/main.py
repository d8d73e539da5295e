"""App factory: `create_app(settings)` wires settings, security, limits, model store and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slowapi.errors import RateLimitExceeded

from quantumfinance.contract import ContractError
from quantumfinance_serving import rate_limit
from quantumfinance_serving.audit import AuditError, open_audit_log
from quantumfinance_serving.limits_middleware import MaxBodySizeMiddleware
from quantumfinance_serving.metrics import MetricsMiddleware, ServingMetrics
from quantumfinance_serving.model_store import ModelNotReady, ModelStore
from quantumfinance_serving.openapi import served_openapi
from quantumfinance_serving.routes import health, model, monitoring, scoring
from quantumfinance_serving.scoring import MicroBatcher
from quantumfinance_serving.security import FailedAuthThrottle, KeyRing
from quantumfinance_serving.settings import Settings

logger = logging.getLogger("quantumfinance_serving")


def _not_ready(_: Request, exc: ModelNotReady) -> JSONResponse:
    return JSONResponse({"detail": f"model not ready: {exc}"}, status_code=503)


def _audit_failed(_: Request, exc: AuditError) -> JSONResponse:
    logger.error("decision not returned because it could not be audited: %s", exc)
    return JSONResponse(
        {"detail": f"decision not returned: the audit log is unavailable ({exc})"}, status_code=503
    )


def _refused_by_model(_: Request, exc: ContractError) -> JSONResponse:
    # The request schema is generated from the same contract the model checks, so this means
    # the two disagree (a bug to fix), not a bad request to blame on the caller's field.
    logger.error("the model refused input the API's contract schema accepted: %s", exc)
    return JSONResponse(
        {"detail": [{"loc": ["body"], "msg": str(exc), "type": "contract_refused"}]},
        status_code=422,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fresh app; the model loads in the background once the lifespan starts."""
    settings = settings or Settings()
    store = ModelStore(settings.model_uri, settings.reload_interval_seconds, settings.fast_path)
    audit = open_audit_log(settings.audit_path, settings.audit_dsn)
    batcher = MicroBatcher(audit, max_rows=max(settings.max_batch, 1))
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store.start()  # background thread: /health answers while the model loads
        batcher.start()
        yield
        await batcher.stop()
        store.stop()
        audit.close()

    app = FastAPI(
        title="QuantumFinance credit scoring API",
        version="1.0.0",
        description="Scores credit applicants with the registered `credit-score` pipeline model. "
        "The applicant fields are those of the served model's applicant contract.",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.keyring = KeyRing(settings.key_hashes)
    app.state.auth_throttle = FailedAuthThrottle(
        settings.auth_failure_limit, settings.rate_limit_storage
    )
    app.state.limiter = rate_limit.build_limiter(settings.rate_limit, settings.rate_limit_storage)
    app.add_exception_handler(RateLimitExceeded, rate_limit.rate_limit_exceeded)
    app.add_exception_handler(ModelNotReady, _not_ready)
    app.add_exception_handler(AuditError, _audit_failed)
    app.add_exception_handler(ContractError, _refused_by_model)
    app.add_middleware(MaxBodySizeMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(scoring.router)
    app.include_router(model.router)
    app.include_router(monitoring.router)
    app.include_router(health.router)
    app.openapi = served_openapi(app, store, settings.max_batch)  # type: ignore[method-assign]
    return app
