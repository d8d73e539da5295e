"""Counts of a scored population the way monitoring reads them.

Per score point, band, decision and per bin of every characteristic -- the scorecard's own bins,
as optbinning numbers them (its bin index of each slot, fixed at build time). Batch scoring
profiles each partition from the slots the scorer already found (no second binning); the
training run profiles the development sample with the same function, so both sides are counted
identically and profiles of parts add up to the profile of the whole.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from quantumfinance.scoring.model import ScoringModel
from quantumfinance.scoring.score import Scored

PROFILE_COLUMNS = ("score", "band", "decision")


def _counts(values: np.ndarray, labels: Any = None) -> dict[str, int]:
    found, counts = np.unique(values, return_counts=True)
    keys = found.tolist() if labels is None else [labels[i] for i in found.tolist()]
    return {str(k): int(n) for k, n in zip(keys, counts.tolist(), strict=True)}


def population_profile(model: ScoringModel, scored: Scored) -> dict[str, Any]:
    """Counts of one (part of a) population: per score, band, decision and model bin."""
    policy = model.policy
    decision_of_band = np.array(policy.decisions, dtype=object)
    return {
        "rows": len(scored),
        "score": _counts(scored.score),
        "band": _counts(scored.band, policy.bands),
        "decision": _counts(decision_of_band[scored.band]) if len(scored) else {},
        "characteristics": {
            f.name: _counts(f.bin_index[scored.slots[:, j]]) for j, f in enumerate(model.features)
        },
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
