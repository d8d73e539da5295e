"""reporting: files written and logged, PSI behaves, fairness and model card agree with the run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from quantumfinance.pipelines.reporting import nodes

REPORTS = (
    "roc_curve.csv",
    "ks_curve.csv",
    "calibration.csv",
    "population_stability.csv",
    "fairness.csv",
    "roc.png",
    "ks.png",
    "calibration.png",
    "score_distribution.png",
    "model_card.md",
    "reporting_metrics.json",
    "metrics.json",
)


def test_reports_are_written_and_logged(trained_project):
    folder = trained_project.root / "data/08_reporting"
    for name in REPORTS:
        assert (folder / name).stat().st_size > 0, name
    uri = trained_project.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    # reporting resumes the model's run (QF_MLFLOW_RUN_ID): the registered version carries its
    # own report, and no separate reporting run exists.
    champion = client.get_model_version_by_alias("credit-score", "champion")
    run = client.get_run(champion.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "data_science"  # resuming renamed it; the helper restores it
    logged = {a.path for a in client.list_artifacts(champion.run_id, "reporting")}
    assert {f"reporting/{n}" for n in REPORTS if n != "metrics.json"} <= logged
    experiment = client.get_experiment_by_name("quantumfinance").experiment_id
    assert not client.search_runs([experiment], "tags.mlflow.runName = 'reporting'")


def test_ks_curve_matches_the_logged_ks(trained_project):
    ks = pd.read_csv(trained_project.root / "data/08_reporting/ks_curve.csv")
    # Scores are rounded points, PDs are not: the two KS agree to a few applicants.
    assert abs(ks["ks"].max() - trained_project.metrics["test_ks"]) < 0.03


def test_psi_is_zero_for_identical_and_flags_a_shift():
    base = pd.Series([0.25, 0.25, 0.25, 0.25])
    assert nodes._psi(base, base) == 0.0
    shifted = pd.Series([0.70, 0.10, 0.10, 0.10])
    assert nodes._psi(base, shifted) > 0.25
    bands = {"monitor": 0.10, "shift": 0.25}
    assert [nodes._status(v, bands) for v in (0.05, 0.15, 0.3)] == ["stable", "monitor", "shift"]


def test_psi_table_covers_score_and_every_characteristic(trained_project):
    psi = pd.read_csv(trained_project.root / "data/08_reporting/population_stability.csv")
    assert psi["variable"].iloc[0] == "score" and len(psi) == 21
    assert (psi["psi"] >= 0).all() and set(psi["status"]) <= {"stable", "monitor", "shift"}


def test_fairness_table_agrees_with_the_scored_applicants(trained_project):
    table = pd.read_csv(trained_project.root / "data/08_reporting/fairness.csv")
    applicants, scored = trained_project.applicants_test, trained_project.scored_test
    senior = applicants["age"].to_numpy() >= 62
    row = table[(table["attribute"] == "age 62+ vs rest") & (table["group"] == "62+")].iloc[0]
    assert row["applicants"] == senior.sum()
    assert np.isclose(row["mean_score"], scored["score"][senior].mean())
    assert np.isclose(row["approval_rate"], (scored["decision"][senior] == "approve").mean())
    by_sex = table[table["attribute"] == "personal_status_sex"]
    assert by_sex["applicants"].sum() == len(applicants)
    assert table[table["attribute"] == "age_band"]["applicants"].sum() == len(applicants)


def test_model_card_reports_cv_auc_of_each_model_and_the_baseline(trained_project):
    card = (trained_project.root / "data/08_reporting/model_card.md").read_text()
    metrics = json.loads((trained_project.root / "data/08_reporting/metrics.json").read_text())
    for name in ("scorecard", "challenger", "baseline"):
        assert f"| {name} | {metrics[f'cv_auc_{name}']:.3f} |" in card
    assert "## Limitations" in card and "## Intended use" in card
