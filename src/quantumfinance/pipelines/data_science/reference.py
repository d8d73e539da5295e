"""The development-sample reference that monitoring compares a scored book against.

A *profile* counts a population the way monitoring reads it: applicants per score point, per
band, per decision and per bin of every characteristic, with the MODEL's own bins (the fitted
optbinning ``BinningProcess`` of the scorecard, ``transform(metric="indices")``). The training
run logs the development sample's profile (plus the bin labels) as an MLflow artifact, so
monitoring needs only the model URI and the new book; batch scoring profiles each partition
of the book with the same function, so both sides are counted identically.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from optbinning import BinningProcess

PROFILE_COLUMNS = ("score", "band", "decision")


def model_binning(credit_model: Any) -> BinningProcess:
    """The fitted binning of the model's scorecard (the bins every reason code refers to)."""
    return credit_model.scorecard.named_steps["woe"]


def credit_model_of(pyfunc_model: Any, artifact: str = "credit_model") -> Any:
    """The fitted credit model a logged inference pipeline carries (an artifact of its catalog)."""
    return pyfunc_model.unwrap_python_model().loaded_catalog.load(artifact)


def bin_labels(credit_model: Any) -> dict[str, list[str]]:
    """Per characteristic, the label of each bin index (bins, then Special, then Missing)."""
    binning = model_binning(credit_model)
    names = binning.get_support(names=True)
    return {
        name: binning.get_binned_variable(name)
        .binning_table.build(add_totals=False)["Bin"]
        .astype(str)
        .tolist()
        for name in names
    }


def _counts(values: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in pd.Series(values).value_counts(sort=False).items()}


def population_profile(
    credit_model: Any, features: pd.DataFrame, scored: pd.DataFrame
) -> dict[str, Any]:
    """Counts of one (part of a) population: per score, band, decision and model bin."""
    binning = model_binning(credit_model)
    names = list(binning.get_support(names=True))
    indices = (
        binning.transform(features[names], metric="indices")
        if len(features)
        else pd.DataFrame(columns=names)
    )
    return {
        "rows": len(scored),
        **{column: _counts(scored[column]) for column in PROFILE_COLUMNS},
        "characteristics": {name: _counts(indices[name]) for name in names},
    }


def _add(total: dict[str, int], part: dict[str, int]) -> dict[str, int]:
    return dict(Counter(total) + Counter(part))


def merge_profiles(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    """One profile of the whole population from the profiles of its parts."""
    merged: dict[str, Any] = {"rows": 0, **{c: {} for c in PROFILE_COLUMNS}, "characteristics": {}}
    for part in profiles:
        merged["rows"] += part["rows"]
        for column in PROFILE_COLUMNS:
            merged[column] = _add(merged[column], part[column])
        for name, counts in part["characteristics"].items():
            merged["characteristics"][name] = _add(merged["characteristics"].get(name, {}), counts)
    return merged


def development_reference(
    credit_model: Any,
    applicants_train_features: pd.DataFrame,
    scored_train_applicants: pd.DataFrame,
) -> dict[str, Any]:
    """The development sample's profile and the model's bin labels, logged with the model."""
    profile = population_profile(credit_model, applicants_train_features, scored_train_applicants)
    return {**profile, "bin_labels": bin_labels(credit_model)}
