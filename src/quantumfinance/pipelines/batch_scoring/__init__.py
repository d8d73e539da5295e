"""Batch scoring: the whole book scored by the registered model on Dask."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
