"""The run's figures: CV with intervals per candidate, test figures, calibration, stability."""

from __future__ import annotations

from typing import Any

import pandas as pd

from quantumfinance.contract import ApplicantContract

from .candidates import METRICS, evaluate_predictions
from .evaluation import Calibrator, calibration_figures, corrected_interval, mean_interval


def _cv_figures(cv_results: pd.DataFrame, n_splits: int) -> dict[str, float]:
    """Mean, std and corrected 95 % interval of every CV figure of every candidate."""
    metrics: dict[str, float] = {}
    for name, part in cv_results.groupby("model"):
        for metric in METRICS:
            values = part[metric].to_numpy()
            lo, hi = corrected_interval(values, n_splits)
            metrics[f"cv_{metric}_{name}"] = float(values.mean())
            metrics[f"cv_{metric}_{name}_std"] = float(values.std(ddof=1))
            metrics[f"cv_{metric}_{name}_lo"], metrics[f"cv_{metric}_{name}_hi"] = lo, hi
    return metrics


def _calibration_figures(cv_calibration: pd.DataFrame, method: str) -> dict[str, float]:
    """The chosen calibration's out-of-fold figures (mean and interval over the CV repeats),
    next to those of the raw PDs."""
    metrics: dict[str, float] = {}
    for suffix, part in (
        ("", cv_calibration[cv_calibration["method"] == method]),
        ("_uncalibrated", cv_calibration[cv_calibration["method"] == "none"]),
    ):
        for figure in ("calibration_slope", "citl_points", "brier"):
            key = f"cv_{figure}_oof{suffix}"
            lo, hi = mean_interval(part[figure])
            metrics[key], metrics[f"{key}_lo"], metrics[f"{key}_hi"] = (
                float(part[figure].mean()),
                lo,
                hi,
            )
    # The gate's and the card's names of the chosen calibration's figures.
    for figure in ("calibration_slope", "citl_points"):
        for end in ("", "_lo", "_hi"):
            metrics[f"cv_{figure}{end}"] = metrics[f"cv_{figure}_oof{end}"]
    metrics["calibration_isotonic"] = float(method == "isotonic")
    return metrics


def model_metrics(
    cv_results: pd.DataFrame,
    cv_calibration: pd.DataFrame,
    test_results: pd.DataFrame,
    chosen: str,
    calibrator: Calibrator,
    scored_test: pd.DataFrame,
    scored_train: pd.DataFrame,
    applicants_test: pd.DataFrame,
    applicant_contract: ApplicantContract,
    params: dict[str, Any],
    verification: dict[str, float],
) -> dict[str, float]:
    """Flat metrics: CV figures with intervals per candidate, test figures per candidate, the
    chosen model's CV figures, its out-of-fold calibration and its served (calibrated) test
    figures, and the train-vs-test score PSI (the gate's stability check)."""
    from quantumfinance.pipelines.reporting.nodes import score_psi  # noqa: PLC0415 - training

    metrics = _cv_figures(cv_results, params["cv"]["n_splits"])
    for name, row in test_results.set_index("model").iterrows():
        metrics.update({f"test_{m}_{name}": float(row[m]) for m in METRICS})
    for metric in METRICS:
        for suffix in ("", "_std", "_lo", "_hi"):
            metrics[f"cv_{metric}{suffix}"] = metrics[f"cv_{metric}_{chosen}{suffix}"]
    metrics.update(_calibration_figures(cv_calibration, calibrator.method))
    observed = applicants_test[applicant_contract.target.name].to_numpy()
    served = scored_test["pd"].to_numpy()
    metrics.update({f"test_{m}": v for m, v in evaluate_predictions(observed, served).items()})
    test_calibration = calibration_figures(observed, served)
    metrics["test_calibration_slope"] = test_calibration["calibration_slope"]
    metrics["test_citl_points"] = test_calibration["citl_points"]
    metrics["score_psi"] = score_psi(
        scored_train["score"], scored_test["score"], params["psi_buckets"]
    )
    metrics.update(verification)  # the runtime's proof of equality with the fitted candidate
    return metrics


def pending_promotion(promotion: dict[str, Any]) -> dict[str, Any]:
    """The gate's decision as this run leaves it: pending until its version is registered."""
    rules = {k: v for k, v in promotion.items() if k != "bootstrap"}
    return {
        "version": None,
        "promoted": None,
        "reason": "pending: the gate runs once this run's model version is registered",
        "champion": None,
        "evidence": {"rules": rules},
    }


def mlflow_metrics(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """The metrics in kedro-mlflow's MlflowMetricsHistoryDataset format."""
    return {name: {"value": value, "step": 0} for name, value in metrics.items()}
