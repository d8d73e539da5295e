"""How the API is put on a socket: uvicorn with the limits that must hold before any app code.

* h11 (not httptools): its `h11_max_incomplete_event_size` caps the request line and headers
  together (QF_MAX_HEADER_BYTES; over it the connection gets 400 and is closed), so neither huge
  nor very many headers are buffered. httptools has no such cap.
* Connection time is bounded (`TimedH11Protocol`): a connection with no request under way is
  closed after QF_KEEP_ALIVE_TIMEOUT_SECONDS, also before its first request (uvicorn arms that
  timer only after a response), and a request head still incomplete QF_HEAD_TIMEOUT_SECONDS
  after its first byte gets 408 and is closed (uvicorn has no such timer: a head sent a byte at
  a time held its connection for ever); a body still incomplete QF_BODY_TIMEOUT_SECONDS after
  its head likewise (a complete head followed by a trickled body). A subclass of uvicorn's own h11 protocol, ~40 lines,
  rather than another server (granian has a header-read timeout, but not h11's head-size cap,
  our log set-up or the tests' in-thread server): everything else stays uvicorn's.
* QF_MAX_CONNECTIONS is uvicorn's `limit_concurrency`: past that many open connections (or
  requests in flight) a request is answered 503 at once, before the app, instead of running
  the process out of file descriptors and memory.
* `proxy_headers=False`: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1; the app
  applies it only for QF_TRUSTED_PROXIES (main.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from quantumfinance_serving.logs import log_config
from quantumfinance_serving.settings import Settings

APP_FACTORY = "quantumfinance_serving.main:create_app"


def _request_timeout(detail: bytes) -> bytes:
    body = b'{"detail": "%s"}' % detail
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
    )


REQUEST_TIMEOUT = _request_timeout(b"request head incomplete in time (QF_HEAD_TIMEOUT_SECONDS)")
BODY_TIMEOUT = _request_timeout(b"request body incomplete in time (QF_BODY_TIMEOUT_SECONDS)")
logger = logging.getLogger("uvicorn.error")


class ServingConfig(uvicorn.Config):
    """uvicorn's Config plus the head timeout its protocol has no option for (an attribute
    survives the pickling that hands the config to worker processes)."""

    def __init__(
        self, app: Any, *, head_timeout: float = 10.0, body_timeout: float = 30.0, **options: Any
    ) -> None:
        super().__init__(app, **options)
        self.head_timeout, self.body_timeout = head_timeout, body_timeout


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with an idle timer from the first moment and a head deadline."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.head_timeout: float = getattr(config, "head_timeout", 10.0)
        self.body_timeout: float = getattr(config, "body_timeout", 30.0)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # No request yet: idle, like a kept-alive connection between two requests.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start parsing a pipelined, partial next head
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        """Arm the head deadline at a head's first byte (not again for later bytes: a head sent
        a byte at a time must not extend it); once the head is complete, the body deadline in
        the same way; disarm each when its part is complete."""
        state = self.conn.their_state
        if state is h11.IDLE:
            self._cancel_body_timer()
            if self._head_timer is None and self.conn.trailing_data[0]:
                self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)
            return
        self._cancel_head_timer()
        if state is h11.SEND_BODY:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)
        else:
            self._cancel_body_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        """A body still incomplete: 408 unless a response has begun, then close either way
        (the app, waiting for the body, sees the client gone)."""
        self._body_timer = None
        if not self.transport.is_closing():
            logger.debug("closing a connection whose request body was incomplete after %ss",
                         self.body_timeout)  # fmt: skip
            cycle = getattr(self, "cycle", None)
            if cycle is None or not cycle.response_started:
                self.transport.write(BODY_TIMEOUT)
            self.transport.close()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            logger.debug("closing a connection whose request head was incomplete after %ss",
                         self.head_timeout)  # fmt: skip
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()


def server_config(settings: Settings, app: Any = APP_FACTORY, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of `settings` for ``app`` (an app or the factory's path)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": TimedH11Protocol,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "head_timeout": settings.head_timeout_seconds,
        "body_timeout": settings.body_timeout_seconds,
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "limit_concurrency": settings.max_connections,
        "proxy_headers": False,
        "server_header": False,
        "log_config": log_config(settings.log_level, settings.log_format),
        "log_level": settings.log_level,
        # Request logs carry the path and address only; keys never appear in them.
        "access_log": False,
        **overrides,
    }
    if isinstance(app, str):
        options.update(factory=True, workers=settings.workers)
    return ServingConfig(app, **options)


def run(settings: Settings) -> None:
    """Serve until stopped (several worker processes, as `uvicorn.run` starts them, when
    QF_WORKERS > 1: each gets this same config)."""
    config = server_config(settings)
    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
