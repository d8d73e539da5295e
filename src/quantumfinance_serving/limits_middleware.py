"""Refuse request bodies over QF_MAX_BODY_BYTES with 413 before reading them whole."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantumfinance_serving.security import send_json


class BodyTooLarge(HTTPException):
    """An HTTPException so FastAPI's body reader re-raises it as 413, not as a 400 parse error."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds {max_bytes} bytes (QF_MAX_BODY_BYTES)")


class MaxBodySizeMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        detail = f"request body exceeds {self.max_bytes} bytes (QF_MAX_BODY_BYTES)"
        await send_json(send, 413, detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)


class MaxHeadersMiddleware:
    """431 for a request whose headers exceed QF_MAX_HEADER_BYTES in total or
    QF_MAX_HEADER_COUNT in number.

    uvicorn's h11 cap (server.py) bounds what is buffered while a head is incomplete; a head
    that arrives complete in one read is parsed whole, so its size and count are checked here,
    before any other work."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_count: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_count = max_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = sum(len(name) + len(value) + 4 for name, value in headers)
            if len(headers) > self.max_count or size > self.max_bytes:
                detail = (
                    f"request headers exceed {self.max_count} fields or {self.max_bytes} bytes "
                    "(QF_MAX_HEADER_COUNT, QF_MAX_HEADER_BYTES)"
                )
                await send_json(send, 431, detail)
                return
        await self.app(scope, receive, send)
