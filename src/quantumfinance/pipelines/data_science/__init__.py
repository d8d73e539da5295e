"""data_science: WoE scorecard + challenger, evaluated and logged as a kedro-mlflow pipeline model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
