"""The model's input columns of a split, and whole portfolios scored by the inference node."""

from __future__ import annotations

from typing import Any

import pandas as pd

from quantumfinance.contract import ApplicantContract
from quantumfinance.scoring import ScoringModel

from .candidates import _features, _sample
from .inference import score_applicants


def applicant_features(
    applicants: pd.DataFrame, applicant_contract: ApplicantContract
) -> pd.DataFrame:
    """Drop id, target and non-model columns: exactly the model's input."""
    return _features(applicants, applicant_contract.feature_names).reset_index(drop=True)


def training_portfolio(
    applicants_train: pd.DataFrame, applicant_contract: ApplicantContract, params: dict[str, Any]
) -> pd.DataFrame:
    """Features of (a stratified sample of) the training split, scored for stability reports."""
    target = applicant_contract.target.name
    sample = _sample(applicants_train, params["train_scoring_max_rows"], params["seed"], target)
    return applicant_features(sample, applicant_contract)


def score_portfolio(scoring_model: ScoringModel, applicants: pd.DataFrame) -> pd.DataFrame:
    """Score a whole portfolio (e.g. the training split) with exactly the inference node."""
    return score_applicants(scoring_model, applicants)
