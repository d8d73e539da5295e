"""The selection rule (docs/decisions/0010): every candidate, the baseline included, against every
other on the same folds; the simplest that no other beats beyond the noise is chosen. Checked on
constructed fold tables and on both shipped portfolios' runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantumfinance.pipelines.data_science.evaluation import paired_gain
from quantumfinance.pipelines.data_science.selection import compare_candidates, select_candidate

CV = {"n_splits": 5, "n_repeats": 3}
RULE = {
    "metric": "auc",
    "eligible": ["scorecard", "baseline", "challenger", "blend"],
    "simplicity": ["scorecard", "baseline", "challenger", "blend"],
    "min_gain": 0.005,
    "force": None,
}


def _folds(means: dict[str, float], noise: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """15 folds; each candidate's AUC = a shared fold effect + its mean + its own noise."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.03, 15)
    rows = []
    for name, mean in means.items():
        own = rng.normal(0, noise[name], 15)
        for k in range(15):
            rows.append(
                {"repeat": k // 5, "fold": k % 5, "model": name, "auc": mean + shared[k] + own[k]}
            )
    return pd.DataFrame(rows)


def test_the_baseline_beating_the_scorecard_is_chosen_over_a_blend_within_its_noise():
    # Table 1 of issue 23: the blend is near the baseline, the scorecard clearly below both.
    folds = _folds(
        {"scorecard": 0.930, "baseline": 0.9506, "challenger": 0.940, "blend": 0.9510},
        {"scorecard": 0.002, "baseline": 0.002, "challenger": 0.002, "blend": 0.01},
    )
    table = compare_candidates(folds, RULE, CV)
    assert list(table["model"]) == RULE["simplicity"]
    chosen = select_candidate(table)
    assert chosen == "baseline"
    by = table.set_index("model")["beaten_beyond_noise_by"]
    assert "baseline" in by["scorecard"] and by["baseline"] == ""
    # Never worse beyond the noise than any candidate, the best included.
    for other in RULE["eligible"]:
        if other != chosen:
            g = paired_gain(folds, other, chosen, "auc", CV["n_splits"])
            assert not (g["gain"] > RULE["min_gain"] and g["lo"] > 0), other


def test_within_the_noise_the_simplest_wins_and_a_clear_winner_wins():
    tied = _folds(
        {"scorecard": 0.800, "baseline": 0.801, "challenger": 0.803, "blend": 0.802},
        {"scorecard": 0.01, "baseline": 0.01, "challenger": 0.01, "blend": 0.01},
        seed=1,
    )
    assert select_candidate(compare_candidates(tied, RULE, CV)) == "scorecard"
    clear = _folds(
        {"scorecard": 0.70, "baseline": 0.71, "challenger": 0.78, "blend": 0.74},
        {"scorecard": 0.002, "baseline": 0.002, "challenger": 0.002, "blend": 0.002},
        seed=2,
    )
    assert select_candidate(compare_candidates(clear, RULE, CV)) == "challenger"


def test_eligible_simplicity_and_force_are_checked_and_named():
    folds = _folds({n: 0.8 for n in RULE["eligible"]}, {n: 0.01 for n in RULE["eligible"]})
    forced = compare_candidates(folds, {**RULE, "force": "blend"}, CV)
    assert select_candidate(forced) == "blend"
    assert forced.set_index("model")["forced"].to_dict() == {
        "scorecard": False, "baseline": False, "challenger": False, "blend": True
    }  # fmt: skip
    outside = compare_candidates(folds, {**RULE, "eligible": ["scorecard"], "force": "blend"}, CV)
    assert list(outside["model"]) == ["scorecard", "blend"] and select_candidate(outside) == "blend"
    assert not compare_candidates(folds, RULE, CV)["forced"].any()
    only_two = compare_candidates(folds, {**RULE, "eligible": ["challenger", "blend"]}, CV)
    assert list(only_two["model"]) == ["challenger", "blend"]
    with pytest.raises(
        ValueError, match=r"model_selection.eligible: unknown candidate\(s\) \['gbm'\]"
    ):
        compare_candidates(folds, {**RULE, "eligible": ["gbm"]}, CV)
    with pytest.raises(ValueError, match="model_selection.simplicity: eligible candidate"):
        compare_candidates(folds, {**RULE, "simplicity": ["scorecard"]}, CV)
    with pytest.raises(ValueError, match="model_selection.metric: 'brier'"):
        compare_candidates(folds, {**RULE, "metric": "brier"}, CV)
    with pytest.raises(ValueError, match="model_selection.force: unknown candidate 'gbm'"):
        compare_candidates(folds, {**RULE, "force": "gbm"}, CV)


def test_each_shipped_portfolio_chose_within_the_noise_of_the_best_and_its_card_lists_all(project):
    reports = project.data / "08_reporting"
    folds = pd.read_csv(reports / "cv_results.csv")
    table = pd.read_csv(reports / "candidate_comparison.csv", keep_default_na=False)
    chosen = (project.data / "06_models" / "chosen_model.json").read_text().strip().strip('"')
    assert set(table["model"]) == {"scorecard", "baseline", "challenger", "blend"}
    means = folds.groupby("model")["auc"].mean()
    best = str(means.idxmax())
    if best != chosen:
        g = paired_gain(folds, best, chosen, "auc", 5)
        assert not (g["gain"] > RULE["min_gain"] and g["lo"] > 0), (best, chosen, g)
    card = (reports / "model_card.md").read_text()
    assert f"Chosen: **{chosen}**" in card
    for name in table["model"]:
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert row.count("[") >= 2, row  # CV figures with their 95 % intervals
        assert ("**chosen**" in row) is (name == chosen), row
