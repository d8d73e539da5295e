"""data_science on both shipped portfolios: the logged model scores exactly as the pipeline did;
signature and contract travel with it; reasons, tracking, determinism; German figures pinned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from quantumfinance.contract import contract_of_model
from quantumfinance.pipelines.data_science.inference import score_applicants
from quantumfinance.scoring import ApplicantsError, check, score
from quantumfinance.scoring.output import output_rows
from tests.conftest import run_pipelines

OUTPUT_COLUMNS = ["pd", "score", "band", "decision", "reason_codes", "positive_factors"]
# metrics.json of this (seeded) code on German credit: repeated CV with intervals, calibration.
GERMAN_PINNED = Path(__file__).with_name("german_metrics.json")


def _plain_reasons(value) -> list[dict]:
    """Reason codes as plain lists of dicts (parquet gives numpy arrays back)."""
    return [
        {"code": str(r["code"]), "text": str(r["text"]), "points": float(r["points"])}
        for r in list(value)
    ]


def _features(project) -> pd.DataFrame:
    return project.applicants_test[list(project.contract.feature_names)]


def test_champion_model_scores_the_test_set_exactly_as_the_pipeline(project):
    features = _features(project)
    with project.tracking():
        served = mlflow.pyfunc.load_model(project.model_uri).predict(features)
    expected = project.scored_test
    assert list(served.columns) == OUTPUT_COLUMNS
    assert len(served) == len(expected) == len(features)
    np.testing.assert_array_equal(served["pd"].to_numpy(), expected["pd"].to_numpy())
    for column in ("score", "band", "decision"):
        assert served[column].tolist() == expected[column].tolist(), column
    assert served["score"].dtype == "int64"
    for column in ("reason_codes", "positive_factors"):
        served_reasons = [_plain_reasons(r) for r in served[column]]
        assert served_reasons == [_plain_reasons(r) for r in expected[column]], column
    assert all(isinstance(r, list) and len(r) <= 4 for r in served["reason_codes"])
    assert set(served["decision"]) <= {"approve", "review", "decline"}


def test_logged_model_signature_and_contract_come_from_the_env_contract(project):
    contract = project.contract
    with project.tracking():
        info = mlflow.models.get_model_info(project.model_uri)
        logged = contract_of_model(mlflow.pyfunc.load_model(project.model_uri))
    assert logged == contract and logged.digest == contract.digest
    inputs = {c["name"]: c for c in info.signature.inputs.to_dict()}
    assert list(inputs) == list(contract.feature_names)
    for c in contract.features:
        expected = {"categorical": "string", "float": "double"}.get(c.type)
        expected = expected or ("double" if c.nullable else "long")
        assert inputs[c.name]["type"] == expected, c.name
        assert inputs[c.name]["required"] is (not c.nullable), c.name
    excluded = [c.name for c in contract.characteristics if not c.use_in_model]
    assert not set(excluded) & set(inputs)
    assert [c["name"] for c in info.signature.outputs.to_dict()] == OUTPUT_COLUMNS


def test_german_figures_are_those_this_seeded_code_produces(trained_project):
    pinned = json.loads(GERMAN_PINNED.read_text())
    # Read as JSON: YAML (the fixture's reader) takes a float such as 1e-05 for a string.
    metrics = json.loads((trained_project.data / "08_reporting" / "metrics.json").read_text())
    assert metrics == pytest.approx(pinned, rel=1e-9, abs=1e-12)
    # The champion's CV AUC comes with its interval, and its out-of-fold calibration is in range.
    assert metrics["cv_auc_lo"] < metrics["cv_auc"] < metrics["cv_auc_hi"]
    assert 0.9 <= metrics["cv_calibration_slope"] <= 1.1 and abs(metrics["cv_citl_points"]) <= 1


def test_version_is_described_by_its_model_card(project):
    client = MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.tracking_uri)
    champion = client.get_model_version_by_alias("credit-score", "champion")
    card = (project.data / "08_reporting" / "model_card.md").read_text()
    assert len(card) < 5000 and champion.description == card
    assert "inference pipeline" in client.get_registered_model("credit-score").description


def test_cards_float_missing_and_text_target_went_through_training_and_scoring(cards_project):
    """The cards portfolio's float features, missing values and Yes/No target, end to end."""
    contract, data = cards_project.contract, cards_project.data
    raw = pd.read_parquet(data / "01_raw" / "applicants.parquet")
    train = pd.read_parquet(data / "05_model_input" / "applicants_train.parquet")
    test = cards_project.applicants_test
    target = contract.target.name
    # Text-coded target: read as 0/1 from the source's Yes/No, nothing lost.
    bad = str(contract.target.bad[0])
    assert train[target].sum() + test[target].sum() == (raw[target] == bad).sum()
    binning = pd.read_csv(data / "08_reporting" / "binning_table.csv")
    for c in contract.features:
        rows = binning[binning["characteristic"] == c.name]
        if c.nullable:  # missing values trained into optbinning's missing bin
            assert (
                rows.loc[rows["Bin"] == "Missing", "Count"].item() == train[c.name].isna().sum() > 0
            )
        if c.type == "float":  # real-valued splits, not whole numbers
            assert rows["Bin"].str.contains(r"\d\.\d", regex=True).any(), c.name
    missing_rows = test[[c.name for c in contract.features if c.nullable]].isna().any(axis=1)
    assert missing_rows.any()
    scored = cards_project.scored_test[missing_rows.to_numpy()]
    assert scored["pd"].between(0, 1).all() and scored["score"].notna().all()


def test_run_is_tagged_with_provenance_and_aliases_set(project):
    client = MlflowClient(project.tracking_uri, registry_uri=project.tracking_uri)
    champion = client.get_model_version_by_alias("credit-score", "champion")
    challengers = [
        a for a in client.get_registered_model("credit-score").aliases if a == "challenger"
    ]
    # A promoted first version: no challenger.
    assert str(champion.version) == "1" and not challengers
    run = client.get_run(champion.run_id)
    assert len(run.data.tags["mlflow.source.git.commit"]) == 40  # MLflow's own lineage fields
    inputs = {d.dataset.name: d.dataset for d in run.inputs.dataset_inputs}
    assert {"applicants_train", "applicants_test"} <= set(inputs), inputs
    assert all(len(d.digest) == 32 for d in inputs.values())  # md5 of the stored bytes
    assert run.data.tags["kedro_env"] == project.env
    for key in ("cv_auc_scorecard", "test_auc_challenger", "test_ks_baseline", "cv_brier"):
        assert key in run.data.metrics
    # Flattened params a reviewer can read, one per setting, not JSON blobs.
    assert run.data.params["model_training.cv.n_splits"] == "5"
    assert not [k for k, v in run.data.params.items() if v.startswith("{")]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"binning_table.csv", "scorecard_table.csv", "metrics.json"} <= artifacts


def test_best_applicant_has_no_reason_and_a_worst_value_comes_first(project, scoring_model):
    """Scorecard slots: an applicant in every best slot has no reason; made worst on one
    characteristic, that characteristic is the reason, with the points it loses against the
    development reference and a text naming the slot and the direction."""
    model = scoring_model
    if not model.additive:
        pytest.skip(f"{project.env}: the {model.kind} champion is not additive")
    # Each slot's log-odds term at its probe value (a number's slope included: the baseline).
    terms = [
        f.term + f.slope * np.array([0.0 if v is None or f.categorical else v for v in f.probe])
        for f in model.features
    ]
    best = [
        int(np.argmin(np.where(f.weight > 0, t, np.inf)))
        for f, t in zip(model.features, terms, strict=True)
    ]
    worst = [
        int(np.argmax(np.where(f.weight > 0, t, -np.inf)))
        for f, t in zip(model.features, terms, strict=True)
    ]
    applicant = {f.name: [f.probe[s]] for f, s in zip(model.features, best, strict=True)}
    assert output_rows(model, score(model, check(model, applicant)))[0]["reason_codes"] == []
    scale = model.policy.factor * model.calibration.slope
    for j, f in enumerate(model.features):
        one_bad = {**applicant, f.name: [f.probe[worst[j]]]}
        reasons = output_rows(model, score(model, check(model, one_bad)))[0]["reason_codes"]
        lost = scale * (terms[j][worst[j]] - f.weight @ terms[j])
        if lost <= model.policy.min_points_lost:
            continue
        assert [r["code"] for r in reasons] == [f.code], (f.name, reasons)
        assert reasons[0]["points"] == pytest.approx(lost, abs=0.051)
        assert reasons[0]["text"] == f.adverse[worst[j]]


@pytest.fixture(scope="module")
def rerun_identical(trained_project) -> Iterator[dict]:
    """ds run a second time, same seed and data: an identical model."""
    client = MlflowClient(trained_project.tracking_uri, registry_uri=trained_project.tracking_uri)
    before = client.get_model_version_by_alias("credit-score", "champion")
    versions = len(client.search_model_versions("name='credit-score'"))
    run_pipelines(trained_project.root, trained_project.tracking_uri, ["data_science"])
    runs = client.search_runs(
        [client.get_run(before.run_id).info.experiment_id], order_by=["start_time DESC"]
    )
    rerun = runs[0]  # the run just started
    yield {"client": client, "first": before, "rerun": rerun, "versions": versions}


def test_same_seed_gives_identical_metrics_on_a_second_run(rerun_identical):
    client = rerun_identical["client"]
    first, rerun = rerun_identical["first"], rerun_identical["rerun"]
    assert first.run_id != rerun.info.run_id
    first_metrics = client.get_run(first.run_id).data.metrics
    assert "test_auc" in first_metrics and first_metrics == rerun.data.metrics


def test_identical_rerun_is_refused_and_registers_no_new_version(rerun_identical):
    client, first, rerun = (rerun_identical[k] for k in ("client", "first", "rerun"))
    assert len(client.search_model_versions("name='credit-score'")) == rerun_identical["versions"]
    assert client.get_model_version_by_alias("credit-score", "champion").version == first.version
    assert rerun.data.tags["promotion"] == "identical_to_champion"
    assert "identical to champion" in rerun.data.tags["promotion_reason"]
    first_tags = client.get_model_version("credit-score", first.version).tags
    assert first_tags["promotion"] == "promoted" and len(first_tags["gate.model_digest"]) == 64


def test_missing_characteristic_is_named(scoring_model, project):
    dropped = project.contract.feature_names[-1]
    applicants = _features(project).drop(columns=[dropped])
    with pytest.raises(ApplicantsError, match=f"field {dropped}: column is missing"):
        score_applicants(scoring_model, applicants)


def test_input_breaking_the_contract_is_refused_by_the_logged_model(project):
    """The model checks its own input: the first bad row and field are named."""
    contract = project.contract
    first = next(c for c in contract.features if not c.is_categorical)
    rows = pd.DataFrame([contract.example_applicant()] * 3)
    too_big = first.maximum + 1
    rows.loc[1, first.name] = int(too_big) if first.type == "integer" else too_big
    with project.tracking():
        model = mlflow.pyfunc.load_model(project.model_uri)
    with pytest.raises(ApplicantsError, match=f"row 1, field {first.name}: .* above the maximum"):
        model.predict(rows)
