"""The development-sample reference that monitoring compares a scored book against.

The profile (quantumfinance.scoring.profile) of the training applicants as the runtime scores
them, plus the label of every scorecard bin (from optbinning's binning table). The training run
logs it as an MLflow artifact, so monitoring needs only the model URI and the new book; batch
scoring profiles each partition of the book with the same function.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from quantumfinance.columns import frame_columns
from quantumfinance.scoring import ScoringModel, check, score
from quantumfinance.scoring.profile import population_profile

from .tables import bin_label


def bin_labels(scorecard: Any) -> dict[str, list[str]]:
    """Per characteristic, the label of each bin index (bins, then Special, then Missing)."""
    binning = scorecard.named_steps["woe"]
    return {
        name: [
            bin_label(b)
            for b in binning.get_binned_variable(name).binning_table.build(add_totals=False)["Bin"]
        ]
        for name in binning.get_support(names=True)
    }


def development_reference(
    scoring_model: ScoringModel,
    fitted_candidates: dict[str, Any],
    applicants_train_features: pd.DataFrame,
) -> dict[str, Any]:
    """The development sample's profile and the model's bin labels, logged with the model."""
    columns = frame_columns(applicants_train_features, scoring_model.feature_names)
    scored = score(scoring_model, check(scoring_model, columns))
    profile = population_profile(scoring_model, scored)
    return {**profile, "bin_labels": bin_labels(fitted_candidates["scorecard"])}
