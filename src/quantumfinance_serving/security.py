"""API-key authentication and the one limit policy of `/v1/*`, enforced before any body byte.

`GuardMiddleware` is pure ASGI and sits in front of the routes: for a `/v1/*` request it checks
`x-api-key` and the key's moving-window limit from the headers alone, and answers 401/429 without
ever calling `receive` (so a hostile body is never read, let alone parsed). The routes declare the
key as a dependency only so that it appears in the OpenAPI document; they read what the
middleware established.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time

from fastapi import HTTPException, Request, status
from fastapi.security import APIKeyHeader
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

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
    """One moving-window policy (limits' public API): ``allow`` counts a hit if under the limit."""

    def __init__(self, limit: str, storage_uri: str, namespace: str) -> None:
        self.items: list[RateLimitItem] = parse_many(limit)
        self.namespace = namespace
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def allow(self, identity: str) -> bool:
        """Count one request of ``identity``; False (nothing counted) when over any limit."""
        return all([self._limiter.hit(item, self.namespace, identity) for item in self.items])

    def over(self, identity: str) -> bool:
        """True when ``identity`` is at its limit now (nothing counted)."""
        return not all(self._limiter.test(item, self.namespace, identity) for item in self.items)

    def hit(self, identity: str) -> None:
        for item in self.items:
            self._limiter.hit(item, self.namespace, identity)

    def headers(self, identity: str) -> list[tuple[bytes, bytes]]:
        """X-RateLimit-Limit/-Remaining/-Reset of the tightest limit, and Retry-After when
        none remain."""
        item = self.items[0]
        stats = self._limiter.get_window_stats(item, self.namespace, identity)
        wait = max(1, int(stats.reset_time - time.time()) + 1)
        headers = [
            (b"x-ratelimit-limit", str(item.amount).encode()),
            (b"x-ratelimit-remaining", str(max(stats.remaining, 0)).encode()),
            (b"x-ratelimit-reset", str(int(stats.reset_time)).encode()),
        ]
        if stats.remaining <= 0:
            headers.append((b"retry-after", str(wait).encode()))
        return headers

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
    """Authenticates every `/v1/*` request and applies the per-key limit, from headers only.

    * missing or unknown key: 401 (the body is never read); from an address past
      QF_AUTH_FAILURE_LIMIT failures: 429. A valid key is never refused by that throttle, so
      failures from a shared or spoofed address cannot lock out a valid key (keys carry 256
      random bits: the throttle sheds load, it is not what makes guessing hopeless).
    * over QF_RATE_LIMIT (moving window, per key id, one budget for all `/v1/*` routes): 429
      with Retry-After.
    * other paths pass; a valid key on them is still identified (``/ready`` shows details to
      key holders only, ``/metrics`` may require one).

    The client address is the TCP peer; X-Forwarded-For is applied before this middleware only
    for QF_TRUSTED_PROXIES (uvicorn's ProxyHeadersMiddleware, see main.py).
    """

    def __init__(
        self,
        app: ASGIApp,
        keyring: KeyRing,
        rate_limit: MovingWindow,
        failed_auth: MovingWindow,
        keyed_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.rate_limit = rate_limit
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
        if not path.startswith(PROTECTED_PREFIX):  # e.g. /metrics: keyed, not rate limited
            await self.app(scope, receive, send)
            return
        if not self.rate_limit.allow(key_id):
            await send_json(
                send,
                429,
                f"rate limit exceeded ({self.rate_limit.items[0]} per API key); retry after the "
                "wait",
                self.rate_limit.headers(key_id),
            )
            return
        limit_headers = self.rate_limit.headers(key_id)

        async def send_with_limits(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *limit_headers]}
            await send(message)

        await self.app(scope, receive, send_with_limits)

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
