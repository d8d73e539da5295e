"""`kedro run --env stack` end to end on the real stack, then checks from the storage side."""

from __future__ import annotations

import io

import mlflow
import pandas as pd
import pytest
import yaml

from quantumfinance.contract import contract_of_model
from quantumfinance.stack import Stack
from tests.integration.conftest import query
from tests.support.portfolios import contract
from tests.support.services import REPO_ROOT

pytestmark = [pytest.mark.stack, pytest.mark.slow]

STACK_CATALOG = REPO_ROOT / "conf" / "stack" / "catalog.yml"
OUTPUT_COLUMNS = {"pd", "score", "band", "decision", "reason_codes"}


def s3_entries() -> dict[str, str]:
    """dataset name -> s3 key in bucket `data`, as conf/stack/catalog.yml declares them."""
    catalog = yaml.safe_load(STACK_CATALOG.read_text())
    return {
        name: entry["filepath"].removeprefix("s3://data/")
        for name, entry in catalog.items()
        if not name.startswith("_") and entry["filepath"].startswith("s3://data/")
    }


def read_parquet(stack: Stack, key: str) -> pd.DataFrame:
    body = stack.s3.client().get_object(Bucket="data", Key=key)["Body"].read()
    return pd.read_parquet(io.BytesIO(body))


def base_catalog() -> dict[str, dict]:
    base = {}
    for path in (REPO_ROOT / "conf" / "base").glob("catalog*.yml"):
        base |= yaml.safe_load(path.read_text()) or {}
    return base


def test_stack_catalog_overrides_base_names_exactly() -> None:
    """A misspelt override would leave the base entry (a local path) silently in force."""
    unknown = set(s3_entries()) - set(base_catalog())
    assert not unknown, f"conf/stack/catalog.yml names datasets that base does not have: {unknown}"


def test_applicant_contract_stays_a_local_file_on_the_stack() -> None:
    """kedro-mlflow logs the contract inside the model only from a local file."""
    stack_catalog = yaml.safe_load(STACK_CATALOG.read_text())
    assert "applicant_contract" not in stack_catalog
    entry = base_catalog()["applicant_contract"]
    assert entry["type"] == "quantumfinance.contract.ApplicantContractDataset"
    assert "://" not in entry["filepath"] and (REPO_ROOT / entry["filepath"]).is_file()


def test_kedro_run_writes_every_data_layer_to_the_bucket(stack: Stack, stack_project) -> None:
    listed = stack.s3.client().list_objects_v2(Bucket="data").get("Contents", [])
    keys = {obj["Key"] for obj in listed}
    missing = {name: key for name, key in s3_entries().items() if key not in keys}
    assert not missing, f"datasets not in s3://data after the run: {missing}; bucket has {keys}"
    local = stack_project / "data"
    for layer in ("01_raw", "02_intermediate", "05_model_input"):
        written = list((local / layer).glob("*")) if (local / layer).exists() else []
        assert not written, f"{layer} data went to local disk: {written}"

    raw = read_parquet(stack, s3_entries()["raw_applicants"])
    validated = read_parquet(stack, s3_entries()["validated_applicants"])
    quarantined = read_parquet(stack, s3_entries()["quarantined_applicants"])
    train = read_parquet(stack, s3_entries()["applicants_train"])
    test = read_parquet(stack, s3_entries()["applicants_test"])
    assert len(raw) > 0
    assert len(validated) + len(quarantined) == len(raw), "rows lost between raw and validation"
    assert len(train) + len(test) == len(validated), "rows lost in the split"


def test_run_metrics_and_version_are_in_postgres(stack: Stack, stack_project) -> None:
    """SQL on MLflow's own tables: the data_science run, its metrics, the registered version."""
    runs = query(
        stack,
        "SELECT r.run_uuid, r.status, r.artifact_uri FROM runs r "
        "JOIN experiments e ON e.experiment_id = r.experiment_id "
        "WHERE e.name = 'quantumfinance' AND r.status = 'FINISHED'",
    )
    assert runs, "no finished run of experiment quantumfinance in PostgreSQL"
    versions = query(
        stack,
        # A deleted version stays a row with its run redacted (e.g. one `registry check --remove`
        # removed): only live versions count.
        "SELECT version, run_id, source FROM model_versions WHERE name = 'credit-score' "
        "AND current_stage <> 'Deleted_Internal' ORDER BY version",
    )
    assert versions, "no version of credit-score in PostgreSQL's model_versions"
    run_id = versions[-1][1]
    assert run_id in {r[0] for r in runs}
    metrics = query(stack, "SELECT key, value FROM latest_metrics WHERE run_uuid = %s", (run_id,))
    keys = {key.lower() for key, _ in metrics}
    assert any("auc" in key for key in keys), f"no AUC metric on run {run_id}: {sorted(keys)}"
    assert all(0.0 <= value <= 1.0 for key, value in metrics if "auc" in key.lower())
    aliases = dict(
        query(
            stack, "SELECT alias, version FROM registered_model_aliases WHERE name = 'credit-score'"
        )
    )
    assert "champion" in aliases, f"no champion alias: {aliases}"

    # Artifacts went through the server's proxy into s3://mlflow, not to a local folder.
    artifact_uri = {r[0]: r[2] for r in runs}[run_id]
    assert artifact_uri.startswith("mlflow-artifacts:"), artifact_uri
    stored = stack.s3.client().list_objects_v2(Bucket="mlflow").get("Contents", [])
    assert any(run_id in obj["Key"] for obj in stored), "the run's artifacts are not in s3://mlflow"


def test_champion_loads_through_the_server_without_s3_keys(
    stack: Stack, stack_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client has only the tracking URI: the server proxies the model files from S3."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL_S3",
        "MLFLOW_S3_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(stack.mlflow.url)
    try:
        model = mlflow.pyfunc.load_model("models:/credit-score@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    # The contract came back with the model, from s3://mlflow through the server.
    assert contract_of_model(model).digest == contract("base").digest
    applicants = read_parquet(stack, s3_entries()["applicants_test"]).head(20)
    # A full row as a client holds it, without the outcome (the contract names the target).
    scored = model.predict(applicants.drop(columns=[contract("base").target.name]))
    assert OUTPUT_COLUMNS <= set(scored.columns), f"model output columns: {list(scored.columns)}"
    assert len(scored) == len(applicants)
    assert scored["pd"].between(0, 1).all()
