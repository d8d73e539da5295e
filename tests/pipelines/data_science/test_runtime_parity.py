"""The scoring runtime against the fitted training objects, on both shipped portfolios.

For every candidate type that can be champion, the runtime's model is built from the fitted
candidates (optbinning, scikit-learn) and scores every training and test applicant, plus
Hypothesis-generated ones: PD within 1e-12 of the fitted estimator's own ``predict_proba`` (with
the same calibration), identical score, band and decision, and identical reasons and positive
factors, computed here independently from the fitted estimator (the documented attribution:
points against the development reference, asked of the model itself).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantumfinance.pipelines.data_science.artifact import build_scoring_model, fitted_pd
from quantumfinance.pipelines.data_science.evaluation import Calibrator
from quantumfinance.scoring import ScoringModel, check, score
from quantumfinance.scoring.output import output_rows
from quantumfinance.scoring.score import exact_points

KINDS = ("scorecard", "baseline", "challenger", "blend")


def _scoring_params(project) -> dict:
    conf = Path(project.root) / "conf" / "base" / "parameters_data_science.yml"
    return yaml.safe_load(conf.read_text())["scoring"]


def _calibrator(model: ScoringModel, method: str) -> Calibrator:
    c = model.calibration
    if method == "sigmoid":
        return Calibrator("sigmoid", c.slope if c.method == "sigmoid" else 1.1, c.intercept)
    x = np.linspace(0.0, 1.0, 11)
    return Calibrator("isotonic", x=tuple(x), y=tuple(np.clip(x**1.2, 1e-6, 1 - 1e-6)))


@pytest.fixture(scope="module")
def applicants(project) -> pd.DataFrame:
    names = list(project.contract.feature_names)
    train = pd.read_parquet(project.data / "05_model_input" / "applicants_train.parquet")
    return pd.concat([train[names], project.applicants_test[names]], ignore_index=True)


@pytest.fixture(scope="module")
def built(project, fitted_candidates, scoring_model):
    """The runtime's model of each candidate type (and the scorecard with isotonic calibration),
    built from the run's fitted candidates, with the calibrator it applies."""
    train = pd.read_parquet(project.data / "05_model_input" / "applicants_train.parquet")

    class Built(dict):
        def __missing__(self, kind: str):
            chosen, _, method = kind.partition("-")
            calibrator = _calibrator(scoring_model, method or "sigmoid")
            model = build_scoring_model(
                fitted_candidates,
                chosen,
                calibrator,
                _scoring_params(project),
                project.contract,
                train,
            )
            self[kind] = (chosen, model, calibrator)
            return self[kind]

    return Built()


def _columns(frame: pd.DataFrame, model: ScoringModel) -> dict:
    return {n: frame[n].to_numpy(dtype=object) for n in model.feature_names}


def _reference(model, fitted, chosen, calibrator, frame: pd.DataFrame) -> list[dict]:
    """Scores, bands, decisions and reason lists computed from the fitted estimator alone."""
    own = exact_points(model, fitted_pd(fitted, chosen, calibrator, frame))
    contributions = np.empty((len(frame), len(model.features)))
    for j, f in enumerate(model.features):
        used = np.flatnonzero(f.weight > 0)
        reference = np.zeros(len(frame))
        for s in used.tolist():
            variant = frame.copy()
            value = np.nan if f.probe[s] is None else f.probe[s]  # missing as pandas holds it
            variant[f.name] = pd.Series([value] * len(frame), index=frame.index, dtype=object)
            if not f.categorical:
                variant[f.name] = variant[f.name].astype("float64")
            points = exact_points(model, fitted_pd(fitted, chosen, calibrator, variant))
            reference += f.weight[s] * points
        contributions[:, j] = own - reference
    policy = model.policy
    rows = []
    for i in range(len(frame)):
        score_ = int(np.round(own[i]))
        band = next((k for k, m in enumerate(policy.min_scores) if score_ >= m), -1)
        items = {}
        for kind, sign, limit, floor in (
            ("reason_codes", -1, policy.max_reasons, policy.min_points_lost),
            ("positive_factors", 1, policy.max_positive_factors, policy.min_points_gained),
        ):
            points = sign * contributions[i]
            order = sorted(range(len(points)), key=lambda j, p=points: (-p[j], j))[:limit]
            items[kind] = [(model.features[j].code, points[j]) for j in order
                           if points[j] > floor]  # fmt: skip
        rows.append(
            {
                "score": score_,
                "band": policy.bands[band],
                "decision": policy.decisions[band],
                **items,
            }
        )
    return rows


def _assert_equal(model, fitted, chosen, calibrator, frame: pd.DataFrame) -> list[dict]:
    checked = check(model, _columns(frame, model))
    scored = score(model, checked)
    expected_pd = fitted_pd(fitted, chosen, calibrator, frame)
    np.testing.assert_allclose(scored.pd, expected_pd, rtol=0, atol=1e-12)
    got = output_rows(model, scored)
    for row, want in zip(got, _reference(model, fitted, chosen, calibrator, frame), strict=True):
        assert (row["score"], row["band"], row["decision"]) == (
            want["score"],
            want["band"],
            want["decision"],
        )
        for kind in ("reason_codes", "positive_factors"):
            codes = [(item["code"], item["points"]) for item in row[kind]]
            assert [c for c, _ in codes] == [c for c, _ in want[kind]], (kind, codes, want[kind])
            # The runtime rounds to 0.1 point; the reference is unrounded.
            np.testing.assert_allclose(
                [p for _, p in codes], [p for _, p in want[kind]], rtol=0, atol=0.05 + 1e-6
            )
    return got


@pytest.mark.parametrize("kind", [*KINDS, "scorecard-isotonic"])
def test_runtime_equals_the_fitted_candidate_on_every_train_and_test_row(
    kind, built, fitted_candidates, applicants
):
    chosen, model, calibrator = built[kind]
    rows = _assert_equal(model, fitted_candidates, chosen, calibrator, applicants)
    # One attribution: no characteristic is both a reason and a positive factor.
    for row in rows:
        reasons = {item["code"] for item in row["reason_codes"]}
        assert not reasons & {item["code"] for item in row["positive_factors"]}, row


def _applicant(model: ScoringModel) -> st.SearchStrategy:
    fields = {}
    for f in model.features:
        if f.categorical:
            values = st.sampled_from(f.categories)
        elif f.integer:
            values = st.integers(int(np.ceil(f.minimum)), int(np.floor(f.maximum)))
        else:
            values = st.floats(f.minimum, f.maximum, allow_nan=False)
        fields[f.name] = st.one_of(st.none(), values) if f.nullable else values
    return st.fixed_dictionaries(fields)


@pytest.mark.parametrize("kind", KINDS)
def test_runtime_equals_the_fitted_candidate_on_generated_applicants(
    kind, built, fitted_candidates
):
    chosen, model, calibrator = built[kind]

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_applicant(model), min_size=1, max_size=10))
    def check_batch(batch):
        frame = pd.DataFrame(batch, columns=list(model.feature_names))
        for f in model.features:  # missing values as a parquet file gives them: NaN
            if f.categorical:
                frame[f.name] = frame[f.name].astype(object).where(frame[f.name].notna(), np.nan)
            else:
                frame[f.name] = frame[f.name].astype("float64")
        _assert_equal(model, fitted_candidates, chosen, calibrator, frame)

    check_batch()


def test_the_logged_model_is_the_one_the_run_built(scoring_model, built, project):
    """The artifact on disk is the chosen candidate's runtime model, byte for byte canonical."""
    chosen = scoring_model.kind
    rebuilt = dataclasses.replace(built[chosen][1], calibration=scoring_model.calibration)
    assert ScoringModel.from_json(rebuilt.to_json()).to_json() == scoring_model.to_json()
    assert scoring_model.contract == project.contract.as_dict()
