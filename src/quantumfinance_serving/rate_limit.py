"""Per-key request limits with slowapi; redis storage makes them global across workers."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded


def key_id_of(request: Request) -> str:
    """Limits are per API key id (set by authentication), not per address."""
    return request.state.key_id


def build_limiter(rate_limit: str, storage_uri: str) -> Limiter:
    """One limit shared by all scoring routes of a key (scope 'scoring')."""
    return Limiter(
        key_func=key_id_of,
        application_limits=[rate_limit],
        storage_uri=storage_uri,
        headers_enabled=True,
        key_prefix="qf",
        # A dead redis must not turn the limiter off silently: errors surface as 5xx.
        swallow_errors=False,
    )


def enforce(request: Request, response: Response) -> None:
    """Count this request against its key's limit; add X-RateLimit-* headers to the response."""
    limiter: Limiter = request.app.state.limiter
    limiter._check_request_limit(request, None, in_middleware=True)  # raises RateLimitExceeded
    limiter._inject_headers(response, request.state.view_rate_limit)


def rate_limit_exceeded(request: Request, exc: RateLimitExceeded) -> Response:
    """429 with Retry-After and X-RateLimit-* headers."""
    response = JSONResponse(
        {"detail": f"rate limit exceeded ({exc.detail} per API key); retry after the wait"},
        status_code=429,
    )
    return request.app.state.limiter._inject_headers(response, request.state.view_rate_limit)
