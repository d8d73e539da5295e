"""The scoring model as stored inside a logged MLflow model (read without MLflow or Kedro)."""

from __future__ import annotations

from pathlib import Path

import yaml

from quantumfinance.scoring.model import ScoringModel


def load_scoring_model(model_dir: str | Path) -> ScoringModel:
    """The scoring model inside a downloaded MLflow model (the inference pipeline's artifact),
    read without loading the pipeline: what the API and batch workers score with."""
    root = Path(model_dir)
    mlmodel = yaml.safe_load((root / "MLmodel").read_text(encoding="utf-8"))
    artifacts = mlmodel.get("flavors", {}).get("python_function", {}).get("artifacts") or {}
    entry = artifacts.get("scoring_model")
    if entry is None:
        raise ValueError(
            f"{root}: the model has no scoring_model artifact (a model logged before the scoring "
            "runtime; retrain it)"
        )
    return ScoringModel.from_json((root / entry["path"]).read_bytes())
