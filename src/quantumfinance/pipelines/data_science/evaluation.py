"""Honest estimates: intervals of repeated-CV figures, out-of-fold calibration and its checks.

Decision record: docs/decisions/0010-model-selection-calibration-gate.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# scipy.stats and scikit-learn are imported by the functions that fit or test: the Calibrator a
# loaded model applies is plain numpy, and a server that loads the model never imports them.

PD_FLOOR = 1e-6  # PDs are kept inside (0, 1) so that log-odds stay finite


def logit(pd_: Any) -> np.ndarray:
    """Log-odds of default of PDs (clipped away from 0 and 1)."""
    p = np.clip(np.asarray(pd_, dtype="float64"), PD_FLOOR, 1 - PD_FLOOR)
    return np.log(p / (1 - p))


def sigmoid(x: Any) -> np.ndarray:
    """PD of log-odds of default."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype="float64")))


def corrected_interval(values: Any, n_splits: int, level: float = 0.95) -> tuple[float, float]:
    """Interval of the mean of repeated k-fold figures with Nadeau & Bengio's corrected variance.

    Fold figures share training rows, so the plain standard error understates the noise; the
    correction inflates the variance by ``1/J + n_test/n_train`` (= ``1/(k-1)`` for k folds).
    """
    from scipy import stats  # noqa: PLC0415 - see the module's imports

    x = np.asarray(values, dtype="float64")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean
    se = float(x.std(ddof=1)) * math.sqrt(1 / len(x) + 1 / (n_splits - 1))
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1)) * se
    return mean - half, mean + half


def mean_interval(values: Any, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of independent figures (e.g. one per CV repeat)."""
    from scipy import stats  # noqa: PLC0415 - see the module's imports

    x = np.asarray(values, dtype="float64")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean
    half = (
        float(stats.t.ppf(0.5 + level / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    )
    return mean - half, mean + half


@dataclass(frozen=True)
class Calibrator:
    """Maps a model's raw PD to a calibrated PD: Platt (``sigmoid``) or ``isotonic``.

    Held as plain numbers (slope/intercept on the log-odds, or isotonic thresholds) so that
    inference is one numpy expression.
    """

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def apply(self, raw_pd: Any) -> np.ndarray:
        """Calibrated PD of raw PDs."""
        if self.method == "isotonic":
            pd_ = np.interp(np.asarray(raw_pd, dtype="float64"), self.x, self.y)
            return np.clip(pd_, PD_FLOOR, 1 - PD_FLOOR)
        return sigmoid(self.slope * logit(raw_pd) + self.intercept)


def fit_calibrator(method: str, raw_pd: Any, observed: Any) -> Calibrator:
    """Fit Platt scaling (logistic regression on the log-odds) or isotonic regression."""
    from sklearn.isotonic import IsotonicRegression  # noqa: PLC0415 - see the module's imports
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - see the module's imports

    y = np.asarray(observed, dtype="int64")
    if method == "sigmoid":
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(logit(raw_pd).reshape(-1, 1), y)
        return Calibrator("sigmoid", float(platt.coef_[0, 0]), float(platt.intercept_[0]))
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=PD_FLOOR, y_max=1 - PD_FLOOR)
        iso.fit(np.asarray(raw_pd, dtype="float64"), y)
        return Calibrator("isotonic", x=tuple(iso.X_thresholds_), y=tuple(iso.y_thresholds_))
    raise ValueError(f"calibration method must be 'sigmoid' or 'isotonic', not {method!r}")


def calibration_figures(observed: Any, pd_: Any) -> dict[str, float]:
    """Calibration slope and intercept (logistic recalibration), calibration-in-the-large in
    percentage points (mean PD minus observed rate), Brier score and AUC."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - see the module's imports
    from sklearn.metrics import (  # noqa: PLC0415 - see the module's imports
        brier_score_loss,
        roc_auc_score,
    )

    y = np.asarray(observed, dtype="int64")
    p = np.asarray(pd_, dtype="float64")
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(logit(p).reshape(-1, 1), y)
    return {
        "calibration_slope": float(fit.coef_[0, 0]),
        "citl_points": float(100 * (p.mean() - y.mean())),
        "brier": float(brier_score_loss(y, p)),
        "auc": float(roc_auc_score(y, p)),
    }


def cross_fitted_calibration(
    observed: np.ndarray, raw_pd: np.ndarray, method: str, n_splits: int, seed: int
) -> np.ndarray:
    """Calibrated out-of-fold PDs: each fold's calibrator fitted on the other folds' PDs only."""
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415 - see the module's imports

    calibrated = np.empty_like(raw_pd, dtype="float64")
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    for fit_idx, val_idx in folds.split(raw_pd.reshape(-1, 1), observed):
        calibrator = fit_calibrator(method, raw_pd[fit_idx], observed[fit_idx])
        calibrated[val_idx] = calibrator.apply(raw_pd[val_idx])
    return calibrated


def calibration_by_repeat(
    predictions: pd.DataFrame, model: str, methods: list[str], n_splits: int, seed: int
) -> pd.DataFrame:
    """Calibration figures of each method's cross-fitted PDs on each CV repeat's out-of-fold
    predictions of ``model`` (plus the raw PDs, method ``none``)."""
    rows = []
    for repeat, part in predictions.groupby("repeat"):
        observed = part["observed"].to_numpy(dtype="int64")
        raw = part[model].to_numpy(dtype="float64")
        for method in ["none", *methods]:
            pd_ = (
                raw
                if method == "none"
                else cross_fitted_calibration(observed, raw, method, n_splits, seed + int(repeat))
            )
            rows.append({"repeat": repeat, "method": method, **calibration_figures(observed, pd_)})
    return pd.DataFrame(rows)


def paired_gain(
    cv_results: pd.DataFrame, candidate: str, reference: str, metric: str, n_splits: int
) -> dict[str, float]:
    """Mean per-fold gain of ``candidate`` over ``reference`` (same folds) and its interval."""
    table = cv_results.pivot_table(index=["repeat", "fold"], columns="model", values=metric)
    gain = (table[candidate] - table[reference]).to_numpy()
    lo, hi = corrected_interval(gain, n_splits)
    return {"gain": float(gain.mean()), "lo": lo, "hi": hi}


def rank_auc(observed: np.ndarray, score: np.ndarray) -> float:
    """AUC as the Mann-Whitney statistic (ties count half): roc_auc_score's value without its
    per-call checks, for the bootstrap's thousand calls."""
    from scipy import stats  # noqa: PLC0415 - see the module's imports

    ranks = stats.rankdata(score)
    bad = observed == 1
    n_bad = int(bad.sum())
    n_good = len(observed) - n_bad
    return float((ranks[bad].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def bootstrap_auc_difference(
    observed: Any, candidate_pd: Any, champion_pd: Any, n_boot: int, seed: int
) -> dict[str, float]:
    """Paired bootstrap of AUC(candidate) - AUC(champion) on the same rows: mean and 95 % range."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - see the module's imports

    y = np.asarray(observed, dtype="int64")
    a, b = np.asarray(candidate_pd, dtype="float64"), np.asarray(champion_pd, dtype="float64")
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():  # a resample with one class has no AUC
            continue
        diffs.append(rank_auc(y[idx], a[idx]) - rank_auc(y[idx], b[idx]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {
        "auc_difference": float(roc_auc_score(y, a) - roc_auc_score(y, b)),
        "auc_difference_lo": float(lo),
        "auc_difference_hi": float(hi),
    }
