"""API-key authentication before any body byte, and the one limit policy of `/v1/*`.

`GuardMiddleware` is pure ASGI and sits in front of the routes: for a `/v1/*` request it checks
`x-api-key` from the headers alone and answers 401 (or the failed-key throttle's 429) without
ever calling `receive`, so a hostile body is never read, let alone parsed. It leaves the key id
in ``scope["state"]``, where slowapi's `SlowAPIASGIMiddleware` (inside it, see main.py) finds it
through ``key_id_of`` and enforces the per-key moving-window limit, still before the body. The
routes declare the key as a dependency only so that it appears in the OpenAPI document; they
read what the middleware established.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time

from fastapi import HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

API_KEY_HEADER = b"x-api-key"
PROTECTED_PREFIX = "/v1/"
# auto_error=False: the middleware has already answered a missing key with 401.
api_key_header = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    description="API key minted with quantumfinance_serving.keys",
)


class KeyRing:
    """Key id -> hash; matches a presented key in constant time per configured key."""

    def __init__(self, key_hashes: dict[str, str]) -> None:
        self._hashes = {key_id: bytes.fromhex(digest) for key_id, digest in key_hashes.items()}

    def __len__(self) -> int:
        return len(self._hashes)

    def identify(self, api_key: bytes | str | None) -> str | None:
        """The key id of a valid key, else None."""
        if not api_key:
            return None
        raw = api_key.encode() if isinstance(api_key, str) else api_key
        presented = hashlib.sha256(raw).digest()
        found = None
        for key_id, digest in self._hashes.items():  # no early exit: same time for every key
            if secrets.compare_digest(presented, digest):
                found = key_id
        return found


class MovingWindow:
    """A moving-window budget per client address (limits' public API), for failed key attempts.

    It stays on `limits` directly rather than slowapi: it must answer before authentication,
    keyed by address, on requests that slowapi (which limits authenticated keys per route)
    never sees."""

    def __init__(self, limit: str, storage_uri: str, namespace: str) -> None:
        self.items: list[RateLimitItem] = parse_many(limit)
        self.namespace = namespace
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def over(self, identity: str) -> bool:
        """True when ``identity`` is at its limit now (nothing counted)."""
        return not all(self._limiter.test(item, self.namespace, identity) for item in self.items)

    def hit(self, identity: str) -> None:
        for item in self.items:
            self._limiter.hit(item, self.namespace, identity)

    def retry_after(self, identity: str) -> int:
        stats = self._limiter.get_window_stats(self.items[0], self.namespace, identity)
        return max(1, int(stats.reset_time - time.time()) + 1)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def send_json(
    send: Send, status_code: int, detail: str, extra: list[tuple[bytes, bytes]] = ()
) -> None:
    """A small JSON error answer that closes the connection (its unread body is discarded)."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Authenticates every `/v1/*` request from its headers only, before any body byte.

    * missing or unknown key: 401 (the body is never read); from an address past
      QF_AUTH_FAILURE_LIMIT failures: 429. A valid key is never refused by that throttle, so
      failures from a shared or spoofed address cannot lock out a valid key (keys carry 256
      random bits: the throttle sheds load, it is not what makes guessing hopeless).
    * a valid key's id goes to ``scope["state"]["key_id"]``; the per-key QF_RATE_LIMIT is
      slowapi's (main.py), which only authenticated `/v1/*` requests reach.
    * other paths pass; a valid key on them is still identified (``/ready`` shows details to
      key holders only, ``/metrics`` may require one).

    The client address is the TCP peer; X-Forwarded-For is applied before this middleware only
    for QF_TRUSTED_PROXIES (uvicorn's ProxyHeadersMiddleware, see main.py).
    """

    def __init__(
        self,
        app: ASGIApp,
        keyring: KeyRing,
        failed_auth: MovingWindow,
        keyed_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.failed_auth = failed_auth
        self.keyed_paths = keyed_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        presented = header(scope, API_KEY_HEADER)
        key_id = self.keyring.identify(presented)
        state = scope.setdefault("state", {})
        state["key_id"] = key_id
        if not (path.startswith(PROTECTED_PREFIX) or path in self.keyed_paths):
            await self.app(scope, receive, send)
            return
        if key_id is None:
            await self._refuse(scope, send, missing=not presented)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, missing: bool) -> None:
        client = client_host(scope)
        if self.failed_auth.over(client):
            await send_json(
                send,
                429,
                "too many failed API-key attempts from this address; retry later",
                [(b"retry-after", str(self.failed_auth.retry_after(client)).encode())],
            )
            return
        self.failed_auth.hit(client)
        logger.warning("rejected %s key from %s", "missing" if missing else "invalid", client)
        await send_json(
            send,
            401,
            "missing API key (header x-api-key)" if missing else "invalid API key",
            [(b"www-authenticate", b"APIKey")],
        )


def client_host(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def key_id_of(request: Request) -> str:
    """slowapi's key function: the key id GuardMiddleware established (requests it lets
    through to `/v1/*` always have one)."""
    return request.state.key_id


def per_key_limiter(limit: str, storage_uri: str) -> Limiter:
    """slowapi's limiter of the one `/v1/*` policy: ``limit`` per key id, moving window.

    An application limit (slowapi scope "global") is one budget per key shared by every route
    it is not exempted from; a default limit would give each URL its own budget (each plot
    name, the batch route) and so several times the limit per key."""
    # headers_enabled=False: slowapi's own headers put Retry-After on every response and a
    # float X-RateLimit-Reset; RateLimitHeadersMiddleware writes them instead.
    return Limiter(
        key_func=key_id_of,
        application_limits=[limit],
        strategy="moving-window",
        storage_uri=storage_uri,
        headers_enabled=False,
    )


def rate_limit_headers(limiter: Limiter, checked: tuple[RateLimitItem, list[str]]) -> dict:
    """X-RateLimit-Limit, -Remaining and -Reset (whole epoch seconds, rounded up: never earlier
    than the window frees a request) of the limit slowapi checked (``view_rate_limit``)."""
    item, args = checked
    stats = limiter.limiter.get_window_stats(item, *args)
    return {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(max(stats.remaining, 0)),
        "X-RateLimit-Reset": str(math.ceil(stats.reset_time)),
    }


class RateLimitHeadersMiddleware:
    """The X-RateLimit-* headers on every response to a rate-limited request (inside slowapi's
    middleware, which records the limit it checked in the request state); Retry-After belongs
    to the 429 alone (`rate_limit_exceeded`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            checked = scope.get("state", {}).get("view_rate_limit")
            if message["type"] == "http.response.start" and checked is not None:
                headers = MutableHeaders(scope=message)
                if "x-ratelimit-limit" not in headers:
                    headers.update(rate_limit_headers(scope["app"].state.limiter, checked))
            await send(message)

        await self.app(scope, receive, send_with_limits)


def rate_limit_exceeded(request: Request, exc: RateLimitExceeded) -> JSONResponse:
    """429 for slowapi's RateLimitExceeded: Retry-After and the X-RateLimit-* headers of the
    limit that refused (slowapi records it in ``request.state.view_rate_limit``); the
    connection closes, as the unread body is discarded."""
    limiter: Limiter = request.app.state.limiter
    limits = rate_limit_headers(limiter, request.state.view_rate_limit)
    wait = max(1, int(limits["X-RateLimit-Reset"]) - int(time.time()))
    return JSONResponse(
        {"detail": f"rate limit exceeded ({exc.detail} per API key); retry after the wait"},
        status_code=429,
        headers={"Retry-After": str(wait), **limits, "Connection": "close"},
    )


def require_key(request: Request) -> str:
    """The key id the middleware established (401 if a route outside `/v1/` asks for one)."""
    key_id = request.state.key_id if hasattr(request.state, "key_id") else None
    if key_id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid API key (header x-api-key)",
            headers={"WWW-Authenticate": "APIKey"},
        )
    return key_id
