"""Credit model nodes: WoE scorecard, challenger, baseline, evaluation and the scoring semantics.

Training nodes fit and evaluate; the inference nodes (``predict_default_probability``,
``characteristic_points``, ``score_applicants``) are the ONLY place where PD -> points -> band ->
decision -> reason codes is computed. They are logged by kedro-mlflow as the model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from optbinning import BinningProcess
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from quantumfinance.contract import ApplicantContract, Characteristic, ContractError

logger = logging.getLogger(__name__)
CANDIDATES = ("scorecard", "challenger", "baseline")


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

    def woe_of(self, values: pd.Series) -> np.ndarray:
        """WoE of each value's bin, exactly as ``OptimalBinning.transform(metric="woe")``."""
        if self.category_woe is None:
            # np.asarray on the array (not the Series) is the cheap path; pd.NA becomes NaN.
            x = np.asarray(values.array, dtype="float64")
            woe = self.bin_woe[np.searchsorted(self.splits, x, side="right")]
            woe[np.isnan(x)] = self.missing_woe
            return woe
        # Few distinct values per call: look each up once. factorize codes missing values as -1.
        codes, uniques = values.array.factorize()
        table = [self.category_woe.get(u, self.unknown_woe) for u in uniques]
        return np.array([*table, self.missing_woe])[codes]


@dataclass
class CreditModel:
    """Everything the inference pipeline needs: the chosen estimator, the scorecard, the policy."""

    chosen: str
    estimator: Pipeline
    scorecard: Pipeline
    best_points: dict[str, float]
    scaling: dict[str, float]
    policy: dict[str, Any]
    reason_codes: dict[str, Any] = field(default_factory=dict)
    woe_lookup: dict[str, BinLookup] = field(default_factory=dict)
    features: tuple[str, ...] = ()  # the contract's model inputs, in order
    reason_texts: dict[str, str] = field(default_factory=dict)  # characteristic -> reason text


# ----------------------------------------------------------------------------- helpers


def _features(applicants: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """The model's input columns in contract order; a clear error names any missing one."""
    missing = [c for c in features if c not in applicants.columns]
    if missing:
        raise ValueError(f"applicants is missing the characteristic column(s): {missing}")
    return applicants[list(features)]


def _sample(applicants: pd.DataFrame, max_rows: int | None, seed: int, target: str) -> pd.DataFrame:
    """A stratified sample of at most ``max_rows`` rows, so that fitting cost stays bounded."""
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
    """optbinning WoE binning followed by a logistic regression on the WoE values."""
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
    regression = LogisticRegression(C=params["scorecard"]["C"], max_iter=1000)
    return Pipeline([("woe", binning), ("regression", regression)])


def _challenger_candidate(params: dict[str, Any], contract: ApplicantContract) -> Pipeline:
    """Gradient boosting with native categorical splits (categories ordinal-encoded first)."""
    # Unknown or missing categories become NaN, which gradient boosting routes natively.
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    encode = ColumnTransformer(
        [("categories", encoder, list(contract.categorical_features))],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    boosting = HistGradientBoostingClassifier(
        categorical_features=list(range(len(contract.categorical_features))),
        random_state=params["seed"],
        **params["challenger"],
    )
    return Pipeline([("encode", encode), ("boosting", boosting)])


def _baseline_candidate(params: dict[str, Any], contract: ApplicantContract) -> Pipeline:
    """One-hot categories + standardised numbers + logistic regression: the yardstick."""
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
    """Unfitted scorecard (WoE + LR), challenger (gradient boosting) and one-hot LR baseline."""
    return {
        "scorecard": _scorecard_candidate(params, contract),
        "challenger": _challenger_candidate(params, contract),
        "baseline": _baseline_candidate(params, contract),
    }


def _fit(
    candidate: Pipeline, applicants: pd.DataFrame, contract: ApplicantContract, threads: int
) -> Pipeline:
    """Fit a clone of an unfitted candidate on applicants with their default flag."""
    # OpenMP spin-waiting makes gradient boosting many times slower on small data and busy cores.
    with threadpool_limits(limits=threads):
        return clone(candidate).fit(
            _features(applicants, contract.feature_names), applicants[contract.target.name]
        )


# ----------------------------------------------------------------------------- training nodes


def cross_validate_candidates(
    applicants_train: pd.DataFrame, applicant_contract: ApplicantContract, params: dict[str, Any]
) -> pd.DataFrame:
    """Stratified k-fold CV of every candidate on the training split (mean and std per metric)."""
    target, features = applicant_contract.target.name, applicant_contract.feature_names
    data = _sample(applicants_train, params["cv"]["max_rows"], params["seed"], target)
    folds = StratifiedKFold(params["cv"]["n_splits"], shuffle=True, random_state=params["seed"])
    rows = []
    for fold, (fit_idx, val_idx) in enumerate(folds.split(data, data[target])):
        for name, candidate in build_candidates(params, applicant_contract).items():
            fitted = _fit(candidate, data.iloc[fit_idx], applicant_contract, params["threads"])
            held_out = data.iloc[val_idx]
            pd_ = fitted.predict_proba(_features(held_out, features))[:, 1]
            rows.append(
                {"model": name, "fold": fold, **evaluate_predictions(held_out[target], pd_)}
            )
    return pd.DataFrame(rows)


def fit_candidates(
    applicants_train: pd.DataFrame, applicant_contract: ApplicantContract, params: dict[str, Any]
) -> dict[str, Pipeline]:
    """Fit scorecard, challenger and baseline on the (bounded) training split."""
    target = applicant_contract.target.name
    data = _sample(applicants_train, params["fit_max_rows"], params["seed"], target)
    return {
        name: _fit(c, data, applicant_contract, params["threads"])
        for name, c in build_candidates(params, applicant_contract).items()
    }


def evaluate_on_test(
    fitted_candidates: dict[str, Pipeline],
    applicants_test: pd.DataFrame,
    applicant_contract: ApplicantContract,
) -> pd.DataFrame:
    """Test-split AUC, Gini, KS and Brier per candidate (reported, never used for selection)."""
    features = _features(applicants_test, applicant_contract.feature_names)
    observed = applicants_test[applicant_contract.target.name]
    rows = []
    for name, fitted in fitted_candidates.items():
        pd_ = fitted.predict_proba(features)[:, 1]
        rows.append({"model": name, **evaluate_predictions(observed, pd_)})
    return pd.DataFrame(rows)


def select_candidate(cv_results: pd.DataFrame, selection: dict[str, Any]) -> str:
    """Pick the candidate by the CV rule: the scorecard unless the challenger beats it by a margin."""
    cv_mean = cv_results.groupby("model")[selection["metric"]].mean()
    gain = cv_mean["challenger"] - cv_mean["scorecard"]
    chosen = "challenger" if gain > selection["min_gain_for_challenger"] else "scorecard"
    logger.info("CV %s: %s; chosen %s", selection["metric"], cv_mean.round(4).to_dict(), chosen)
    return chosen


def build_credit_model(
    fitted_candidates: dict[str, Pipeline],
    chosen: str,
    scoring: dict[str, Any],
    applicant_contract: ApplicantContract,
) -> CreditModel:
    """Package the chosen estimator with the scorecard (for reason codes) and the policy."""
    scorecard = fitted_candidates["scorecard"]
    table = scorecard_table_from(scorecard, scoring["scaling"])
    best = table[table["count"] > 0].groupby("characteristic")["points"].max()
    suffix = scoring["reason_codes"]["text_suffix"]
    return CreditModel(
        chosen=chosen,
        estimator=fitted_candidates[chosen],
        scorecard=scorecard,
        best_points={name: float(best.get(name, 0.0)) for name in applicant_contract.feature_names},
        scaling=dict(scoring["scaling"]),
        policy=dict(scoring["policy"]),
        reason_codes=dict(scoring["reason_codes"]),
        woe_lookup=woe_lookup_from(scorecard, applicant_contract),
        features=applicant_contract.feature_names,
        reason_texts={c.name: c.reason_text(suffix) for c in applicant_contract.features},
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


def model_metrics(
    cv_results: pd.DataFrame, test_results: pd.DataFrame, chosen: str
) -> dict[str, float]:
    """Flat metrics: cv_/test_ AUC, Gini, KS, Brier per candidate, plus the chosen model's."""
    metrics: dict[str, float] = {}
    cv_mean = cv_results.drop(columns="fold").groupby("model").mean()
    for name in CANDIDATES:
        for metric in ("auc", "gini", "ks", "brier"):
            metrics[f"cv_{metric}_{name}"] = float(cv_mean.loc[name, metric])
            test = test_results.set_index("model").loc[name, metric]
            metrics[f"test_{metric}_{name}"] = float(test)
    for metric in ("auc", "gini", "ks", "brier"):
        metrics[f"cv_{metric}"] = metrics[f"cv_{metric}_{chosen}"]
        metrics[f"test_{metric}"] = metrics[f"test_{metric}_{chosen}"]
    metrics["chosen_is_challenger"] = float(chosen == "challenger")
    return metrics


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
    applicant_contract: ApplicantContract, applicants: pd.DataFrame
) -> pd.DataFrame:
    """The model's input checked against the contract it was trained on, typed and in order.

    The same rule (``Characteristic.problem``) the API's schema and the front end apply; a
    ContractError names each bad row and field (up to ``MAX_INPUT_PROBLEMS``)."""
    missing = [c for c in applicant_contract.feature_names if c not in applicants.columns]
    if missing:
        raise ContractError(f"applicants: missing characteristic column(s) {missing}")
    columns, problems = {}, []
    for c in applicant_contract.features:
        values, bad = _checked_column(applicants[c.name], c)
        columns[c.name] = values
        for row in bad[: MAX_INPUT_PROBLEMS - len(problems)]:
            value = applicants[c.name].iloc[row]
            problems.append(f"row {row}, field {c.name}: {c.problem(_plain(value))}")
    if problems:
        raise ContractError("applicants do not match the model's contract:\n" + "\n".join(problems))
    return pd.DataFrame(columns, index=applicants.index)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value the contract's rule judges."""
    return value.item() if isinstance(value, np.generic) else value


def _checked_column(values: pd.Series, c: Characteristic) -> tuple[Any, list[int]]:
    """One column typed for the model, and the positions of values that break the contract."""
    missing = values.isna().to_numpy()
    if c.is_categorical:
        ok = values.isin(c.categories).to_numpy() | (missing & c.nullable)
        typed = values.astype("str") if ok.all() else values
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        is_number = (
            np.array([not isinstance(v, bool | str) for v in values.array], dtype=bool)
            if values.dtype == object
            else np.ones(len(values), dtype=bool)
        )
        with np.errstate(invalid="ignore"):
            ok = is_number & np.isfinite(numbers) & (numbers >= c.minimum) & (numbers <= c.maximum)
            if c.type == "integer":
                ok &= numbers == np.floor(numbers)
        ok |= missing & c.nullable
        whole = c.type == "integer" and not c.nullable
        typed = numbers.astype("int64") if whole and ok.all() else numbers
    return typed, np.flatnonzero(~ok).tolist()


def assign_woe(credit_model: CreditModel, model_input: pd.DataFrame) -> pd.DataFrame:
    """WoE of each applicant's bin on every scorecard characteristic, from the fitted lookup."""
    lookup = credit_model.woe_lookup
    woe = np.empty((len(model_input), len(lookup)))
    for j, (name, bins) in enumerate(lookup.items()):
        woe[:, j] = bins.woe_of(model_input[name])
    # Built as BinningProcess.transform builds it: the regression then sees the same layout.
    return pd.DataFrame(woe, columns=list(lookup), index=model_input.index)


def predict_default_probability(
    credit_model: CreditModel, model_input: pd.DataFrame, applicant_woe: pd.DataFrame
) -> pd.Series:
    """PD (probability of default) of each applicant from the chosen estimator."""
    if credit_model.chosen == "scorecard":
        # The scorecard's own last step on the WoE already assigned: no second binning pass.
        regression = credit_model.scorecard.named_steps["regression"]
        pd_ = regression.predict_proba(applicant_woe)[:, 1]
    else:
        pd_ = credit_model.estimator.predict_proba(model_input)[:, 1]
    return pd.Series(pd_, index=model_input.index, name="pd")


def characteristic_points(credit_model: CreditModel, applicant_woe: pd.DataFrame) -> pd.DataFrame:
    """Scorecard points each applicant earns on each characteristic."""
    _, coefficients, _ = _scorecard_parts(credit_model.scorecard)
    coefficients = coefficients[applicant_woe.columns].to_numpy()
    points = _to_points(applicant_woe.to_numpy() * -coefficients, credit_model.scaling, False)
    return pd.DataFrame(points, columns=applicant_woe.columns, index=applicant_woe.index)


def _band_index(score: np.ndarray, ordered: list[dict[str, Any]]) -> np.ndarray:
    """Index into ``ordered`` bands (best first, each with ``min_score``) of each score."""
    conditions = [score >= b["min_score"] for b in ordered]
    return np.select(conditions, np.arange(len(ordered)), default=len(ordered) - 1)


def _reasons(points: pd.DataFrame, model: CreditModel) -> list[list[dict[str, str]]]:
    """Up to N reasons per applicant, ranked by points lost against each best bin."""
    settings = model.reason_codes
    best = np.array([model.best_points[n] for n in points.columns])
    lost = best - points.to_numpy()
    order = np.argsort(-lost, axis=1, kind="stable")[:, : settings["max_reasons"]]
    kept = np.take_along_axis(lost, order, axis=1) > settings["min_points_lost"]
    # -1 marks a ranked characteristic that lost too few points to be a reason.
    ranked = np.where(kept, order, -1).tolist()
    reasons = [{"code": n.upper(), "text": model.reason_texts[n]} for n in points.columns]
    return [[reasons[j].copy() for j in row if j >= 0] for row in ranked]


def score_applicants(
    default_probability: pd.Series, points: pd.DataFrame, credit_model: CreditModel
) -> pd.DataFrame:
    """PD -> score points -> band -> decision -> reason codes, one row per applicant in order."""
    pd_ = np.clip(default_probability.to_numpy(dtype="float64"), 1e-9, 1 - 1e-9)
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
            "pd": default_probability.to_numpy(dtype="float64"),
            "score": score,
            "band": pd.array(np.array([b["name"] for b in ordered])[band], dtype="str"),
            "decision": pd.array(decisions[band], dtype="str"),
            "reason_codes": _reasons(points, credit_model),
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
        characteristic_points(credit_model, woe),
        credit_model,
    )
