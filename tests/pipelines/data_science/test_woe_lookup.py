"""The training-time WoE lookup scores exactly as optbinning's transform-based path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from optbinning import BinningProcess

from quantumfinance.pipelines.data_science import nodes
from quantumfinance.pipelines.data_science.explain import Attribution
from quantumfinance.synthetic import generate_applicants

SYNTHETIC_ROWS = 20_000


@pytest.fixture(scope="module")
def credit_model(credit_model) -> nodes.CreditModel:
    """The packaged model with its scorecard deciding (whichever candidate the portfolio chose):
    the lookups compared here with optbinning are the scorecard's."""
    return dataclasses.replace(credit_model, chosen="scorecard", estimator=credit_model.scorecard)


@pytest.fixture(scope="module")
def project_contract(project):
    """The contract of the module's project, as a callable the tests pass to score_portfolio."""
    return lambda _model: project.contract


def _binning(credit_model: nodes.CreditModel) -> BinningProcess:
    return credit_model.scorecard.named_steps["woe"]


def _transform_path(credit_model: nodes.CreditModel, applicants: pd.DataFrame) -> pd.DataFrame:
    """The reference: optbinning's transform for points, the chosen estimator's own predict."""
    features = applicants[list(credit_model.features)]
    woe = _binning(credit_model).transform(features, metric="woe")
    coefficients = nodes._scorecard_parts(credit_model.scorecard)[1]
    points = woe.mul(-coefficients, axis=1).pipe(nodes._to_points, credit_model.scaling, False)
    raw = credit_model.estimator.predict_proba(features)[:, 1]
    pd_ = pd.Series(credit_model.calibrator.apply(raw), index=features.index)
    names = tuple(points.columns)
    best = np.array([credit_model.best_points[n] for n in names])
    worst = np.array([credit_model.worst_points[n] for n in names])
    slope = credit_model.calibrator.slope  # Platt scaling: served points = slope x scorecard's
    attribution = Attribution(
        names,
        slope * np.maximum(best - points.to_numpy(), 0.0),
        slope * np.maximum(points.to_numpy() - worst, 0.0),
        np.broadcast_to([credit_model.best_probe[n] for n in names], points.shape),
        {n: features[n].to_numpy() for n in names},
    )
    return nodes.score_applicants(pd_, attribution, credit_model)


def _assert_same_scores(new: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert list(new.columns) == list(reference.columns)
    assert new.dtypes.equals(reference.dtypes)
    np.testing.assert_allclose(new["pd"], reference["pd"], rtol=1e-12, atol=0)
    for column in ("score", "band", "decision", "reason_codes"):
        assert new[column].tolist() == reference[column].tolist(), column


@pytest.fixture(scope="module")
def portfolios(project, credit_model) -> dict[str, pd.DataFrame]:
    """Test split, 20,000 synthetic applicants, and edge values of every characteristic, each
    checked and typed by the inference pipeline's first node (as frames)."""
    contract = project.contract
    features = list(contract.feature_names)
    reference = pd.read_parquet(project.data / "01_raw" / "applicants.parquet")
    test = project.applicants_test[features].reset_index(drop=True)
    synthetic = generate_applicants(contract, SYNTHETIC_ROWS, seed=20_261_126, reference=reference)
    edges = pd.DataFrame(_edge_rows(project, credit_model, test.iloc[0]))
    return {
        name: nodes.check_applicants(contract, frame[features]).to_frame()
        for name, frame in {"test": test, "synthetic": synthetic, "edges": edges}.items()
    }


def _edge_rows(project, credit_model: nodes.CreditModel, template: pd.Series) -> list[dict]:
    """One characteristic varied at a time: bounds, values around every split, all categories."""
    rows = []
    for c in project.contract.features:
        if c.is_categorical:
            values = list(c.categories)
        else:
            splits = _binning(credit_model).get_binned_variable(c.name).splits
            around = (np.floor(splits), np.ceil(splits)) if c.type == "integer" else (splits,)
            values = sorted({c.minimum, c.maximum, *np.concatenate(around)})
            values = [v for v in values if c.problem(float(v)) is None]
        rows += [{**template.to_dict(), c.name: v} for v in values]
    return rows


@pytest.mark.parametrize("portfolio", ["test", "synthetic", "edges"])
def test_lookup_path_scores_exactly_as_the_transform_path(
    credit_model, portfolios, portfolio, project_contract
):
    applicants = portfolios[portfolio]
    new = nodes.score_portfolio(credit_model, project_contract(credit_model), applicants)
    _assert_same_scores(new, _transform_path(credit_model, applicants))
    assert len(new) == len(applicants)


@pytest.mark.parametrize("portfolio", ["test", "synthetic", "edges"])
def test_lookup_woe_and_points_equal_optbinning(credit_model, portfolios, portfolio):
    applicants = portfolios[portfolio]
    woe = nodes.assign_woe(credit_model, applicants)
    expected = _binning(credit_model).transform(
        applicants[list(credit_model.features)], metric="woe"
    )
    np.testing.assert_array_equal(woe, expected.to_numpy())
    assert list(expected.columns) == list(credit_model.woe_lookup)  # the matrix's columns
    coefficients = nodes._scorecard_parts(credit_model.scorecard)[1]
    points = expected.mul(-coefficients, axis=1).pipe(nodes._to_points, credit_model.scaling, False)
    best = pd.Series(credit_model.best_points)[points.columns]
    lost = nodes.characteristic_points(credit_model, applicants, woe).lost
    slope = credit_model.calibrator.slope
    np.testing.assert_array_equal(
        lost, slope * np.maximum(best.to_numpy() - points.to_numpy(), 0.0)
    )


def test_exact_split_points_missing_and_unseen_values_get_optbinning_woe(
    project, credit_model, portfolios
):
    """Beyond the contract: splits exactly and one ulp either side, NaN, unseen category."""
    template = portfolios["test"].iloc[0]
    rows = []
    for c in project.contract.features:
        if c.is_categorical:
            values = [None, "an unseen category"]
        else:
            splits = _binning(credit_model).get_binned_variable(c.name).splits
            around = [np.nextafter(s, -np.inf) for s in splits] + [
                np.nextafter(s, np.inf) for s in splits
            ]
            values = [np.nan, -1e12, 1e12, *splits, *around]
        rows += [{**template.to_dict(), c.name: v} for v in values]
    features = project.contract.features
    dtypes = {c.name: ("object" if c.is_categorical else "float64") for c in features}
    applicants = pd.DataFrame(rows).astype(dtypes)
    woe = nodes.assign_woe(credit_model, applicants)
    expected = _binning(credit_model).transform(
        applicants[list(credit_model.features)], metric="woe"
    )
    np.testing.assert_array_equal(woe, expected.to_numpy())


def test_inference_never_runs_optbinning_transform(
    credit_model, portfolios, monkeypatch, project_contract
):
    """The bins are assigned once, by the lookup: a second binning pass would fail this test."""
    assert list(credit_model.woe_lookup) == list(_binning(credit_model).get_support(names=True))

    def refuse(*args, **kwargs):
        raise AssertionError("BinningProcess.transform called at inference")

    monkeypatch.setattr(BinningProcess, "transform", refuse)
    scored = nodes.score_portfolio(credit_model, project_contract(credit_model), portfolios["test"])
    assert len(scored) == len(portfolios["test"])
