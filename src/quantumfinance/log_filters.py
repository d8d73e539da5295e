"""Library warnings in the run log: plain text, one line, and none that a user cannot act on.

``settings.py`` turns warnings into records of the ``py.warnings`` logger
(``logging.captureWarnings``), so they take the run log's format (conf/logging.yml) instead of
being printed raw to stderr, and puts :class:`PlainWarnings` on that logger.
"""

from __future__ import annotations

import logging
import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colour codes (MLflow colours its warnings)

# Warnings about code that is neither the project's nor in its users' hands, with why:
NOT_ACTIONABLE = {
    # MLflow warns when any PythonModel subclass is defined without type hints on `predict`;
    # kedro-mlflow's KedroPipelineModel (kedro-mlflow 2.0.3, the latest) is one, and kedro
    # imports it with its CLI plugin before any pipeline runs. The model it wraps checks its
    # inputs against the applicant contract on every predict, which is what the hint would buy.
    "Add type hints to the `predict` method": "kedro-mlflow's KedroPipelineModel",
}


class PlainWarnings(logging.Filter):
    """Strip colour codes from warning records; drop the known not-actionable ones."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = ANSI.sub("", record.getMessage())
        if any(known in text for known in NOT_ACTIONABLE):
            return False
        record.msg, record.args = text, None
        return True
