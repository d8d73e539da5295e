"""The candidate models: WoE scorecard, monotone gradient-boosting challenger, their blend and
the one-hot baseline; fitted on the applicants' characteristics and default flag.

scikit-learn and optbinning are imported by the functions that use them (training only).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from quantumfinance.contract import ApplicantContract

from .evaluation import logit, sigmoid

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)


CANDIDATES = ("scorecard", "challenger", "blend", "baseline")


METRICS = ("auc", "gini", "ks", "brier")


def _features(applicants: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """The model's input columns in contract order; a clear error names any missing one."""
    missing = [c for c in features if c not in applicants.columns]
    if missing:
        raise ValueError(f"applicants is missing the characteristic column(s): {missing}")
    return applicants[list(features)]


def _sample(applicants: pd.DataFrame, max_rows: int | None, seed: int, target: str) -> pd.DataFrame:
    """A stratified sample of at most ``max_rows`` rows, so that fitting cost stays bounded."""
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 - training only

    if not max_rows or len(applicants) <= max_rows:
        return applicants
    kept, _ = train_test_split(
        applicants, train_size=max_rows, stratify=applicants[target], random_state=seed
    )
    logger.info(
        "Sampled %d of %d applicants (stratified, seed %d)", max_rows, len(applicants), seed
    )
    return kept.sort_index()


def evaluate_predictions(target: Any, pd_: Any) -> dict[str, float]:
    """AUC, Gini, KS and Brier of predicted PDs against the observed default flag."""
    from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve  # noqa: PLC0415

    auc = roc_auc_score(target, pd_)
    fpr, tpr, _ = roc_curve(target, pd_)
    return {
        "auc": float(auc),
        "gini": float(2 * auc - 1),
        "ks": float(np.max(tpr - fpr)),
        "brier": float(brier_score_loss(target, pd_)),
    }


def _scorecard_candidate(params: dict[str, Any], contract: ApplicantContract) -> Pipeline:
    """optbinning WoE binning followed by a logistic regression on the WoE values; its L2
    strength is tuned inside every fit by an inner CV on that fit's rows only (nested)."""
    from optbinning import BinningProcess  # noqa: PLC0415 - training only (module doc)
    from sklearn.linear_model import LogisticRegressionCV  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    woe = params["woe_binning"]
    binning = BinningProcess(
        variable_names=list(contract.feature_names),
        # pandas 3 string columns are not detected as categorical by optbinning 1.0.
        categorical_variables=list(contract.categorical_features),
        max_n_prebins=woe["max_n_prebins"],
        min_prebin_size=woe["min_prebin_size"],
        min_bin_size=woe["min_bin_size"],
        # The contract's trends of the default rate; the rest are left to the solver.
        binning_fit_params={
            c.name: {"monotonic_trend": c.monotonic_trend}
            for c in contract.features
            if c.monotonic_trend
        },
    )
    tuning = params["scorecard"]
    regression = LogisticRegressionCV(
        Cs=list(tuning["Cs"]),
        cv=tuning["inner_folds"],
        scoring="neg_log_loss",
        max_iter=1000,
        # Pure L2 (a scorecard keeps every binned characteristic) and the scikit-learn 1.10
        # attribute layout, both explicit so the run log carries no FutureWarning.
        l1_ratios=(0.0,),
        use_legacy_attributes=False,
    )
    return Pipeline([("woe", binning), ("regression", regression)])


MONOTONE = {"ascending": 1, "descending": -1}  # default-rate trend -> constraint on the PD


def _challenger_candidate(params: dict[str, Any], contract: ApplicantContract) -> Pipeline:
    """Gradient boosting with native categorical splits, constrained to the contract's monotone
    trends; its number of trees is tuned by early stopping on a slice of each fit's own rows."""
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415 - training only (module doc)
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OrdinalEncoder  # noqa: PLC0415

    # Unknown or missing categories become NaN, which gradient boosting routes natively.
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    encode = ColumnTransformer(
        [("categories", encoder, list(contract.categorical_features))],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    # Column order after the encoder: the categories, then the numbers (remainder).
    numbers = [contract.by_name[n] for n in contract.numeric_features]
    constraints = [0] * len(contract.categorical_features) + [
        MONOTONE.get(c.monotonic_trend or "", 0) for c in numbers
    ]
    boosting = HistGradientBoostingClassifier(
        categorical_features=list(range(len(contract.categorical_features))),
        monotonic_cst=constraints,
        random_state=params["seed"],
        **params["challenger"],
    )
    return Pipeline([("encode", encode), ("boosting", boosting)])


class Blend:
    """The scorecard and the challenger averaged on the log-odds scale (weight on the scorecard).

    Fitted parts in, no fitting of its own: in CV its PDs come from the parts' fold models."""

    def __init__(self, scorecard: Pipeline, challenger: Pipeline, weight: float) -> None:
        self.scorecard, self.challenger, self.weight = scorecard, challenger, weight

    @staticmethod
    def combine(scorecard_pd: Any, challenger_pd: Any, weight: float) -> np.ndarray:
        """PD of the blend from its parts' PDs."""
        return sigmoid(weight * logit(scorecard_pd) + (1 - weight) * logit(challenger_pd))

    def predict_proba(self, applicants: pd.DataFrame) -> np.ndarray:
        """Like a fitted classifier: columns P(good), P(bad)."""
        pd_ = self.combine(
            self.scorecard.predict_proba(applicants)[:, 1],
            self.challenger.predict_proba(applicants)[:, 1],
            self.weight,
        )
        return np.column_stack([1 - pd_, pd_])


def _baseline_candidate(params: dict[str, Any], contract: ApplicantContract) -> Pipeline:
    """One-hot categories + standardised numbers + logistic regression: the yardstick."""
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415 - training only (module doc)
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: PLC0415

    numeric = [contract.by_name[n] for n in contract.numeric_features]
    # Numbers the contract lets be missing get the median plus a was-missing indicator.
    with_missing = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]
    )
    encode = ColumnTransformer(
        [
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore"),
                list(contract.categorical_features),
            ),
            ("numbers", StandardScaler(), [c.name for c in numeric if not c.nullable]),
            ("nullable_numbers", with_missing, [c.name for c in numeric if c.nullable]),
        ]
    )
    regression = LogisticRegression(C=params["baseline"]["C"], max_iter=1000)
    return Pipeline([("encode", encode), ("regression", regression)])


def build_candidates(params: dict[str, Any], contract: ApplicantContract) -> dict[str, Pipeline]:
    """Unfitted scorecard (WoE + LR), challenger (monotone gradient boosting) and one-hot LR
    baseline; the blend is made of the fitted scorecard and challenger."""
    return {
        "scorecard": _scorecard_candidate(params, contract),
        "challenger": _challenger_candidate(params, contract),
        "baseline": _baseline_candidate(params, contract),
    }


def _fit(
    candidate: Pipeline, applicants: pd.DataFrame, contract: ApplicantContract, threads: int
) -> Pipeline:
    """Fit a clone of an unfitted candidate on applicants with their default flag."""
    from sklearn.base import clone  # noqa: PLC0415 - training only (module doc)

    # OpenMP spin-waiting makes gradient boosting many times slower on small data and busy cores.
    with threadpool_limits(limits=threads):
        return clone(candidate).fit(
            _features(applicants, contract.feature_names), applicants[contract.target.name]
        )
