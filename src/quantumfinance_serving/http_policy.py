"""HTTP policy of every response and of JSON bodies: security headers, CORS, 415.

* `SecurityHeadersMiddleware` (outermost but metrics): every response the app sends — errors
  from other middlewares, `/docs` and its assets included — carries `nosniff`, a frame policy
  (`X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`), `Referrer-Policy: no-referrer`
  and a Content-Security-Policy; `Cache-Control: no-store` unless the response is a cacheable
  file (it has an ETag) or says otherwise. JSON answers get `default-src 'none'`. An HTML page
  (Swagger UI, ReDoc) gets a policy for its own origin only, its inline scripts allowed by
  their SHA-256 hashes rather than `'unsafe-inline'`.
* `cors_options`: Starlette's CORS middleware with QF_CORS_ORIGINS (empty by default: every
  preflight is refused and no response allows another origin). It sits outside the key check,
  so a preflight — which carries no key — is answered there and never counted as a failed key.
* `JsonBodyMiddleware`: 415 for a body route whose Content-Type is not JSON, from the headers
  alone (after the key and the rate limit, before any body byte is read).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantumfinance_serving.security import header, send_json

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI and ReDoc from the API's own origin (fastapi-offline): styles are injected inline
# by both (style attributes, styled-components), ReDoc's search runs in a blob: worker, icons
# are data: URIs. Scripts run only from the origin or by hash.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
FIXED_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S | re.I)
# Headers a browser script may read on a cross-origin response (CORS hides the rest).
EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
]


def page_csp(html: bytes) -> str:
    """The policy of an HTML page: its own inline scripts, by hash, and nothing else inline."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return PAGE_CSP.format(hashes=hashes)


class SecurityHeadersMiddleware:
    """The headers above on every response; an HTML page is held back (a few hundred bytes,
    the app's own docs pages) until its inline scripts are hashed into its policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page: dict[str, Any] = {}  # the start message and body of an HTML page, held back

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in FIXED_HEADERS.items():
                    headers.setdefault(name, value)
                if "cache-control" not in headers and "etag" not in headers:
                    headers["cache-control"] = "no-store"
                if headers.get("content-type", "").startswith("text/html"):
                    page.update(start=message, body=b"")  # policy hashes its inline scripts
                    return
                headers.setdefault("content-security-policy", API_CSP)
            elif page and message["type"] == "http.response.body":
                page["body"] += message.get("body", b"")
                if message.get("more_body", False):
                    return
                start, body = page.pop("start"), page.pop("body")
                MutableHeaders(scope=start).setdefault("content-security-policy", page_csp(body))
                await send(start)
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, secured_send)


def cors_options(origins: list[str]) -> dict[str, Any]:
    """Starlette CORSMiddleware's options: only ``origins`` (none by default), GET and POST,
    the key and content-type headers, no cookies."""
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST"],
        "allow_headers": ["x-api-key", "content-type"],
        "expose_headers": EXPOSED_HEADERS,
        "allow_credentials": False,
        "max_age": 600,
    }


def is_json(content_type: bytes | None) -> bool:
    """``application/json`` or ``application/<something>+json``, parameters allowed."""
    if not content_type:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class JsonBodyMiddleware:
    """415 for a POST to one of ``paths`` (the routes that take a JSON body) whose Content-Type
    is missing or not JSON: such a body was scored as if it were JSON."""

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.paths
            and not is_json(header(scope, b"content-type"))
        ):
            await send_json(
                send,
                415,
                "the body must be JSON: send it with Content-Type: application/json",
                [(b"accept-post", b"application/json")],
            )
            return
        await self.app(scope, receive, send)
