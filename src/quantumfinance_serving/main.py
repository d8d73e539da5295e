"""App factory: `create_app(settings)` wires settings, security, limits, model store and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from quantumfinance.contract import ContractError
from quantumfinance_serving.audit import AuditError, open_audit_log
from quantumfinance_serving.http_policy import (
    JsonBodyMiddleware,
    SecurityHeadersMiddleware,
    cors_options,
)
from quantumfinance_serving.limits_middleware import MaxBodySizeMiddleware, MaxHeadersMiddleware
from quantumfinance_serving.metrics import MetricsMiddleware, ServingMetrics
from quantumfinance_serving.model_store import ModelNotReady, ModelStore
from quantumfinance_serving.openapi import BODIES, served_openapi
from quantumfinance_serving.routes import health, model, monitoring, scoring
from quantumfinance_serving.scoring import MicroBatcher
from quantumfinance_serving.security import (
    PROTECTED_PREFIX,
    GuardMiddleware,
    KeyRing,
    MovingWindow,
    RateLimitHeadersMiddleware,
    per_key_limiter,
    rate_limit_exceeded,
)
from quantumfinance_serving.settings import Settings

logger = logging.getLogger("quantumfinance_serving")


def _not_ready(_: Request, exc: ModelNotReady) -> JSONResponse:
    logger.warning("request refused, no model loaded: %s", exc)
    return JSONResponse(
        {"detail": "model not ready: none is loaded yet (GET /ready with a key says why)"},
        status_code=503,
    )


def _client_gone(_: Request, exc: ClientDisconnect) -> JSONResponse:
    """The client went (or the server cut a body that came too slowly, server.py) while its
    body was read: nobody to answer, nothing scored; not an application error."""
    logger.info("request body not received: the connection closed before it was complete")
    return JSONResponse({"detail": "request body incomplete"}, status_code=408)


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


def _add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """The routers' own route objects placed on the app itself (their "/v1" prefix is part of
    each route's path already), not behind ``include_router``.

    Since FastAPI 0.137 ``include_router`` puts a wrapper in ``app.routes`` with no
    ``endpoint``; slowapi 0.1.10's middleware finds a request's route there, takes "no endpoint"
    for "no route" and exempts it: the limit would silently never apply (laurentS/slowapi#281).
    tests/serving/test_hardening.py fails if that happens again."""
    for router in routers:
        for route in router.routes:
            if getattr(route, "endpoint", None) is None:  # e.g. a router nested in it
                raise TypeError(f"{route!r} has no endpoint: slowapi would not limit it")
            app.router.routes.append(route)


def _exempt_outside_v1(limiter: Limiter, routes: list[BaseRoute]) -> None:
    """One policy for exactly `/v1/*`: every other route is exempted (slowapi's public
    ``Limiter.exempt``, which registers the endpoint by module and name)."""
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if endpoint is not None and not getattr(route, "path", "").startswith(PROTECTED_PREFIX):
            limiter.exempt(endpoint)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fresh app; the model loads in the background once the lifespan starts."""
    settings = settings or Settings()
    metrics = ServingMetrics()
    store = ModelStore(
        settings.model_uri,
        settings.reload_interval_seconds,
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
        metrics.unmatched.flush()
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
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(ContractError, _refused_by_model)
    app.add_exception_handler(RateLimitExceeded, rate_limit_exceeded)
    # Added innermost first: metrics -> security headers -> header cap -> trusted proxy
    # headers -> CORS (answers preflights) -> key (ours) -> per-key limit (slowapi, only
    # authenticated /v1/* requests get here) -> X-RateLimit-* headers -> JSON content type
    # (415) -> body cap. Nothing before the body cap reads the body.
    app.add_middleware(MaxBodySizeMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(JsonBodyMiddleware, paths=frozenset(BODIES))
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(SlowAPIASGIMiddleware)
    app.add_middleware(
        GuardMiddleware,
        keyring=KeyRing(settings.key_hashes),
        failed_auth=MovingWindow(
            settings.auth_failure_limit, settings.rate_limit_storage, "qf-auth-fail"
        ),
        keyed_paths=frozenset() if settings.metrics_port else frozenset({"/metrics"}),
    )
    app.add_middleware(CORSMiddleware, **cors_options(settings.allowed_origins))
    if settings.proxy_networks:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_networks)
    app.add_middleware(
        MaxHeadersMiddleware,
        max_bytes=settings.max_header_bytes,
        max_count=settings.max_header_count,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _add_routes(app, scoring.router, model.router, monitoring.router, health.router)
    if not settings.metrics_port:
        _add_routes(app, health.metrics_router)
    app.state.limiter = per_key_limiter(settings.rate_limit, settings.rate_limit_storage)
    _exempt_outside_v1(app.state.limiter, app.routes)
    app.openapi = served_openapi(app, store, settings.max_batch)  # type: ignore[method-assign]
    return app
