"""Data engineering: validate raw applicants (pandera), quarantine bad rows, split for modelling."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
