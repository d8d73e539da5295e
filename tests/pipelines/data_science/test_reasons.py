"""Reasons come from the model that decides: for each candidate type (scorecard, monotone
boosting, blend) made champion on purpose, the top reason is the characteristic whose change
raises that model's score most, and the points are that rise."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from quantumfinance.pipelines.data_science import nodes

APPLICANTS = 6  # test applicants checked per candidate (each costs one scoring per probe value)


@pytest.fixture(scope="module")
def fitted_candidates(project) -> dict:
    with (project.data / "06_models" / "fitted_candidates.pkl").open("rb") as handle:
        return pickle.load(handle)


def _champion(credit_model, fitted_candidates, chosen: str) -> nodes.CreditModel:
    """The packaged model with another candidate deliberately made the one that decides."""
    return dataclasses.replace(credit_model, chosen=chosen, estimator=fitted_candidates[chosen])


def _exact_scores(model: nodes.CreditModel, contract, applicants: pd.DataFrame) -> np.ndarray:
    """Unrounded scores through the inference nodes' DataFrame path (not the reasons' arrays)."""
    checked = nodes.check_applicants(contract, applicants)
    pd_ = nodes.predict_default_probability(model, checked, nodes.assign_woe(model, checked))
    return nodes._to_points(-np.log(pd_ / (1 - pd_)), model.scaling)


def _best_change(model, contract, applicant: pd.DataFrame) -> dict[str, float]:
    """Per characteristic: the largest score rise from changing it alone to any probe value."""
    own = _exact_scores(model, contract, applicant)[0]
    rises = {}
    for name in model.features:
        variants = pd.concat([applicant] * len(model.probes[name]), ignore_index=True)
        variants[name] = pd.Series(model.probes[name], dtype=applicant[name].dtype)
        rises[name] = float(_exact_scores(model, contract, variants).max() - own)
    return rises


@pytest.mark.parametrize("chosen", ["scorecard", "challenger", "blend"])
def test_top_reason_is_the_change_that_raises_the_score_most(
    project, credit_model, fitted_candidates, chosen
):
    contract = project.contract
    model = _champion(credit_model, fitted_candidates, chosen)
    applicants = project.applicants_test[list(contract.feature_names)].iloc[:APPLICANTS]
    scored = nodes.score_portfolio(model, contract, applicants.reset_index(drop=True))
    checked = 0
    for i in range(len(applicants)):
        rises = _best_change(model, contract, applicants.iloc[[i]].reset_index(drop=True))
        top = max(rises, key=rises.get)
        reasons = list(scored.loc[i, "reason_codes"])
        if rises[top] <= model.reason_codes["min_points_lost"]:
            assert reasons == []
            continue
        assert reasons[0]["code"] == top.upper(), (chosen, i, rises, reasons)
        assert reasons[0]["points"] == pytest.approx(rises[top], abs=0.051)
        checked += 1
    assert checked >= APPLICANTS // 2


def test_a_non_scorecard_champion_explains_with_its_own_attributions(
    project, credit_model, fitted_candidates
):
    """The blend's reasons are its own: its points differ from the scorecard's on the same
    applicants, and its PDs are what it decided with."""
    contract = project.contract
    applicants = project.applicants_test[list(contract.feature_names)].reset_index(drop=True)
    blend = _champion(credit_model, fitted_candidates, "blend")
    scorecard = _champion(credit_model, fitted_candidates, "scorecard")
    by_blend = nodes.score_portfolio(blend, contract, applicants)
    by_scorecard = nodes.score_portfolio(scorecard, contract, applicants)
    assert not np.array_equal(by_blend["pd"], by_scorecard["pd"])
    blend_points = [[r["points"] for r in row] for row in by_blend["reason_codes"]]
    scorecard_points = [[r["points"] for r in row] for row in by_scorecard["reason_codes"]]
    assert blend_points != scorecard_points
    # The challenger's array path is its Pipeline's own predict_proba.
    challenger = fitted_candidates["challenger"]
    checked = nodes.check_applicants(contract, applicants)
    np.testing.assert_array_equal(
        nodes.challenger_pd(challenger, checked),
        challenger.predict_proba(checked.to_frame())[:, 1],
    )
    # Approvals carry positive factors with the applicant's value in the text.
    approved = by_blend[by_blend["decision"] == "approve"]
    assert len(approved) and all(len(f) > 0 for f in approved["positive_factors"])
