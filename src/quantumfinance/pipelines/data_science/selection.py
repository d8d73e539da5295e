"""Choosing the model (on CV only) and calibrating its PD (on out-of-fold predictions)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from .candidates import CANDIDATES, REFERENCE
from .evaluation import Calibrator, calibration_by_repeat, fit_calibrator, paired_gain

logger = logging.getLogger(__name__)


def select_candidate(
    cv_results: pd.DataFrame, selection: dict[str, Any], cv: dict[str, Any]
) -> str:
    """The documented rule, on CV only: the scorecard, unless an eligible candidate beats it on
    the same folds by more than ``min_gain`` with the gain's interval above zero (the best such
    gain wins). ``force`` names a candidate outright (what-if runs, tests)."""
    if selection.get("force"):
        if selection["force"] not in CANDIDATES:
            raise ValueError(f"model_selection.force: unknown candidate {selection['force']!r}")
        logger.info("Candidate forced by model_selection.force: %s", selection["force"])
        return selection["force"]
    metric, chosen, best_gain = selection["metric"], REFERENCE, selection["min_gain"]
    for name in selection["eligible"]:
        if name == REFERENCE:
            continue
        gain = paired_gain(cv_results, name, REFERENCE, metric, cv["n_splits"])
        logger.info(
            "CV %s gain of %s over the scorecard: %+.4f (95 %% interval %+.4f to %+.4f)",
            metric, name, gain["gain"], gain["lo"], gain["hi"],
        )  # fmt: skip
        if gain["gain"] > best_gain and gain["lo"] > 0:
            chosen, best_gain = name, gain["gain"]
    logger.info("Chosen candidate: %s", chosen)
    return chosen


def fit_calibration(
    cv_predictions: pd.DataFrame, chosen: str, calibration: dict[str, Any], seed: int
) -> tuple[Calibrator, pd.DataFrame]:
    """Choose Platt or isotonic by the cross-fitted Brier score on the chosen model's
    out-of-fold PDs, then fit it on all of them (never on rows the PD was fitted on)."""
    methods = list(calibration["methods"])
    table = calibration_by_repeat(
        cv_predictions, chosen, methods, calibration["n_splits"], seed
    ).assign(model=chosen)
    brier = table[table["method"] != "none"].groupby("method")["brier"].mean()
    method = str(brier.idxmin())
    calibrator = fit_calibrator(method, cv_predictions[chosen], cv_predictions["observed"])
    briers = ", ".join(f"{name} {value:.4f}" for name, value in brier.items())
    logger.info("Calibration of %s: %s (cross-fitted Brier: %s)", chosen, method, briers)
    return calibrator, table
