"""How the API is put on a socket: uvicorn with the limits that must hold before any app code.

* h11 (not httptools): its `h11_max_incomplete_event_size` caps the request line and headers
  together (QF_MAX_HEADER_BYTES; over it the connection gets 400 and is closed), so neither huge
  nor very many headers are buffered. httptools has no such cap.
* `proxy_headers=False`: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1; the app
  applies it only for QF_TRUSTED_PROXIES (main.py).
"""

from __future__ import annotations

from typing import Any

import uvicorn

from quantumfinance_serving.logs import log_config
from quantumfinance_serving.settings import Settings

APP_FACTORY = "quantumfinance_serving.main:create_app"


def server_config(settings: Settings, app: Any = APP_FACTORY, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of `settings` for ``app`` (an app or the factory's path)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": "h11",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "proxy_headers": False,
        "server_header": False,
        "timeout_keep_alive": 5,
        "log_config": log_config(settings.log_level, settings.log_format),
        "log_level": settings.log_level,
        # Request logs carry the path and address only; keys never appear in them.
        "access_log": False,
        **overrides,
    }
    if isinstance(app, str):
        options.update(factory=True, workers=settings.workers)
    return uvicorn.Config(app, **options)


def run(settings: Settings) -> None:
    """Serve until stopped (several workers when QF_WORKERS > 1)."""
    config = server_config(settings)
    if config.workers > 1:
        # uvicorn.run builds the same Config from keywords; its supervisor needs the factory path.
        kwargs = {
            k: getattr(config, k)
            for k in ("host", "port", "http", "h11_max_incomplete_event_size", "proxy_headers")
        }
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            workers=config.workers,
            server_header=False,
            log_config=config.log_config,
            log_level=settings.log_level,
            access_log=False,
            **kwargs,
        )
        return
    uvicorn.Server(config).run()
