"""Choosing the model (on CV only) and calibrating its PD (on out-of-fold predictions)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from .candidates import CANDIDATES
from .evaluation import Calibrator, calibration_by_repeat, fit_calibrator, paired_gain

logger = logging.getLogger(__name__)

HIGHER_IS_BETTER = ("auc", "gini", "ks")  # metrics selection may rank by


def _checked(selection: dict[str, Any]) -> tuple[str, list[str]]:
    """The metric, and the eligible candidates simplest first; a clear error names the key."""
    metric = selection["metric"]
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(
            f"model_selection.metric: {metric!r} is not one of {', '.join(HIGHER_IS_BETTER)}"
        )
    order, eligible = list(selection["simplicity"]), list(selection["eligible"])
    for key, names in (("simplicity", order), ("eligible", eligible)):
        unknown = [n for n in names if n not in CANDIDATES]
        if unknown:
            raise ValueError(f"model_selection.{key}: unknown candidate(s) {unknown}")
    unranked = [n for n in eligible if n not in order]
    if unranked:
        raise ValueError(f"model_selection.simplicity: eligible candidate(s) {unranked} not ranked")
    if not eligible:
        raise ValueError("model_selection.eligible: no candidate")
    return metric, [n for n in order if n in eligible]


def compare_candidates(
    cv_results: pd.DataFrame, selection: dict[str, Any], cv: dict[str, Any]
) -> pd.DataFrame:
    """Every eligible candidate against every other on the same CV folds, simplest first.

    A candidate is *worse beyond the noise* than another when the other's mean per-fold gain
    over it exceeds ``min_gain`` AND the gain's 95 % interval (corrected repeated-CV t) lies
    above zero. The rule (docs/decisions/0010): the simplest candidate that is worse beyond the
    noise than none is chosen. Columns: the candidate's mean CV metric, the best candidate's
    gain over it with its interval, the candidate that beats it beyond the noise (if any) and
    whether it was chosen. ``force`` names a candidate outright (what-if runs, tests)."""
    metric, ranked = _checked(selection)
    means = cv_results.groupby("model")[metric].mean()
    best = max(ranked, key=lambda n: means[n])
    rows = []
    for rank, name in enumerate(ranked):
        gains = {
            other: paired_gain(cv_results, other, name, metric, cv["n_splits"])
            for other in ranked
            if other != name
        }
        beaten_by = [
            other for other, g in gains.items() if g["gain"] > selection["min_gain"] and g["lo"] > 0
        ]
        to_best = gains.get(best, {"gain": 0.0, "lo": 0.0, "hi": 0.0})
        rows.append(
            {
                "model": name,
                "simplicity_rank": rank + 1,
                f"cv_{metric}": float(means[name]),
                "gain_of_best": to_best["gain"],
                "gain_of_best_lo": to_best["lo"],
                "gain_of_best_hi": to_best["hi"],
                "beaten_beyond_noise_by": ", ".join(beaten_by),
            }
        )
    table = pd.DataFrame(rows)
    forced = selection.get("force")
    if forced:
        if forced not in CANDIDATES:
            raise ValueError(f"model_selection.force: unknown candidate {forced!r}")
        chosen = forced
    else:
        chosen = str(table.loc[table["beaten_beyond_noise_by"] == "", "model"].iloc[0])
    table["chosen"] = table["model"] == chosen
    if forced and not table["chosen"].any():
        table = pd.concat(
            [table, pd.DataFrame([{"model": forced, "chosen": True}])], ignore_index=True
        )
    table["forced"] = table["chosen"] & bool(forced)  # chosen by model_selection.force
    for row in table.itertuples():
        logger.info(
            "CV %s %s %.4f; %s gains %+.4f [%+.4f, %+.4f] on it; beaten by: %s",
            metric, row.model, getattr(row, f"cv_{metric}"), best, row.gain_of_best,
            row.gain_of_best_lo, row.gain_of_best_hi, row.beaten_beyond_noise_by or "none",
        )  # fmt: skip
    return table


def select_candidate(comparison: pd.DataFrame) -> str:
    """The candidate ``compare_candidates`` chose (the rule's answer, or ``force``)."""
    chosen = str(comparison.loc[comparison["chosen"].astype(bool), "model"].iloc[0])
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
