"""Build the scoring runtime's model from the fitted candidates, and prove it equal to them.

The fitted objects (optbinning, scikit-learn) are asked, through their public transforms, for
every slot's value: WoE and bin index per scorecard bin and category, the baseline's one-hot
and scaled-number coefficients, the challenger's trees (tree_export). The runtime's model is
those answers as arrays; ``verify_scoring_model`` scores the training and test applicants both
ways and stops the run on any difference.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from quantumfinance.contract import ApplicantContract, Characteristic
from quantumfinance.scoring import Calibration, Feature, Policy, ScoringModel, inspect, score
from quantumfinance.scoring.score import exact_points

from .evaluation import Calibrator

logger = logging.getLogger(__name__)
UNSEEN = "\x00unseen category"  # a probe no applicant can send: "any other value"
MISSING_TEXT = "not given"
PD_TOLERANCE = 1e-12


# ----------------------------------------------------------------------------- slots


def _slot_probes(binned: Any, c: Characteristic) -> tuple[np.ndarray, list[Any]]:
    """The scorecard's edges, and one value per slot to ask the fitted objects about."""
    if c.is_categorical:
        return np.array([], dtype="float64"), [*c.categories, UNSEEN, np.nan]
    edges = np.asarray(binned.splits, dtype="float64")
    lower = [edges[0] - 1.0, *edges] if len(edges) else [0.0]
    return edges, [*lower, np.nan]


def _binning_answers(binned: Any, probes: list[Any], categorical: bool) -> tuple[np.ndarray, ...]:
    """WoE and bin index of each probe, by the fitted OptimalBinning's own transform."""
    if binned.special_codes:
        raise ValueError(f"{binned.name}: special codes are not supported by the scoring runtime")
    values = np.asarray(probes, dtype=object if categorical else "float64")
    woe = np.asarray(binned.transform(values, metric="woe"), dtype="float64")
    index = np.asarray(binned.transform(values, metric="indices"), dtype="int64")
    return woe, index


def _counterfactual_probes(edges: np.ndarray, c: Characteristic) -> list[Any]:
    """The value an applicant is given in each slot when the model is asked "what if": the
    first value of the bin inside the contract's range (whole for integers)."""
    if c.is_categorical:
        return [*c.categories, None, None]
    lower = [c.minimum, *edges]
    values = [min(max(v, c.minimum), c.maximum) for v in lower]
    if c.type == "integer":
        values = [float(min(math.ceil(v), c.maximum)) for v in values]
    return [float(v) for v in values] + [None]


# ----------------------------------------------------------------------------- texts


def _number_text(value: float, integer: bool) -> str:
    if integer:
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _slot_value_texts(edges: np.ndarray, c: Characteristic) -> list[str]:
    """How a loan officer reads each slot: the category's label, or the bin's range."""
    if c.is_categorical:
        labels = [c.category_labels.get(v, v) for v in c.categories]
        return [*labels, "another value", MISSING_TEXT]
    integer = c.type == "integer"
    bounds = [c.minimum, *[e for e in edges], math.inf]
    texts = []
    for edge, hi in zip(bounds[:-1], bounds[1:], strict=True):
        lo = max(edge, c.minimum)
        if integer:
            first = math.ceil(lo)
            last = c.maximum if math.isinf(hi) else min(math.ceil(hi) - 1, c.maximum)
            text = (
                _number_text(first, True)
                if first >= last
                else f"{_number_text(first, True)} to {_number_text(last, True)}"
            )
        elif hi >= c.maximum:
            text = f"{_number_text(lo, False)} or more"
        else:
            text = f"{_number_text(lo, False)} to under {_number_text(hi, False)}"
        unit = f" {c.unit}" if c.unit and c.unit not in c.title else ""
        texts.append(text + unit)
    return [*texts, MISSING_TEXT]


def _slot_texts(
    c: Characteristic, values: list[str], term: np.ndarray, weight: np.ndarray
) -> tuple:
    """Reason and positive-factor text of each slot; the better group a reason names is the
    scorecard's best slot (lowest log-odds of default) that development applicants occupy."""
    possible = np.flatnonzero(weight > 0) if (weight > 0).any() else np.arange(len(term))
    best = int(possible[np.argmin(term[possible])])
    adverse, favourable = [], []
    for s, value in enumerate(values):
        if c.adverse_direction:
            direction = c.adverse_direction
        elif c.is_categorical or s == len(values) - 1:
            direction = f"scores lower than {values[best]}"
        else:
            direction = f"{'higher' if best > s else 'lower'} values score better"
        if c.reason:
            text = c.reason.format(
                label=c.title,
                value=value,
                direction=direction,
                suffix=direction,
                description=c.description or c.title,
            )
        else:
            text = f"{c.title} {value}: {direction}"
        adverse.append(text)
        favourable.append(f"{c.title} {value}: {c.favourable_direction or 'helps the score'}")
    return tuple(adverse), tuple(favourable)


# ----------------------------------------------------------------------------- additive terms


def _scorecard_terms(scorecard: Any, contract: ApplicantContract) -> tuple[dict, float, dict]:
    """Per characteristic: edges, slot log-odds terms (coefficient x WoE) and bin indices."""
    binning, regression = scorecard.named_steps["woe"], scorecard.named_steps["regression"]
    names = list(binning.get_support(names=True))
    if names != list(contract.feature_names):
        raise ValueError(f"the scorecard's characteristics {names} are not the contract's")
    coefficients = dict(zip(names, regression.coef_[0], strict=True))
    parts = {}
    for name in names:
        c = contract.by_name[name]
        binned = binning.get_binned_variable(name)
        edges, probes = _slot_probes(binned, c)
        woe, index = _binning_answers(binned, probes, c.is_categorical)
        parts[name] = (edges, coefficients[name] * woe, index)
    return parts, float(regression.intercept_[0]), coefficients


def _baseline_terms(baseline: Any, contract: ApplicantContract, parts: dict) -> tuple[dict, float]:
    """The one-hot baseline as slot terms plus a slope per number (scaler and imputer folded
    in), from its fitted transformers' public attributes."""
    encode, regression = baseline.named_steps["encode"], baseline.named_steps["regression"]
    coef = dict(zip(encode.get_feature_names_out(), regression.coef_[0], strict=True))
    intercept = float(regression.intercept_[0])
    terms: dict[str, tuple[np.ndarray, float]] = {}
    for c in contract.features:
        edges = parts[c.name][0]
        if c.is_categorical:
            onehot = encode.named_transformers_["categories"]
            known = dict(zip(onehot.feature_names_in_, onehot.categories_, strict=True))[c.name]
            missing = [v for v in known if not isinstance(v, str)]
            term = [coef.get(f"categories__{c.name}_{v}", 0.0) for v in c.categories]
            term += [0.0, coef.get(f"categories__{c.name}_{missing[0]}", 0.0) if missing else 0.0]
            terms[c.name] = (np.array(term), 0.0)
            continue
        group = "nullable_numbers" if c.nullable else "numbers"
        transformer = encode.named_transformers_[group]
        scaler = transformer.named_steps["scale"] if c.nullable else transformer
        columns = list(scaler.feature_names_in_) if hasattr(scaler, "feature_names_in_") else None
        position = (columns or list(transformer.feature_names_in_)).index(c.name)
        mean, scale = scaler.mean_[position], scaler.scale_[position]
        w = coef[f"{group}__{c.name}"]
        present = -w * mean / scale
        absent = present
        if c.nullable:
            imputer = transformer.named_steps["impute"]
            median = imputer.statistics_[list(imputer.feature_names_in_).index(c.name)]
            absent = w * (median - mean) / scale
            indicator = f"{group}__missingindicator_{c.name}"
            if indicator in coef:
                names = list(encode.named_transformers_[group].get_feature_names_out())
                k = names.index(f"missingindicator_{c.name}")
                m, s = scaler.mean_[k], scaler.scale_[k]
                present += coef[indicator] * (0 - m) / s
                absent += coef[indicator] * (1 - m) / s
        slots = len(edges) + 1
        terms[c.name] = (np.array([present] * slots + [absent]), float(w / scale))
    return terms, intercept


# ----------------------------------------------------------------------------- the model


def _calibration(calibrator: Calibrator) -> Calibration:
    return Calibration(
        calibrator.method,
        float(calibrator.slope),
        float(calibrator.intercept),
        tuple(float(v) for v in calibrator.x),
        tuple(float(v) for v in calibrator.y),
    )


def _features(contract: ApplicantContract, parts: dict, baseline: dict | None) -> list[Feature]:
    features = []
    for c in contract.features:
        edges, term, index = parts[c.name]
        slope = 0.0
        if baseline is not None:
            term, slope = baseline[c.name]
        probes = _counterfactual_probes(edges, c)
        features.append(
            Feature(
                name=c.name,
                categorical=c.is_categorical,
                integer=c.type == "integer",
                nullable=c.nullable,
                minimum=None if c.is_categorical else float(c.minimum),
                maximum=None if c.is_categorical else float(c.maximum),
                categories=tuple(c.categories or ()),
                edges=edges,
                term=np.asarray(term, dtype="float64"),
                slope=float(slope),
                bin_index=index,
                probe=tuple(probes),
                weight=np.zeros(len(term)),
                adverse=(),
                favourable=(),
            )
        )
    return features


def _development_weights(model: ScoringModel, applicants: pd.DataFrame) -> list[np.ndarray]:
    """Each characteristic's share of development applicants per slot."""
    inspection = inspect(model, {name: applicants[name].to_numpy() for name in model.feature_names})
    slots = inspection.checked.slots[inspection.ok]
    return [
        np.bincount(slots[:, j], minlength=f.slots) / max(len(slots), 1)
        for j, f in enumerate(model.features)
    ]


def build_scoring_model(
    fitted_candidates: dict[str, Any],
    chosen: str,
    calibrator: Calibrator,
    scoring: dict[str, Any],
    applicant_contract: ApplicantContract,
    applicants_train: pd.DataFrame,
) -> ScoringModel:
    """The chosen candidate, its calibration, the policy and texts as the runtime's arrays."""
    parts, intercept, _ = _scorecard_terms(fitted_candidates["scorecard"], applicant_contract)
    baseline = None
    if chosen == "baseline":
        baseline, intercept = _baseline_terms(
            fitted_candidates["baseline"], applicant_contract, parts
        )
    trees = None
    if chosen in ("challenger", "blend"):
        from .tree_export import tree_ensemble_of  # noqa: PLC0415 - treelite: training only

        estimator = fitted_candidates["challenger"]
        trees = tree_ensemble_of(estimator)
    model = ScoringModel(
        kind=chosen,
        features=tuple(_features(applicant_contract, parts, baseline)),
        intercept=intercept,
        calibration=_calibration(calibrator),
        policy=Policy.of(
            scoring["scaling"],
            scoring["policy"],
            scoring["reason_codes"],
            default_rate=float(applicants_train[applicant_contract.target.name].mean()),
        ),
        contract=applicant_contract.as_dict(),
        trees=trees,
        blend_weight=float(getattr(fitted_candidates["blend"], "weight", 1.0)),
    )
    weights = _development_weights(model, applicants_train)
    by_name = applicant_contract.by_name
    features = []
    for f, weight, (_, scorecard_term, _) in zip(
        model.features, weights, (parts[n] for n in model.feature_names), strict=True
    ):
        c = by_name[f.name]
        adverse, favourable = _slot_texts(c, _slot_value_texts(f.edges, c), scorecard_term, weight)
        features.append(
            dataclasses.replace(f, weight=weight, adverse=adverse, favourable=favourable)
        )
    # Through its canonical form: what is logged is exactly what was built and verified.
    return ScoringModel.from_json(dataclasses.replace(model, features=tuple(features)).to_json())


# ----------------------------------------------------------------------------- the proof


def fitted_pd(fitted_candidates: dict[str, Any], chosen: str, calibrator: Calibrator,
              features: pd.DataFrame) -> np.ndarray:  # fmt: skip
    """The calibrated PD by the fitted objects themselves (their own predict_proba)."""
    return calibrator.apply(fitted_candidates[chosen].predict_proba(features)[:, 1])


def verify_scoring_model(
    scoring_model: ScoringModel,
    fitted_candidates: dict[str, Any],
    chosen: str,
    calibrator: Calibrator,
    applicants_train: pd.DataFrame,
    applicants_test: pd.DataFrame,
    applicant_contract: ApplicantContract,
) -> dict[str, float]:
    """Every training and test applicant scored by the runtime and by the fitted candidate:
    the run stops unless PDs agree within 1e-12 and scores are identical."""
    names = list(applicant_contract.feature_names)
    frame = pd.concat([applicants_train[names], applicants_test[names]], ignore_index=True)
    inspection = inspect(scoring_model, {n: frame[n].to_numpy() for n in names})
    rows = np.flatnonzero(inspection.ok)
    scored = score(scoring_model, inspection.checked.take(rows))
    expected = fitted_pd(fitted_candidates, chosen, calibrator, frame.iloc[rows])
    gap = float(np.max(np.abs(scored.pd - expected))) if len(rows) else 0.0
    expected_score = exact_points(scoring_model, expected).round().astype("int64")
    differing = int((expected_score != scored.score).sum())
    if gap > PD_TOLERANCE or differing:
        raise ValueError(
            f"the scoring runtime disagrees with the fitted {chosen}: largest PD gap {gap:.3g} "
            f"(tolerance {PD_TOLERANCE}), {differing} different scores of {len(rows)}"
        )
    logger.info(
        "Scoring runtime equals the fitted %s on %d applicants (largest PD gap %.2g)",
        chosen, len(rows), gap,
    )  # fmt: skip
    return {"runtime_max_pd_gap": gap, "runtime_rows_verified": float(len(rows))}
