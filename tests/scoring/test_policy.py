"""The decision policy is the portfolio's: band floors set at training from PD cut-offs (absolute,
or relative to the training default rate) through the score scaling, or given as points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from quantumfinance.scoring import Policy

REPO_ROOT = Path(__file__).resolve().parents[2]
SCORING = yaml.safe_load((REPO_ROOT / "conf/base/parameters_data_science.yml").read_text())[
    "scoring"
]


def _policy(default_rate: float | None, policy: dict | None = None) -> Policy:
    return Policy.of(
        SCORING["scaling"], policy or SCORING["policy"], SCORING["reason_codes"], default_rate
    )


def _decision(policy: Policy, pd_: float) -> str:
    score = round(policy.points(np.log((1 - pd_) / pd_)))
    band = next(i for i, floor in enumerate(policy.min_scores) if score >= floor)
    return policy.decisions[band]


def test_base_policy_gives_german_credit_its_historical_floors():
    policy = _policy(0.30)
    assert policy.min_scores == (560, 530, 500, 470, 0)
    assert "0.25× (A)" in policy.derived_from and "30.00%" in policy.derived_from


def test_a_low_default_book_gets_floors_at_its_own_risk_level():
    german, low = _policy(0.30), _policy(0.033)
    # Issue 23: on a 3.3 % book a 13 % PD was approved with German floors.
    assert _decision(german, 0.13) == "approve"
    assert _decision(low, 0.13) == "decline"
    assert _decision(low, 0.005) == "approve"
    assert all(a > b for a, b in zip(low.min_scores, german.min_scores, strict=True) if b)
    # The PD each floor stands for, as /v1/model and the card show it.
    bands = low.as_parameters()["bands"]
    assert bands[0]["max_pd"] == pytest.approx(0.25 * 0.033, rel=0.05)


def test_absolute_pd_cut_offs_and_fixed_floors_mix():
    policy = _policy(
        None,
        {
            "bands": [
                {"name": "low", "max_pd": 0.02},
                {"name": "mid", "min_score": 520},
                {"name": "high", "min_score": 0},
            ],
            "decisions": {"low": "approve", "mid": "review", "high": "decline"},
        },
    )
    assert policy.min_scores[1:] == (520, 0) and policy.min_scores[0] > 520
    assert policy.max_pd(0) == pytest.approx(0.02, rel=0.05)
    assert policy.derived_from == ""


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        (
            [{"name": "A", "max_pd": 0.1, "min_score": 500}, {"name": "E", "min_score": 0}],
            r"scoring.policy.bands\[0\] \(A\): give exactly one of",
        ),
        (
            [{"name": "A", "max_pd": 1.5}, {"name": "E", "min_score": 0}],
            r"scoring.policy.bands\[0\] \(A\): max_pd must give a PD between 0 and 1",
        ),
        (
            [{"name": "A", "min_score": 400}, {"name": "E", "min_score": 500}],
            "floors must fall from the best band to the worst, got A 400, E 500",
        ),
    ],
)
def test_a_wrong_policy_names_the_band_and_the_problem(bands, message):
    decisions = {b["name"]: "approve" for b in bands}
    with pytest.raises(ValueError, match=message):
        _policy(0.2, {"bands": bands, "decisions": decisions})


def test_a_relative_cut_off_needs_the_training_default_rate():
    with pytest.raises(ValueError, match=r"bands\[0\] \(A\): needs the training default rate"):
        _policy(None)
