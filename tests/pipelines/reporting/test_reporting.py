"""reporting on both shipped portfolios: files written and logged, PSI behaves, fairness groups
come from the contract's protected attributes, the model card states what the run used."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from quantumfinance.contract import ApplicantContract
from quantumfinance.lineage import MODEL_RUN_TAG, linked_runs
from quantumfinance.pipelines.reporting import nodes
from quantumfinance.registry import project_config
from tests.conftest import REPO_ROOT
from tests.support.portfolios import contract as shipped_contract

PROJECTS = {"german": "trained_project", "cards": "cards_project"}


@pytest.fixture(scope="module", params=list(PROJECTS))
def project(request):
    """Both shipped portfolios, trained once per session by tests/conftest.py."""
    return request.getfixturevalue(PROJECTS[request.param])


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


def test_reports_are_written_and_logged(project):
    folder = project.data / "08_reporting"
    for name in REPORTS:
        assert (folder / name).stat().st_size > 0, name
    uri = project.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    # reporting logs into a run of its own linked to the model's run (docs/decisions/0011):
    # the training run keeps its name and lineage; the report is found through the link.
    champion = client.get_model_version_by_alias("credit-score", "champion")
    run = client.get_run(champion.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "data_science"
    assert not client.list_artifacts(champion.run_id, "reporting")
    report_run = linked_runs(client, champion.run_id, "reporting")[0]  # newest
    assert report_run.info.run_name == "reporting"
    assert report_run.data.tags[MODEL_RUN_TAG] == champion.run_id
    logged = {a.path for a in client.list_artifacts(report_run.info.run_id, "reporting")}
    assert {f"reporting/{n}" for n in REPORTS if n != "metrics.json"} <= logged


def test_ks_curve_matches_the_logged_ks(project):
    ks = pd.read_csv(project.data / "08_reporting" / "ks_curve.csv")
    # Scores are rounded points, PDs are not: the two KS agree to a few applicants.
    assert abs(ks["ks"].max() - project.metrics["test_ks"]) < 0.03


def test_psi_is_zero_for_identical_and_flags_a_shift():
    base = pd.Series([0.25, 0.25, 0.25, 0.25])
    assert nodes._psi(base, base) == 0.0
    shifted = pd.Series([0.70, 0.10, 0.10, 0.10])
    assert nodes._psi(base, shifted) > 0.25
    bands = {"monitor": 0.10, "shift": 0.25}
    assert [nodes._status(v, bands) for v in (0.05, 0.15, 0.3)] == ["stable", "monitor", "shift"]


def test_psi_table_covers_score_and_every_model_characteristic(project):
    psi = pd.read_csv(project.data / "08_reporting" / "population_stability.csv")
    assert psi["variable"].tolist() == ["score", *project.contract.feature_names]
    assert (psi["psi"] >= 0).all() and set(psi["status"]) <= {"stable", "monitor", "shift"}


def test_fairness_groups_are_the_contracts_protected_attributes(project):
    table = pd.read_csv(project.data / "08_reporting" / "fairness.csv")
    applicants, scored = project.applicants_test, project.scored_test
    protected = [c.name for c in project.contract.protected]
    assert protected and list(dict.fromkeys(table["attribute"])) == protected
    for name in protected:  # every test applicant in exactly one group of each attribute
        assert table[table["attribute"] == name]["applicants"].sum() == len(applicants)
    # One categorical group recomputed from the scored applicants.
    categorical = next(c for c in project.contract.protected if c.is_categorical)
    group = applicants[categorical.name].mode().iloc[0]
    members = (applicants[categorical.name] == group).to_numpy()
    row = table[(table["attribute"] == categorical.name) & (table["group"] == group)].iloc[0]
    assert row["applicants"] == members.sum()
    assert np.isclose(row["mean_score"], scored["score"][members].mean())
    assert np.isclose(row["approval_rate"], (scored["decision"][members] == "approve").mean())


def test_german_age_bands_follow_the_contract(trained_project):
    table = pd.read_csv(trained_project.root / "data/08_reporting/fairness.csv")
    age = next(c for c in trained_project.contract.protected if c.fairness_bands)
    groups = table[table["attribute"] == age.name]["group"].tolist()
    edges = age.fairness_bands
    assert groups == [f"{lo:g}-{hi - 1:g}" for lo, hi in zip(edges, edges[1:], strict=False)] + [
        f"{edges[-1]:g}+"
    ]


def test_no_protected_attribute_gives_an_empty_table_and_says_so():
    contract = ApplicantContract.model_validate(
        {
            "portfolio": {"name": "Plain"},
            "id": {"name": "id", "generate": True},
            "target": {"name": "bad", "bad": [1], "good": [0]},
            "characteristics": [{"name": "x", "type": "float", "minimum": 0, "maximum": 1}],
        }
    )
    outcomes = pd.DataFrame({"id": [1], "observed_default": [0], "score": [600], "pd": [0.1]})
    table = nodes.fairness_table(outcomes, contract, {"quantile_bands": 5})
    assert table.empty and "attribute" in table.columns


def test_model_card_reports_cv_auc_and_the_data_this_run_used(project):
    card = (project.data / "08_reporting" / "model_card.md").read_text()
    metrics = json.loads((project.data / "08_reporting" / "metrics.json").read_text())
    for name in ("scorecard", "challenger", "blend", "baseline"):
        interval = [metrics[f"cv_auc_{name}{end}"] for end in ("", "_lo", "_hi")]
        assert "| {} | {:.3f} [{:.3f}, {:.3f}] |".format(name, *interval) in card
    # Calibration, the goals stated met or not, and the gate's decision with its evidence.
    assert f"CV calibration slope {metrics['cv_calibration_slope']:.3f} [" in card
    met = "met" if metrics["cv_auc"] >= 0.80 else "not met"
    assert f"Chosen model's mean CV AUC ≥ 0.80: {metrics['cv_auc']:.3f} [" in card
    assert f"— **{met}**" in card
    # The gate's tags on the version the card describes (a later re-run may rewrite the file).
    client = MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.tracking_uri)
    tags = client.get_model_version_by_alias("credit-score", "champion").tags
    assert "**promoted to champion**" in card and tags["promotion_reason"] in card
    assert f"Model digest: `{tags['gate.model_digest'][:16]}`" in card
    assert "## Limitations" in card and "## Intended use" in card
    quality = json.loads((project.data / "08_reporting" / "data_quality.json").read_text())
    assert f"This run read {quality['rows_in']:,} applicants" in card
    assert project.contract.portfolio.name in card
    train = pd.read_parquet(project.data / "05_model_input" / "applicants_train.parquet")
    assert f"Training split: {len(train):,} applicants" in card
    assert "Goals:" not in card and "700 good" not in card


PYTHON_REPRS = ('{"', "{'", "<Arrow", "dtype:")


def test_no_card_or_table_shows_a_python_repr(project):
    folder = project.data / "08_reporting"
    shown = [*folder.glob("*.md"), *folder.glob("*.csv")]
    assert any(p.name == "binning_table.csv" for p in shown)
    for path in shown:
        text = path.read_text(encoding="utf-8")
        assert not [r for r in PYTHON_REPRS if r in text], path.name


def test_no_data_dictionary_shows_a_python_repr():
    docs = sorted((REPO_ROOT / "docs").glob("data_dictionary*.md"))
    assert len(docs) >= 2
    for path in docs:
        assert not [r for r in PYTHON_REPRS if r in path.read_text(encoding="utf-8")], path.name


def test_the_card_header_names_the_envs_own_report_folder(project):
    card = (project.data / "08_reporting" / "model_card.md").read_text()
    relative = (project.data / "08_reporting").relative_to(project.root).as_posix()
    assert f"outputs ({relative})." in card


def test_a_cards_card_has_none_of_german_credits_sentences(cards_project):
    card = (cards_project.data / "08_reporting" / "model_card.md").read_text()
    german = project_config(REPO_ROOT)["parameters"]["reporting"]["model_card"]
    sentences = [*german["data_description"], german["intended_use"], *german["limitations"]]
    data_specific = [s for s in sentences if "parameters_data_science.yml" not in s]
    assert len(data_specific) >= 4
    assert not [s for s in data_specific if s in card]
    cards = project_config(REPO_ROOT, "cards")["parameters"]["reporting"]["model_card"]
    assert all(s in card for s in cards["limitations"])


def test_texts_written_for_another_portfolio_are_not_shown():
    card = {"portfolio": "German credit (Statlog)", "limitations": ["Decades old."]}
    texts = nodes.portfolio_texts(
        card, shipped_contract("cards"), "conf/x/parameters_reporting.yml"
    )
    assert texts["data_description"] == []
    assert "Decades old." not in texts["limitations"][0]
    assert "Not configured for Credit cards (example)" in texts["limitations"][0]


def test_a_yaml_line_read_as_a_mapping_is_shown_as_text():
    line = {"Binning and settings were chosen by hand": "CV may be optimistic."}
    assert (
        nodes.plain_text(line) == "Binning and settings were chosen by hand: CV may be optimistic."
    )
    assert nodes.plain_text([0.5, "a"]) == "0.5000, a"
