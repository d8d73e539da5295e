"""Promotion gate, promote, rollback, status and history on a real (SQLite) MLflow registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from quantumfinance import registry
from quantumfinance.lineage import directory_sha256
from quantumfinance_serving import Settings, create_app
from quantumfinance_serving.keys import new_key
from tests.conftest import mlflow_tracking
from tests.support.services import wait_until


class Constant(mlflow.pyfunc.PythonModel):
    """The smallest model that loads: what a version's artifacts must allow."""

    def predict(self, context, model_input: pd.DataFrame) -> pd.Series:  # noqa: ARG002
        return pd.Series(0.5, index=model_input.index)


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    """One SQLite store per module (creating one costs seconds); each test uses its own model."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("gate", artifact_location=str(root / "artifacts"))
    with mlflow_tracking(uri), mlflow.start_run(experiment_id=experiment):
        logged = mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=[])
    # the artifacts' own location and digest, shared by every loadable candidate
    client.loadable_source = client.get_logged_model(logged.model_id).artifact_location
    client.loadable_digest = directory_sha256(
        Path(mlflow.artifacts.download_artifacts(client.loadable_source, tracking_uri=uri))
    )
    client.uri = uri
    return client


@pytest.fixture
def model(client, request) -> str:
    """A fresh registered model named after the test."""
    name = f"credit-score-{request.node.name}"[:100]
    client.create_registered_model(name)
    return name


def _candidate(client: MlflowClient, test_auc: float, loadable: bool = True) -> registry.Candidate:
    """A finished run with a test AUC and what it offers the registry. A loadable candidate is
    a real logged model; else artifacts that do not exist (with a digest recorded for them)."""
    experiment = client.get_experiment_by_name("gate")
    run = client.create_run(experiment.experiment_id)
    client.log_metric(run.info.run_id, "test_auc", test_auc)
    client.set_terminated(run.info.run_id)
    if loadable:
        return registry.Candidate(run.info.run_id, client.loadable_source, client.loadable_digest)
    missing = f"{run.info.artifact_uri}/credit_model"
    return registry.Candidate(run.info.run_id, missing, "0" * 64)


def _alias(client: MlflowClient, model: str, alias: str) -> str:
    return str(client.get_model_version_by_alias(model, alias).version)


def _gate(
    client: MlflowClient, model: str, auc: float, loadable: bool = True
) -> registry.PromotionDecision:
    candidate = _candidate(client, auc, loadable)
    return registry.register(client, model, candidate, min_auc=0.7, tolerance=0.01)


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
    cli = ["--model", model, "--tracking-uri", client.uri]
    assert registry.main(["rollback", *cli]) == 0
    assert "from v2 to v1" in capsys.readouterr().out
    assert _alias(client, model, "champion") == "1"
    assert registry.main(["rollback", *cli]) == 1
    assert "no previous champion" in capsys.readouterr().err
    assert registry.main(["status", *cli]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "aliases=champion " in next(line for line in lines if line.strip().startswith("v1 "))
    # v2, rolled back from, is the gated candidate that is not the champion: the challenger.
    assert "aliases=challenger " in next(line for line in lines if line.strip().startswith("v2 "))


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
    decision = _gate(client, model, 0.8)
    run_id = client.get_model_version(model, decision.version).run_id
    card = "# Model card\n" + "x" * 6000
    assert registry.describe(client, model, run_id, card) == "1"
    description = client.get_model_version(model, "1").description
    assert len(description) <= registry.DESCRIPTION_LIMIT
    assert description.startswith("# Model card") and "truncated" in description
    with pytest.raises(LookupError, match="registered no version"):
        registry.describe(client, model, "0" * 32, card)


def _cli(client: MlflowClient, model: str, *args: str) -> list[str]:
    return [*args, "--model", model, "--tracking-uri", client.uri]


def test_rollback_onto_a_version_whose_artifacts_are_gone_is_refused(client, model, capsys):
    _gate(client, model, 0.80)
    _gate(client, model, 0.81, loadable=False)  # v2: registered, its artifacts gone
    _gate(client, model, 0.82)  # v3 champion; rollback target would be v2
    assert registry.main(_cli(client, model, "rollback")) == 1
    err = capsys.readouterr().err
    assert "refused" in err and f"models:/{model}/2 cannot be loaded" in err, err
    assert "champion unchanged" in err
    assert _alias(client, model, "champion") == "3"
    assert registry.main(_cli(client, model, "promote", "2")) == 1  # nor by promote
    assert "cannot be loaded" in capsys.readouterr().err
    assert _alias(client, model, "champion") == "3"


def test_rollback_then_roll_forward_round_trips_and_keeps_every_move(client, model, capsys):
    _gate(client, model, 0.80)
    _gate(client, model, 0.81)
    assert registry.main(_cli(client, model, "rollback")) == 0
    said = capsys.readouterr().out
    assert "from v2 to v1" in said and "loads (artifacts sha256" in said, said
    assert _alias(client, model, "champion") == "1"
    assert registry.main(_cli(client, model, "promote", "2")) == 0
    assert "moved from v1 to v2" in capsys.readouterr().out
    assert _alias(client, model, "champion") == "2"
    # tags hold the gate's decision at training; the state is the aliases, the moves the history
    assert "rolled_back" not in client.get_model_version(model, "2").tags
    # the rollback stack is whole again: a second rollback returns to v1
    assert registry.main(_cli(client, model, "rollback")) == 0
    assert _alias(client, model, "champion") == "1"
    assert registry.main(_cli(client, model, "history")) == 0
    moves = capsys.readouterr().out.splitlines()[-4:]
    assert [" ".join(m.split(" ")[2:6]) for m in moves] == [
        "gate: v1 -> v2",
        "rollback: v2 -> v1",
        "promote: v1 -> v2",
        "rollback: v2 -> v1",
    ]


def test_promote_names_a_version_and_promoting_the_champion_changes_nothing(client, model, capsys):
    _gate(client, model, 0.80)
    assert registry.main(_cli(client, model, "promote", "1")) == 0
    assert "already champion; nothing changed" in capsys.readouterr().out
    assert registry.main(_cli(client, model, "promote", "9")) == 1
    assert "not found" in capsys.readouterr().err


def test_status_read_without_mlflow_matches_the_mlflow_client(client, model):
    """The fast SQL reader of `registry status` sees what MlflowClient sees (MLflow schema)."""
    _gate(client, model, 0.80)
    _gate(client, model, 0.70)  # challenger
    seen = registry.RegistryReader(client.uri).model(model)
    assert seen["aliases"] == {
        alias: str(version) for alias, version in client.get_registered_model(model).aliases.items()
    }
    assert seen["tags"] == client.get_registered_model(model).tags
    for row in seen["versions"]:
        version = client.get_model_version(model, row["version"])
        assert (row["run_id"], row["tags"]) == (version.run_id, version.tags)
        assert row["metric"] == client.get_run(version.run_id).data.metrics["test_auc"]
    assert registry.RegistryReader(client.uri).model("no-such-model") is None


def test_rollback_and_roll_forward_are_followed_by_the_api_and_a_bad_alias_is_shown(
    trained_project, tmp_path, capsys
):
    """On a copy of the trained registry: promote/rollback move what the running API serves
    (alias polling, no restart); an alias moved by hand onto a broken version is not served,
    and /v1/model says served != alias and why."""
    store = tmp_path / "mlflow.db"
    shutil.copy(trained_project.root / "mlflow.db", store)  # artifacts stay where they are
    uri = f"sqlite:///{store}"
    with mlflow_tracking(uri):
        _follow_registry(uri, tmp_path, capsys)


def _follow_registry(uri: str, tmp_path, capsys) -> None:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    v1 = client.get_model_version_by_alias(registry.MODEL_NAME, "champion")
    # the same model, registered with its evidence; and a version whose artifacts are gone
    v2 = client.create_model_version(registry.MODEL_NAME, v1.source, v1.run_id, tags=v1.tags)
    gone = f"{client.get_run(v1.run_id).info.artifact_uri}/no_such_model"  # never logged
    broken = client.create_model_version(registry.MODEL_NAME, gone, v1.run_id, tags=v1.tags)
    cli = ["--tracking-uri", uri]
    assert registry.main(["promote", str(v2.version), *cli]) == 0
    key, entry = new_key("ops")
    settings = Settings(
        api_keys=entry, audit_path=tmp_path / "a.jsonl", reload_interval_seconds=0.3
    )

    def served() -> dict:
        return api.get("/v1/model", headers={"x-api-key": key}).json()

    with TestClient(create_app(settings)) as api:
        wait_until(lambda: api.get("/ready").status_code == 200, 120, "model load")
        assert served()["version"] == str(v2.version) and served()["alias_in_sync"]
        assert registry.main(["rollback", *cli]) == 0
        wait_until(lambda: served()["version"] == str(v1.version), 60, "API follows rollback")
        assert registry.main(["promote", str(v2.version), *cli]) == 0
        wait_until(lambda: served()["version"] == str(v2.version), 60, "API follows promote")
        assert registry.main(["promote", str(broken.version), *cli]) == 1
        assert "cannot be loaded" in capsys.readouterr().err
        # the safe commands refuse it; an alias set by hand is not obeyed blindly
        client.set_registered_model_alias(registry.MODEL_NAME, "champion", broken.version)
        wait_until(lambda: not served()["alias_in_sync"], 60, "API notices the alias")
        info = served()
        assert info["version"] == str(v2.version)  # still serving the last good one
        assert info["alias_version"] == str(broken.version)
        assert info["alias_out_of_sync_reason"], info


def test_a_version_created_without_its_evidence_is_refused_reported_and_removed(
    client, model, capsys
):
    """A registration cut off between creating the version and tagging it (the old two-step
    flow, or a version made by hand): promote and rollback refuse it naming what it lacks;
    `check` lists it, `check --remove` deletes it (never a version an alias holds)."""
    _gate(client, model, 0.80)  # v1 champion, complete
    run_id = _candidate(client, 0.90).run_id
    client.create_model_version(model, client.loadable_source, run_id)  # v2: no tags at all
    v2 = client.get_model_version(model, "2")
    assert not registry.is_complete(v2) and registry.is_complete(
        client.get_model_version(model, "1")
    )
    assert registry.main(_cli(client, model, "promote", "2")) == 1
    err = capsys.readouterr().err
    assert "v2 is incompletely registered" in err and "quantumfinance.model_sha256" in err, err
    assert "promotion (the promotion gate's decision)" in err and "champion unchanged" in err
    assert _alias(client, model, "champion") == "1"
    assert registry.main(_cli(client, model, "check")) == 0
    said = capsys.readouterr().out
    assert f"incomplete v2 (run {run_id}) lacks quantumfinance.model_sha256" in said, said
    assert registry.main(_cli(client, model, "status")) == 0
    assert "INCOMPLETE (no quantumfinance.model_sha256" in capsys.readouterr().out
    assert registry.main(_cli(client, model, "check", "--remove")) == 0
    assert "removed v2" in capsys.readouterr().out
    assert [str(v.version) for v in client.search_model_versions(f"name='{model}'")] == ["1"]
    assert registry.main(_cli(client, model, "check")) == 0
    assert "every version" in capsys.readouterr().out


def test_a_version_without_a_recorded_digest_or_with_changed_artifacts_is_refused(client, model):
    _gate(client, model, 0.80)
    _gate(client, model, 0.81)  # v2 champion
    client.delete_model_version_tag(model, "1", "quantumfinance.model_sha256")
    with pytest.raises(registry.RegistryError, match=r"v1 is incompletely registered.*sha256"):
        registry.rollback(client, model)
    client.set_model_version_tag(model, "1", "quantumfinance.model_sha256", "f" * 64)
    with pytest.raises(registry.RegistryError, match="not the ffffffffffff recorded"):
        registry.rollback(client, model)
    assert _alias(client, model, "champion") == "2"


def test_a_version_is_created_with_its_evidence_in_one_call(client, model):
    candidate = registry.Candidate(
        _candidate(client, 0.8).run_id,
        client.loadable_source,
        client.loadable_digest,
        contract_sha256="c" * 64,
        data_manifest="s3://data/_runs/x.json",
    )
    decision = registry.register(client, model, candidate, min_auc=0.7, tolerance=0.01)
    tags = client.get_model_version(model, decision.version).tags
    assert tags["quantumfinance.model_sha256"] == client.loadable_digest
    assert tags["quantumfinance.contract_sha256"] == "c" * 64
    assert tags["quantumfinance.training_run_id"] == candidate.run_id
    assert tags["quantumfinance.data_manifest"] == "s3://data/_runs/x.json"
    assert tags["promotion"] == "promoted" and tags["quantumfinance.registration"] == "complete"
