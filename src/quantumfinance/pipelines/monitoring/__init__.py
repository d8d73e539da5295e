"""Monitoring: a scored book's stability against the development sample, and back-testing."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
