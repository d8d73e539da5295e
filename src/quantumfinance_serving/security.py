"""API-key authentication: x-api-key checked against configured SHA-256 hashes."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time

from fastapi import HTTPException, Request, status
from fastapi.security import APIKeyHeader
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

# auto_error=False: a missing key must be 401 (not FastAPI's 403) and count as a failed attempt.
api_key_header = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    description="API key minted with quantumfinance_serving.keys",
)


class KeyRing:
    """Key id -> hash; matches a presented key in constant time per configured key."""

    def __init__(self, key_hashes: dict[str, str]) -> None:
        self._hashes = {key_id: bytes.fromhex(digest) for key_id, digest in key_hashes.items()}

    def identify(self, api_key: str | None) -> str | None:
        """The key id of a valid key, else None."""
        if not api_key:
            return None
        presented = hashlib.sha256(api_key.encode()).digest()
        found = None
        for key_id, digest in self._hashes.items():  # no early exit: same time for every key
            if secrets.compare_digest(presented, digest):
                found = key_id
        return found


class FailedAuthThrottle:
    """Counts failed key checks per client address; past the limit the address gets 429."""

    def __init__(self, limit: str, storage_uri: str) -> None:
        self.limit = parse(limit)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def blocked_for(self, client: str) -> int | None:
        """Seconds to wait when `client` is over the limit, else None."""
        if self._limiter.test(self.limit, "auth-fail", client):
            return None
        reset_at, _ = self._limiter.get_window_stats(self.limit, "auth-fail", client)
        return max(1, int(reset_at - time.time()) + 1)

    def record_failure(self, client: str) -> None:
        self._limiter.hit(self.limit, "auth-fail", client)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(request: Request, api_key: str | None) -> str:
    """The caller's key id; 401 for a missing/unknown key, 429 after too many failures."""
    keyring: KeyRing = request.app.state.keyring
    throttle: FailedAuthThrottle = request.app.state.auth_throttle
    client = client_address(request)
    wait = throttle.blocked_for(client)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many failed API-key attempts from this address; retry later",
            headers={"Retry-After": str(wait)},
        )
    key_id = keyring.identify(api_key)
    if key_id is None:
        throttle.record_failure(client)
        logger.warning("rejected %s key from %s", "missing" if not api_key else "invalid", client)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing API key (header x-api-key)" if not api_key else "invalid API key",
            headers={"WWW-Authenticate": "APIKey"},
        )
    request.state.key_id = key_id
    return key_id
