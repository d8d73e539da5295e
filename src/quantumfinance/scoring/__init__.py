"""The scoring runtime: a fitted credit model as plain arrays, and the one place that scores.

Ground floor of the house (ARCHITECTURE.md): numpy and pyarrow only -- no Kedro, MLflow,
optbinning, scikit-learn or per-call pandas on the scoring path. data_science builds the arrays
from the fitted candidates and proves them equal; the logged inference pipeline, the API and
every Dask partition call this package, and nobody else re-implements scoring.
"""

from quantumfinance.scoring.check import ApplicantsError, Checked, Inspection, check, inspect
from quantumfinance.scoring.model import Calibration, Feature, Policy, ScoringModel
from quantumfinance.scoring.score import Scored, score

__all__ = [
    "ApplicantsError",
    "Calibration",
    "Checked",
    "Feature",
    "Inspection",
    "Policy",
    "Scored",
    "ScoringModel",
    "check",
    "inspect",
    "score",
]
