"""Training nodes: repeated cross-validation of every candidate, the final fits, test figures."""

from __future__ import annotations

from typing import Any

import pandas as pd

from quantumfinance.contract import ApplicantContract
from quantumfinance.progress import track

from .candidates import (
    CANDIDATES,
    Blend,
    _features,
    _fit,
    _sample,
    build_candidates,
    evaluate_predictions,
)


def cross_validate_candidates(
    applicants_train: pd.DataFrame, applicant_contract: ApplicantContract, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repeated stratified k-fold CV of every candidate on the training split: figures per fold,
    and every repeat's out-of-fold PDs (for calibration). Tuning happens inside each fit."""
    from sklearn.model_selection import RepeatedStratifiedKFold  # noqa: PLC0415 - training only

    target, features = applicant_contract.target.name, applicant_contract.feature_names
    data = _sample(applicants_train, params["cv"]["max_rows"], params["seed"], target)
    cv = params["cv"]
    folds = RepeatedStratifiedKFold(
        n_splits=cv["n_splits"], n_repeats=cv["n_repeats"], random_state=params["seed"]
    )
    candidates = build_candidates(params, applicant_contract)
    observed = data[target].to_numpy()
    rows, predictions = [], []
    splits = folds.split(data, observed)
    total = cv["n_splits"] * cv["n_repeats"]
    for i, (fit_idx, val_idx) in enumerate(track(splits, "Cross-validating candidates", total)):
        repeat, fold = divmod(i, cv["n_splits"])
        held_out = _features(data.iloc[val_idx], features)
        pds = {
            name: _fit(c, data.iloc[fit_idx], applicant_contract, params["threads"]).predict_proba(
                held_out
            )[:, 1]
            for name, c in candidates.items()
        }
        pds["blend"] = Blend.combine(pds["scorecard"], pds["challenger"], params["blend"]["weight"])
        for name in CANDIDATES:
            metrics = evaluate_predictions(observed[val_idx], pds[name])
            rows.append({"model": name, "repeat": repeat, "fold": fold, **metrics})
        predictions.append(
            pd.DataFrame({"repeat": repeat, "row": val_idx, "observed": observed[val_idx], **pds})
        )
    return pd.DataFrame(rows), pd.concat(predictions, ignore_index=True)


def fit_candidates(
    applicants_train: pd.DataFrame, applicant_contract: ApplicantContract, params: dict[str, Any]
) -> dict[str, Any]:
    """Fit scorecard, challenger and baseline on the (bounded) training split; blend the first two."""
    target = applicant_contract.target.name
    data = _sample(applicants_train, params["fit_max_rows"], params["seed"], target)
    candidates = build_candidates(params, applicant_contract)
    fitted = {
        name: _fit(c, data, applicant_contract, params["threads"])
        for name, c in track(candidates.items(), "Fitting candidates", len(candidates))
    }
    fitted["blend"] = Blend(fitted["scorecard"], fitted["challenger"], params["blend"]["weight"])
    return fitted


def evaluate_on_test(
    fitted_candidates: dict[str, Any],
    applicants_test: pd.DataFrame,
    applicant_contract: ApplicantContract,
) -> pd.DataFrame:
    """Test-split AUC, Gini, KS and Brier per candidate (reported, never used for selection)."""
    features = _features(applicants_test, applicant_contract.feature_names)
    observed = applicants_test[applicant_contract.target.name]
    rows = []
    for name in CANDIDATES:
        pd_ = fitted_candidates[name].predict_proba(features)[:, 1]
        rows.append({"model": name, **evaluate_predictions(observed, pd_)})
    return pd.DataFrame(rows)
