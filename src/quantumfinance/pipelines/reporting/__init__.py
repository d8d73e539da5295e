"""reporting: discrimination, calibration, stability, fairness and the model card of a ds run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
