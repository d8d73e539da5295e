"""QuantumFinance scoring API: hosts the registered `credit-score` pipeline model over HTTP."""

from quantumfinance_serving.main import create_app
from quantumfinance_serving.settings import Settings

__all__ = ["Settings", "create_app"]
