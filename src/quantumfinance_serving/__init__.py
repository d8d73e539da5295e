"""QuantumFinance scoring API: hosts the registered `credit-score` pipeline model over HTTP."""

from __future__ import annotations

from typing import Any

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m quantumfinance_serving.keys` starts without FastAPI and pandas.
    if name == "create_app":
        from quantumfinance_serving.main import create_app  # noqa: PLC0415

        return create_app
    if name == "Settings":
        from quantumfinance_serving.settings import Settings  # noqa: PLC0415

        return Settings
    raise AttributeError(name)
