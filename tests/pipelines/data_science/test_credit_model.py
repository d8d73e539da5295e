"""data_science: the logged model scores exactly as the pipeline did; reasons, tracking, determinism."""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from quantumfinance.applicant_schema import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, NUMERIC_COLUMNS
from quantumfinance.pipelines.data_science import nodes
from tests.conftest import run_pipelines

OUTPUT_COLUMNS = ["pd", "score", "band", "decision", "reason_codes"]


def _plain_reasons(value) -> list[dict[str, str]]:
    """Reason codes as plain lists of dicts (parquet gives numpy arrays back)."""
    return [{"code": str(r["code"]), "text": str(r["text"])} for r in list(value)]


def test_champion_model_scores_the_test_set_exactly_as_the_pipeline(trained_project):
    features = trained_project.applicants_test[list(FEATURE_COLUMNS)]
    with trained_project.tracking():
        served = mlflow.pyfunc.load_model(trained_project.model_uri).predict(features)
    expected = trained_project.scored_test
    assert list(served.columns) == OUTPUT_COLUMNS
    assert len(served) == len(expected) == len(features)
    np.testing.assert_array_equal(served["pd"].to_numpy(), expected["pd"].to_numpy())
    for column in ("score", "band", "decision"):
        assert served[column].tolist() == expected[column].tolist(), column
    assert served["score"].dtype == "int64"
    served_reasons = [_plain_reasons(r) for r in served["reason_codes"]]
    assert served_reasons == [_plain_reasons(r) for r in expected["reason_codes"]]
    assert all(isinstance(r, list) and len(r) <= 4 for r in served["reason_codes"])
    assert set(served["decision"]) <= {"approve", "review", "decline"}


def test_logged_model_signature_is_exactly_the_characteristics(trained_project):
    with trained_project.tracking():
        info = mlflow.models.get_model_info(trained_project.model_uri)
    inputs = info.signature.inputs.to_dict()
    assert [c["name"] for c in inputs] == list(FEATURE_COLUMNS)
    types = {c["name"]: c["type"] for c in inputs}
    assert {types[c] for c in CATEGORICAL_COLUMNS} == {"string"}
    assert {types[c] for c in NUMERIC_COLUMNS} == {"long"}
    assert [c["name"] for c in info.signature.outputs.to_dict()] == OUTPUT_COLUMNS


def test_run_is_tagged_with_provenance_and_aliases_set(trained_project):
    client = MlflowClient(tracking_uri=trained_project.tracking_uri)
    champion = client.get_model_version_by_alias("credit-score", "champion")
    challenger = client.get_model_version_by_alias("credit-score", "challenger")
    assert champion.version == challenger.version
    run = client.get_run(champion.run_id)
    assert len(run.data.tags["git_commit"].split("-")[0]) == 40
    assert len(run.data.tags["raw_data_md5"]) == 32
    assert run.data.tags["kedro_env"] == "local"
    for key in ("cv_auc_scorecard", "test_auc_challenger", "test_ks_baseline", "cv_brier"):
        assert key in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"binning_table.csv", "scorecard_table.csv", "metrics.json"} <= artifacts


def _extreme_applicants(credit_model, applicants: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """A best-bin applicant (from observed values) and each characteristic's worst value."""
    points = nodes.characteristic_points(credit_model, nodes.assign_woe(credit_model, applicants))
    features = applicants[list(FEATURE_COLUMNS)]
    best = {c: features[c].iloc[int(points[c].to_numpy().argmax())] for c in FEATURE_COLUMNS}
    worst = {c: features[c].iloc[int(points[c].to_numpy().argmin())] for c in FEATURE_COLUMNS}
    return pd.Series(best), pd.Series(worst)


def test_best_applicant_has_no_reason_and_a_worst_bin_comes_first(trained_project, credit_model):
    applicants = trained_project.applicants_test
    best, worst = _extreme_applicants(credit_model, applicants)
    best_frame = pd.DataFrame([best]).astype(applicants[list(FEATURE_COLUMNS)].dtypes.to_dict())
    scored_best = nodes.score_portfolio(credit_model, best_frame)
    assert scored_best.loc[0, "reason_codes"] == []
    best_woe = nodes.assign_woe(credit_model, best_frame)
    points = nodes.characteristic_points(credit_model, best_woe).iloc[0]
    lost = {c: credit_model.best_points[c] - points[c] for c in FEATURE_COLUMNS}
    assert max(lost.values()) <= credit_model.reason_codes["min_points_lost"]
    tested = 0
    for name in ("checking_status", "duration_months", "credit_history", "savings_status"):
        one_bad = best_frame.copy()
        one_bad[name] = pd.Series([worst[name]], dtype=best_frame[name].dtype)
        reasons = nodes.score_portfolio(credit_model, one_bad).loc[0, "reason_codes"]
        assert reasons[0]["code"] == name.upper(), (name, reasons)
        assert reasons[0]["text"].startswith(nodes.BY_NAME[name].description)
        tested += 1
    assert tested == 4


@pytest.fixture(scope="module")
def rerun_with_strict_gate(trained_project) -> Iterator[dict]:
    """ds run a second time, same seed, with a gate no model can pass (min_auc 0.99)."""
    client = MlflowClient(tracking_uri=trained_project.tracking_uri)
    before = client.get_model_version_by_alias("credit-score", "champion")
    strict = {"promotion": {"min_auc": 0.99, "tolerance": 0.01}}
    run_pipelines(trained_project.root, trained_project.tracking_uri, ["data_science"], strict)
    after = client.get_model_version_by_alias("credit-score", "challenger")
    yield {"client": client, "first": before, "second": after}
    # The session fixture is shared: leave its registry as other test groups expect it.
    client.set_registered_model_alias("credit-score", "challenger", before.version)


def test_same_seed_gives_identical_metrics_on_a_second_run(rerun_with_strict_gate):
    client = rerun_with_strict_gate["client"]
    first, second = rerun_with_strict_gate["first"], rerun_with_strict_gate["second"]
    assert first.run_id != second.run_id
    first_metrics = client.get_run(first.run_id).data.metrics
    second_metrics = client.get_run(second.run_id).data.metrics
    assert "test_auc" in first_metrics and first_metrics == second_metrics


def test_worse_candidate_is_not_promoted_by_the_pipeline_run(rerun_with_strict_gate):
    client = rerun_with_strict_gate["client"]
    first, second = rerun_with_strict_gate["first"], rerun_with_strict_gate["second"]
    assert int(second.version) == int(first.version) + 1
    assert client.get_model_version_by_alias("credit-score", "champion").version == first.version
    tags = client.get_model_version("credit-score", second.version).tags
    assert tags["promotion"] == "kept_champion"
    assert "min_auc 0.99" in tags["promotion_reason"]


def test_missing_characteristic_is_named(credit_model, trained_project):
    applicants = trained_project.applicants_test.drop(columns=["age"])
    with pytest.raises(ValueError, match="age"):
        nodes.score_portfolio(credit_model, applicants)
