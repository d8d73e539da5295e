"""The API's one log format: text lines or JSON lines (QF_LOG_FORMAT), for its own and uvicorn's
loggers alike."""

from __future__ import annotations

import logging.config
import os
from pathlib import Path
from typing import Any

FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config(level: str, fmt: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict (also uvicorn's `log_config`): one handler on stderr."""
    formatter: dict[str, Any] = (
        {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": FIELDS, "timestamp": False}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"qf": formatter},
        "handlers": {
            "qf": {
                "class": "logging.StreamHandler",
                "formatter": "qf",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["qf"], "level": level.upper()},
        "loggers": {
            **{
                name: {"handlers": [], "level": level.upper(), "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
        },
    }


# Kedro configures logging itself when first imported (its rich console handler, or the
# project's conf/logging.yml when started from a project root): pointed at this file, it
# leaves the API's configuration as it is.
KEDRO_LOGGING = Path(__file__).with_name("kedro_logging.yml")


def configure(level: str, fmt: str) -> dict[str, Any]:
    """Apply the format to this process now; returns the dict for uvicorn to apply again.

    Python warnings (e.g. MLflow's when a model loads) go through the same handler."""
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(KEDRO_LOGGING))
    config = log_config(level, fmt)
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    return config
