"""Promotion gate and rollback on a real (SQLite) MLflow registry."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from quantumfinance import registry


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    """One SQLite store per module (creating one costs seconds); each test uses its own model."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("gate", artifact_location=str(root / "artifacts"))
    return client


@pytest.fixture
def model(client, request) -> str:
    """A fresh registered model named after the test."""
    name = f"credit-score-{request.node.name}"[:100]
    client.create_registered_model(name)
    return name


def _candidate(client: MlflowClient, model: str, test_auc: float) -> str:
    """A finished run with a test AUC and the model version it registered; returns the run id."""
    experiment = client.get_experiment_by_name("gate")
    run = client.create_run(experiment.experiment_id)
    client.log_metric(run.info.run_id, "test_auc", test_auc)
    client.set_terminated(run.info.run_id)
    client.create_model_version(model, f"{run.info.artifact_uri}/credit_model", run.info.run_id)
    return run.info.run_id


def _alias(client: MlflowClient, model: str, alias: str) -> str:
    return str(client.get_model_version_by_alias(model, alias).version)


def _gate(client: MlflowClient, model: str, auc: float) -> registry.PromotionDecision:
    run_id = _candidate(client, model, auc)
    return registry.gate(client, model, run_id, min_auc=0.7, tolerance=0.01)


def test_worse_candidate_is_not_promoted_and_says_why(client, model):
    assert _gate(client, model, 0.80).promoted
    assert _alias(client, model, "champion") == "1"
    worse = _gate(client, model, 0.75)
    assert not worse.promoted
    assert _alias(client, model, "champion") == "1"
    assert _alias(client, model, "challenger") == "2"
    tags = client.get_model_version(model, "2").tags
    assert tags["promotion"] == "kept_champion"
    assert "champion v1" in tags["promotion_reason"]


def test_candidate_below_min_auc_is_not_promoted_even_without_champion(client, model):
    decision = _gate(client, model, 0.65)
    assert not decision.promoted and "min_auc" in decision.reason
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(model, "champion")


def test_within_tolerance_is_promoted_and_rollback_moves_champion_back(client, model, capsys):
    _gate(client, model, 0.80)
    assert _gate(client, model, 0.795).promoted
    assert _alias(client, model, "champion") == "2"
    cli = ["--model", model, "--tracking-uri", client._tracking_client.tracking_uri]
    assert registry.main(["rollback", *cli]) == 0
    assert "from v2 to v1" in capsys.readouterr().out
    assert _alias(client, model, "champion") == "1"
    assert client.get_model_version(model, "2").tags["rolled_back"] == "true"
    assert registry.main(["rollback", *cli]) == 1
    assert "no previous champion" in capsys.readouterr().err
    assert registry.main(["status", *cli]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "aliases=champion " in next(line for line in lines if line.strip().startswith("v1 "))
    # v2 was promoted, never a challenger: after the rollback it carries no alias.
    assert "aliases=- " in next(line for line in lines if line.strip().startswith("v2 "))


def test_challenger_is_only_a_candidate_that_is_not_the_champion(client, model):
    assert _gate(client, model, 0.80).promoted
    with pytest.raises(MlflowException):  # a first, promoted version is not also the challenger
        client.get_model_version_by_alias(model, "challenger")
    assert not _gate(client, model, 0.70).promoted
    assert _alias(client, model, "challenger") == "2"
    assert _gate(client, model, 0.82).promoted
    assert _alias(client, model, "champion") == "3"
    assert _alias(client, model, "challenger") == "2"  # still the last candidate not promoted
    assert client.get_registered_model(model).description == registry.MODEL_DESCRIPTION


def test_describe_sets_the_card_as_the_version_description_truncated_to_fit(client, model):
    run_id = _candidate(client, model, 0.8)
    card = "# Model card\n" + "x" * 6000
    assert registry.describe(client, model, run_id, card) == "1"
    description = client.get_model_version(model, "1").description
    assert len(description) <= registry.DESCRIPTION_LIMIT
    assert description.startswith("# Model card") and "truncated" in description
    with pytest.raises(LookupError, match="registered no version"):
        registry.describe(client, model, "0" * 32, card)
