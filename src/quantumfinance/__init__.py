"""QuantumFinance: credit-scoring pipelines (ingest, data_engineering, data_science, reporting)."""

__version__ = "0.1.0"
