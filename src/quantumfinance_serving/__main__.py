"""`python -m quantumfinance_serving`: run the API with uvicorn (settings from QF_* variables)."""

from __future__ import annotations

import logging

import uvicorn

from quantumfinance_serving.settings import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "quantumfinance_serving.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        # Request logs carry the path and address only; keys never appear in them.
        access_log=False,
    )


if __name__ == "__main__":
    main()
