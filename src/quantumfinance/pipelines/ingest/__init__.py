"""Ingest: bring applicants from the chosen source into `raw_applicants` (data/01_raw)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
