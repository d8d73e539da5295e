"""Credit model nodes: WoE scorecard, challenger, baseline, evaluation and the scoring semantics.

Training nodes fit and evaluate; the inference nodes (``predict_default_probability``,
``characteristic_points``, ``score_applicants``) are the ONLY place where PD -> points -> band ->
decision -> reason codes is computed. They are logged by kedro-mlflow as the model.

scikit-learn and optbinning are imported by the training functions that use them: a loaded
scorecard scores with numpy alone (WoE lookup, regression arrays), so a server never imports
them (~2 s and ~2 s of its start -> ready on a 2-core box).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import expit
from threadpoolctl import ThreadpoolController, threadpool_limits

from quantumfinance import stable_pickle
from quantumfinance.columns import Columns
from quantumfinance.contract import ApplicantContract, Characteristic, ContractError
from quantumfinance.progress import track

from .evaluation import (
    Calibrator,
    calibration_by_repeat,
    calibration_figures,
    corrected_interval,
    fit_calibrator,
    logit,
    mean_interval,
    paired_gain,
    sigmoid,
)
from .explain import (
    Attribution,
    Ranked,
    ReasonTexts,
    counterfactual_attribution,
    item_texts,
    probe_values,
    ranked_reasons,
    reason_texts_of,
)

if TYPE_CHECKING:
    from optbinning import BinningProcess
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)
CANDIDATES = ("scorecard", "challenger", "blend", "baseline")
REFERENCE = "scorecard"  # the interpretable reference every other candidate must beat
METRICS = ("auc", "gini", "ks", "brier")


SMALL_INPUT = 256  # rows up to which a Python loop beats pandas' per-call overhead


@dataclass(frozen=True)
class BinLookup:
    """One characteristic's fitted bins as plain arrays, so inference needs no optbinning transform.

    Numeric: ``bin_woe[i]`` is the WoE of ``[splits[i-1], splits[i])`` (optbinning's
    ``np.digitize(right=False)``). Categorical: ``category_woe`` per fitted category and
    ``unknown_woe`` for any other value. Missing values get ``missing_woe``.
    """

    missing_woe: float
    splits: np.ndarray | None = None
    bin_woe: np.ndarray | None = None
    category_woe: dict[str, float] | None = None
    unknown_woe: float = 0.0

    def woe_of(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """WoE of each value's bin, exactly as ``OptimalBinning.transform(metric="woe")``."""
        if self.category_woe is None:
            # np.asarray on the array (not the Series) is the cheap path; pd.NA becomes NaN.
            x = np.asarray(getattr(values, "array", values), dtype="float64")
            woe = self.bin_woe[np.searchsorted(self.splits, x, side="right")]
            woe[np.isnan(x)] = self.missing_woe
            return woe
        items = getattr(values, "array", values)
        if len(items) <= SMALL_INPUT:  # a request: a dict lookup per value
            items = np.asarray(items, dtype=object)
            woe = np.array([self.category_woe.get(v, self.unknown_woe) for v in items], float)
            woe[pd.isna(items)] = self.missing_woe
            return woe
        # Few distinct values per call: look each up once. factorize codes missing values as -1.
        codes, uniques = pd.factorize(items)
        table = [self.category_woe.get(u, self.unknown_woe) for u in uniques]
        return np.array([*table, self.missing_woe])[codes]


@dataclass
class CreditModel:
    """Everything the inference pipeline needs: the chosen estimator, the scorecard, the policy."""

    chosen: str
    estimator: Any  # the chosen fitted candidate (a Pipeline, or a Blend of two)
    scorecard: Pipeline
    best_points: dict[str, float]
    scaling: dict[str, float]
    policy: dict[str, Any]
    reason_codes: dict[str, Any] = field(default_factory=dict)
    woe_lookup: dict[str, BinLookup] = field(default_factory=dict)
    features: tuple[str, ...] = ()  # the contract's model inputs, in order
    reason_texts: dict[str, ReasonTexts] = field(default_factory=dict)  # per characteristic
    calibrator: Calibrator = field(default_factory=lambda: Calibrator("sigmoid"))
    worst_points: dict[str, float] = field(default_factory=dict)
    probes: dict[str, np.ndarray] = field(default_factory=dict)  # values tried per characteristic
    best_probe: dict[str, int] = field(default_factory=dict)  # scorecard: index of the best bin
    # The scorecard's last step (its fitted LogisticRegression on the WoE) as its own arrays:
    # (coef_, intercept_). What inference reads, without unpickling scikit-learn.
    regression: tuple[np.ndarray, np.ndarray] | None = None

    # Pickled apart and unpickled on first use: the fitted optbinning objects (in the scorecard,
    # and in the estimator when the scorecard decides) are what reports and monitoring read, not
    # what a scorecard's inference needs (the WoE lookup and the regression). A loaded model
    # that only scores never imports optbinning (see the module doc).
    _DEFERRED = ("estimator", "scorecard")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if any(name in state for name in self._DEFERRED):
            deferred = {name: state.pop(name) for name in self._DEFERRED}
            state["_deferred"] = stable_pickle.dumps(deferred)  # the model file's own pickler
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:  # only called for an attribute not (yet) set
        deferred = self.__dict__.get("_deferred")
        if name not in self._DEFERRED or deferred is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        # Threads of a Dask worker share one model: two may load at once; both get equal
        # objects and the last update wins (no lock on the scoring path).
        self.__dict__.update(stable_pickle.loads(deferred))
        self.__dict__.pop("_deferred", None)
        return self.__dict__[name]


def _regression(credit_model: CreditModel) -> tuple[np.ndarray, np.ndarray]:
    """The scorecard regression's (coef_, intercept_) (from the scorecard itself in models
    packaged before they were kept apart)."""
    if credit_model.regression is not None:
        return credit_model.regression
    regression = credit_model.scorecard.named_steps["regression"]
    return regression.coef_, regression.intercept_


# ----------------------------------------------------------------------------- helpers


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


def _to_points(log_odds_good: Any, scaling: dict[str, float], with_offset: bool = True) -> Any:
    """THE mapping from log-odds (good:bad) to score points: offset + factor * ln(odds)."""
    factor = scaling["pdo"] / math.log(2)
    offset = scaling["base_score"] - factor * math.log(scaling["base_odds"])
    return (offset if with_offset else 0.0) + factor * log_odds_good


def _scorecard_parts(scorecard: Pipeline) -> tuple[BinningProcess, pd.Series, float]:
    """Binning, LR coefficients by characteristic, and intercept of a fitted scorecard."""
    binning, regression = scorecard.named_steps["woe"], scorecard.named_steps["regression"]
    coefficients = pd.Series(regression.coef_[0], index=binning.get_support(names=True))
    return binning, coefficients, float(regression.intercept_[0])


def _bin_lookup(binned: Any, categories: tuple[str, ...]) -> BinLookup:
    """Derive one characteristic's lookup by asking its fitted OptimalBinning for every bin's WoE."""
    if binned.special_codes:
        raise ValueError(f"{binned.name}: special codes are not supported by the WoE lookup")

    def woe(probes: list, dtype: str) -> np.ndarray:
        values = np.asarray(probes, dtype=dtype)
        return np.asarray(binned.transform(values, metric="woe"), dtype="float64")

    if binned.dtype == "numerical":
        splits = np.asarray(binned.splits, dtype="float64")
        # One probe per bin: below the first split, then each split (the left edge of its bin).
        probes = [splits[0] - 1.0, *splits] if len(splits) else [0.0]
        missing = woe([np.nan], "float64")[0]
        return BinLookup(missing, splits=splits, bin_woe=woe(probes, "float64"))
    # Every declared category is probed, so values optbinning grouped (or never saw) get the
    # WoE its own transform gives them.
    fitted = [str(c) for group in binned.splits for c in group]
    known = list(dict.fromkeys([*categories, *fitted]))
    # A probe no applicant can send stands for "any other value".
    *known_woe, unknown = woe([*known, "\x00unseen category"], "object")
    return BinLookup(
        woe([np.nan], "object")[0],
        category_woe={c: float(w) for c, w in zip(known, known_woe, strict=True)},
        unknown_woe=float(unknown),
    )


def woe_lookup_from(scorecard: Pipeline, contract: ApplicantContract) -> dict[str, BinLookup]:
    """Per-characteristic bin lookup (in the scorecard's column order) from the fitted binning."""
    binning, coefficients, _ = _scorecard_parts(scorecard)
    return {
        name: _bin_lookup(
            binning.get_binned_variable(name), contract.by_name[name].categories or ()
        )
        for name in coefficients.index
    }


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


# ----------------------------------------------------------------------------- candidates


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


# ----------------------------------------------------------------------------- training nodes


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


def build_credit_model(
    fitted_candidates: dict[str, Any],
    chosen: str,
    calibrator: Calibrator,
    scoring: dict[str, Any],
    applicant_contract: ApplicantContract,
) -> CreditModel:
    """Package the chosen estimator, its calibration, the scorecard's bins (probe values for
    reasons) and the policy."""
    scorecard = fitted_candidates["scorecard"]
    regression = scorecard.named_steps["regression"]
    lookup = woe_lookup_from(scorecard, applicant_contract)
    by_name = applicant_contract.by_name
    probes = {name: probe_values(lookup[name], by_name[name]) for name in lookup}
    _, coefficients, _ = _scorecard_parts(scorecard)
    # Scorecard points of every probe value: the best and worst bin of each characteristic.
    probe_points = {
        name: _to_points(
            -coefficients[name] * lookup[name].woe_of(pd.Series(probes[name])),
            scoring["scaling"],
            with_offset=False,
        )
        for name in lookup
    }
    return CreditModel(
        chosen=chosen,
        estimator=fitted_candidates[chosen],
        scorecard=scorecard,
        best_points={n: float(p.max()) for n, p in probe_points.items()},
        worst_points={n: float(p.min()) for n, p in probe_points.items()},
        best_probe={n: int(p.argmax()) for n, p in probe_points.items()},
        scaling=dict(scoring["scaling"]),
        policy=dict(scoring["policy"]),
        reason_codes=dict(scoring["reason_codes"]),
        woe_lookup=lookup,
        features=applicant_contract.feature_names,
        reason_texts={c.name: reason_texts_of(c) for c in applicant_contract.features},
        calibrator=calibrator,
        probes=probes,
        regression=(regression.coef_, regression.intercept_),
    )


def binning_table(credit_model: CreditModel) -> pd.DataFrame:
    """optbinning's binning table of every characteristic (bins, counts, event rate, WoE, IV)."""
    binning, _, _ = _scorecard_parts(credit_model.scorecard)
    tables = []
    for name in credit_model.features:
        table = binning.get_binned_variable(name).binning_table.build(add_totals=False)
        table.insert(0, "characteristic", name)
        tables.append(table.assign(Bin=table["Bin"].astype(str)))
    return pd.concat(tables, ignore_index=True)


def scorecard_table_from(scorecard: Pipeline, scaling: dict[str, float]) -> pd.DataFrame:
    """Points per bin of every characteristic (scaled with the one PD-to-points mapping)."""
    binning, coefficients, intercept = _scorecard_parts(scorecard)
    rows = [
        {
            "characteristic": "(base)",
            "bin": "",
            "count": 0,
            "woe": 0.0,
            "coefficient": intercept,
            "points": float(_to_points(-intercept, scaling)),
        }
    ]
    for name in coefficients.index:
        table = binning.get_binned_variable(name).binning_table.build(add_totals=False)
        coef = float(coefficients.get(name, 0.0))
        for _, b in table.iterrows():
            rows.append(
                {
                    "characteristic": name,
                    "bin": str(b["Bin"]),
                    "count": int(b["Count"]),
                    "woe": float(b["WoE"]),
                    "coefficient": coef,
                    "points": float(
                        _to_points(-coef * float(b["WoE"]), scaling, with_offset=False)
                    ),
                }
            )
    return pd.DataFrame(rows)


def scorecard_table(credit_model: CreditModel) -> pd.DataFrame:
    """The scorecard table of the packaged model."""
    return scorecard_table_from(credit_model.scorecard, credit_model.scaling)


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
    metrics["chosen_is_challenger"] = float(chosen != REFERENCE)
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


# ----------------------------------------------------------------------------- inference nodes


MAX_INPUT_PROBLEMS = 20  # bad values named in one error


def check_applicants(
    applicant_contract: ApplicantContract, applicants: pd.DataFrame | Columns
) -> Columns:
    """The model's input checked against the contract it was trained on, typed and in order.

    The same rule (``Characteristic.problem``) the API's schema and the front end apply; a
    ContractError names each bad row and field (up to ``MAX_INPUT_PROBLEMS``). The checked
    applicants travel on as arrays (``Columns``), not a DataFrame."""
    missing = [c for c in applicant_contract.feature_names if c not in applicants]
    if missing:
        raise ContractError(f"applicants: missing characteristic column(s) {missing}")
    columns, problems = {}, []
    for c in applicant_contract.features:
        raw = applicants[c.name]
        raw = getattr(raw, "array", raw)  # a frame's column: its array (no Series per call)
        values, bad = _checked_column(raw, c)
        columns[c.name] = values
        for row in bad[: MAX_INPUT_PROBLEMS - len(problems)]:
            problems.append(f"row {row}, field {c.name}: {c.problem(_plain(raw[row]))}")
    if problems:
        raise ContractError("applicants do not match the model's contract:\n" + "\n".join(problems))
    return Columns(columns, len(applicants))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value the contract's rule judges."""
    return value.item() if isinstance(value, np.generic) else value


def _checked_column(values: Any, c: Characteristic) -> tuple[Any, list[int]]:
    """One column (a numpy or pandas array) typed for the model, and the positions of values
    that break the contract.

    Plain numpy/Python work per column: pandas' per-call overhead (isin on Arrow strings,
    to_numeric) was most of a one-applicant request."""
    if c.is_categorical:
        if len(values) <= SMALL_INPUT:  # objects (missing as NaN), as a str column gives them
            items, allowed = np.array(values, dtype=object), frozenset(c.categories)
            ok = np.fromiter((isinstance(v, str) and v in allowed for v in items), bool, len(items))
            missing = pd.isna(items)
            items[missing] = np.nan
            if c.nullable:
                ok |= missing
            return items, np.flatnonzero(~ok).tolist()
        # A batch: vectorised, its fixed cost pays off; the text stays an Arrow string array.
        series = pd.Series(values, copy=False)
        ok = series.isin(c.categories).to_numpy()
        if c.nullable:
            ok = ok | series.isna().to_numpy()  # (pandas may hand out a read-only array)
        typed = series if series.dtype == "str" or not ok.all() else series.astype("str")
        return typed.array, np.flatnonzero(~ok).tolist()
    if values.dtype.kind in "iuf":  # numbers already (numpy or nullable): NA -> NaN
        numbers = (
            values.astype("float64")
            if isinstance(values, np.ndarray)
            else values.to_numpy(dtype="float64", na_value=np.nan)
        )
        missing = np.isnan(numbers)
        is_number = True
    else:
        missing = np.asarray(pd.isna(values), dtype=bool)
        coerced = pd.to_numeric(values, errors="coerce")  # a pandas array keeps its NA: NaN
        numbers = (
            coerced.to_numpy(dtype="float64", na_value=np.nan)
            if hasattr(coerced, "to_numpy")
            else np.asarray(coerced, dtype="float64")
        )
        is_number = (
            np.array([not isinstance(v, bool | str) for v in values], dtype=bool)
            if values.dtype == object
            else True
        )
    with np.errstate(invalid="ignore"):
        ok = is_number & np.isfinite(numbers) & (numbers >= c.minimum) & (numbers <= c.maximum)
        if c.type == "integer":
            ok &= numbers == np.floor(numbers)
    ok |= missing & c.nullable
    whole = c.type == "integer" and not c.nullable
    typed = numbers.astype("int64") if whole and ok.all() else numbers
    return typed, np.flatnonzero(~ok).tolist()


def assign_woe(credit_model: CreditModel, model_input: Columns | pd.DataFrame) -> np.ndarray:
    """WoE of each applicant's bin on every scorecard characteristic, from the fitted lookup:
    a matrix, one column per characteristic in the scorecard's order (BinningProcess.transform's
    layout, which the regression's coefficients follow)."""
    lookup = credit_model.woe_lookup
    # Column-major: filled column by column, and the layout the regression reads (see
    # _scorecard_pd).
    woe = np.empty((len(model_input), len(lookup)), order="F")
    for j, (name, bins) in enumerate(lookup.items()):
        woe[:, j] = bins.woe_of(model_input[name])
    return woe


_THREADPOOLS: list[ThreadpoolController] = []  # found once per process: limiting is then cheap


def _one_thread() -> Any:
    """Gradient boosting predicts on one OpenMP thread: on small inputs and busy cores its
    parallel loops cost ~15 ms a tree in spin-waits (measured), serial costs microseconds."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="openmp")


def _raw_pd(
    credit_model: CreditModel, model_input: Columns, woe: np.ndarray | None = None
) -> np.ndarray:
    """The chosen estimator's PD before calibration (the scorecard reads the assigned WoE)."""
    if credit_model.chosen == "scorecard":
        return _scorecard_pd(credit_model, model_input, woe)
    if credit_model.chosen == "challenger":
        return challenger_pd(credit_model.estimator, model_input)
    if credit_model.chosen == "blend":
        blend = credit_model.estimator
        scorecard_pd = _scorecard_pd(credit_model, model_input, woe)
        return Blend.combine(
            scorecard_pd, challenger_pd(blend.challenger, model_input), blend.weight
        )
    frame = model_input.to_frame() if isinstance(model_input, Columns) else model_input
    return credit_model.estimator.predict_proba(frame)[:, 1]


def challenger_pd(challenger: Pipeline, applicants: Any) -> np.ndarray:
    """The fitted challenger's PD of applicants (``Columns``, a frame or a dict of column
    arrays), its category encoding done on arrays: the same codes as its
    OrdinalEncoder (index in ``categories_``, unknown or missing -> NaN) without the
    ColumnTransformer's per-call checks (~100 ms a call on small inputs)."""
    encode, boosting = challenger.named_steps["encode"], challenger.named_steps["boosting"]
    _, encoder, categorical = encode.transformers_[0]
    numbers = [c for c in encode.feature_names_in_ if c not in set(categorical)]
    rows = len(applicants[encode.feature_names_in_[0]])
    matrix = np.empty((rows, len(categorical) + len(numbers)))
    for j, (name, categories) in enumerate(zip(categorical, encoder.categories_, strict=True)):
        # A fitted "missing" category (NaN, sorted last) is what encoded_missing_value covers.
        known = [c for c in categories if not pd.isna(c)]
        codes = pd.Categorical(np.asarray(applicants[name]), categories=known).codes
        matrix[:, j] = np.where(codes < 0, np.nan, codes)
    for k, name in enumerate(numbers, start=len(categorical)):
        matrix[:, k] = np.asarray(getattr(applicants[name], "array", applicants[name]), "float64")
    with _one_thread():
        return boosting.predict_proba(matrix)[:, 1]


def _scorecard_pd(
    credit_model: CreditModel, model_input: Columns, woe: np.ndarray | None
) -> np.ndarray:
    """The scorecard's PD; its own last step on the WoE already assigned (no second binning)."""
    woe = assign_woe(credit_model, model_input) if woe is None else woe
    coef, intercept = _regression(credit_model)
    # What its predict_proba computes for two classes, on the same array (same bits), without
    # its per-call input validation (~1 ms a call): expit(X @ coef_.T + intercept_). The
    # product's rounding depends on the memory layout: column-major, as the frame
    # BinningProcess.transform returns is handed to it (a runner's copy of the matrix is not).
    woe = np.asfortranarray(woe, dtype="float64")
    decision = woe @ coef.T + intercept
    return expit(decision[:, 0])


def predict_default_probability(
    credit_model: CreditModel, model_input: Columns, applicant_woe: np.ndarray
) -> np.ndarray:
    """Calibrated PD (probability of default) of each applicant from the chosen estimator."""
    return credit_model.calibrator.apply(_raw_pd(credit_model, model_input, applicant_woe))


def _exact_score(credit_model: CreditModel, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Unrounded score points of the calibrated PD of applicants given as column arrays (what
    the counterfactuals compare; no DataFrame unless the chosen estimator needs one)."""
    if credit_model.chosen in ("scorecard", "blend"):
        coef, intercept = _regression(credit_model)
        woe = np.column_stack([b.woe_of(columns[n]) for n, b in credit_model.woe_lookup.items()])
        raw = sigmoid(woe @ coef[0] + intercept[0])
        if credit_model.chosen == "blend":
            blend = credit_model.estimator
            raw = Blend.combine(raw, challenger_pd(blend.challenger, columns), blend.weight)
    elif credit_model.chosen == "challenger":
        raw = challenger_pd(credit_model.estimator, columns)
    else:
        raw = credit_model.estimator.predict_proba(pd.DataFrame(columns))[:, 1]
    return _to_points(-logit(credit_model.calibrator.apply(raw)), credit_model.scaling)


def characteristic_points(
    credit_model: CreditModel, model_input: Columns, applicant_woe: np.ndarray
) -> Attribution:
    """Points each applicant loses (against the best value) and gains (against the worst) on
    each characteristic, from the model that decides (see ``explain``)."""
    names = tuple(credit_model.woe_lookup)
    calibrator = credit_model.calibrator
    if credit_model.chosen != "scorecard" or calibrator.method != "sigmoid":
        return counterfactual_attribution(
            lambda frame: _exact_score(credit_model, frame),
            _columns(model_input).select(credit_model.features),
            {name: credit_model.probes[name] for name in names},
        )
    # Additive: points lost against the best bin are exactly the counterfactual gain; Platt
    # scaling multiplies every scorecard point by its slope in the served score. The WoE
    # matrix's columns are the scorecard's characteristics, in its coefficients' order.
    coefficients = _regression(credit_model)[0][0]
    points = _to_points(
        np.asarray(applicant_woe, dtype="float64") * -coefficients, credit_model.scaling, False
    )
    best = np.array([credit_model.best_points[n] for n in names])
    worst = np.array([credit_model.worst_points[n] for n in names])
    best_probe = np.array([credit_model.best_probe[n] for n in names])
    return Attribution(
        names,
        calibrator.slope * np.maximum(best - points, 0.0),
        calibrator.slope * np.maximum(points - worst, 0.0),
        np.broadcast_to(best_probe, points.shape),
        {name: np.asarray(model_input[name]) for name in names},
    )


def _columns(applicants: Columns | pd.DataFrame) -> Columns:
    """Checked applicants as Columns (a frame's columns as their arrays)."""
    if isinstance(applicants, Columns):
        return applicants
    return Columns({name: applicants[name].array for name in applicants}, len(applicants))


def _band_index(score: np.ndarray, ordered: list[dict[str, Any]]) -> np.ndarray:
    """Index into ``ordered`` bands (best first, each with ``min_score``) of each score."""
    conditions = [score >= b["min_score"] for b in ordered]
    return np.select(conditions, np.arange(len(ordered)), default=len(ordered) - 1)


# One reason or positive factor of an applicant; the column holds a list of them per applicant.
REASON_ITEM = pa.struct([("code", pa.string()), ("text", pa.string()), ("points", pa.float64())])


def _reason_lists(points: Attribution, ranked: Ranked, probes: np.ndarray | None, text: Any) -> Any:
    """The ranked items, with their texts, as one Arrow list column: no Python object per
    applicant (what cost ~80 us a row as dicts), and what a parquet writer takes as it is."""
    names = points.names
    texts = item_texts(ranked, [points.values[n] for n in names], probes, text)
    codes = np.array([n.upper() for n in names], dtype=object)[ranked.columns]
    items = pa.StructArray.from_arrays(
        [
            pa.array(codes, pa.string()),
            pa.array(texts, pa.string()),
            pa.array(np.round(ranked.points, 1), pa.float64()),
        ],
        fields=list(REASON_ITEM),
    )
    lists = pa.ListArray.from_arrays(pa.array(ranked.offsets, pa.int32()), items)
    return pd.arrays.ArrowExtensionArray(lists)


def _reasons(points: Attribution, model: CreditModel) -> Any:
    """Up to N adverse reasons per applicant, ranked by points lost against the best value."""
    settings = model.reason_codes
    ranked = ranked_reasons(points.lost, settings["max_reasons"], settings["min_points_lost"])
    names = points.names

    def text(j: int, value: Any, probe: int) -> str:
        better = model.probes[names[j]][probe]
        texts = model.reason_texts[names[j]]
        return texts.adverse_text(value, better, not texts.categorical and _greater(better, value))

    return _reason_lists(points, ranked, points.best_probe, text)


def _greater(a: Any, b: Any) -> bool:
    """a > b for numbers that may be missing (missing is never greater)."""
    try:
        return bool(float(a) > float(b))
    except (TypeError, ValueError):
        return False


def _positive_factors(points: Attribution, model: CreditModel) -> Any:
    """Up to N strongest positive factors per applicant, ranked by points gained against the
    worst value of each characteristic."""
    settings = model.reason_codes
    ranked = ranked_reasons(
        points.gained, settings["max_positive_factors"], settings["min_points_gained"]
    )
    names = points.names

    def text(j: int, value: Any, _probe: int) -> str:
        return model.reason_texts[names[j]].favourable_text(value)

    return _reason_lists(points, ranked, None, text)


def score_applicants(
    default_probability: np.ndarray, points: Attribution, credit_model: CreditModel
) -> pd.DataFrame:
    """PD -> score points -> band -> decision -> reason codes and positive factors, one row per
    applicant in order."""
    probability = np.asarray(default_probability, dtype="float64")
    pd_ = np.clip(probability, 1e-9, 1 - 1e-9)
    score = _to_points(np.log((1 - pd_) / pd_), credit_model.scaling).round().astype("int64")
    policy = credit_model.policy
    ordered = sorted(policy["bands"], key=lambda b: b["min_score"], reverse=True)
    unmapped = [b["name"] for b in ordered if b["name"] not in policy["decisions"]]
    if unmapped:
        raise ValueError(f"scoring policy has no decision for band(s): {unmapped}")
    band = _band_index(score, ordered)
    decisions = np.array([policy["decisions"][b["name"]] for b in ordered])
    return pd.DataFrame(
        {
            "pd": probability,
            "score": score,
            "band": pd.array(np.array([b["name"] for b in ordered])[band], dtype="str"),
            "decision": pd.array(decisions[band], dtype="str"),
            "reason_codes": _reasons(points, credit_model),
            "positive_factors": _positive_factors(points, credit_model),
        }
    )


def score_portfolio(
    credit_model: CreditModel, applicant_contract: ApplicantContract, applicants: pd.DataFrame
) -> pd.DataFrame:
    """Score a whole portfolio (e.g. the training split) with exactly the inference nodes."""
    model_input = check_applicants(applicant_contract, applicants)
    woe = assign_woe(credit_model, model_input)
    return score_applicants(
        predict_default_probability(credit_model, model_input, woe),
        characteristic_points(credit_model, model_input, woe),
        credit_model,
    )
