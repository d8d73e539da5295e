"""Lineage written once per run, and the walk from a decision back to the training data.

Local: a later `reporting` run leaves the training run's tags and params exactly as they were.
Stack: a run on synthetic data records the md5 of the S3 object it read; an API decision's audit
row (PostgreSQL) leads to the model version, its run, the git commit and the data hashes.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.tracking import MlflowClient

from quantumfinance import lineage
from quantumfinance.registry import MODEL_NAME
from quantumfinance_serving import Settings, create_app
from quantumfinance_serving.keys import new_key
from scripts.stack import Stack
from tests.conftest import close_stale_mlflow_runs, mlflow_tracking, model_run
from tests.integration.conftest import kedro_run
from tests.support.portfolios import contract
from tests.support.services import REPO_ROOT, wait_until

OPERATIONS = REPO_ROOT / "docs" / "operations.md"


def _snapshot(client: MlflowClient, run_id: str) -> dict:
    run = client.get_run(run_id)
    inputs = sorted((d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs)
    return {
        "name": run.info.run_name,
        "status": run.info.status,
        "tags": run.data.tags,
        "params": run.data.params,
        "inputs": inputs,
    }


def _dead_pid() -> int:
    """The pid of a process that has ended (a run cut off by an outage or a kill)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_training_run_lineage_is_unchanged_by_a_later_reporting_run(trained_project):
    """reporting runs again: its own run, linked; the training run is byte-for-byte the same.
    The same start marks FAILED a RUNNING run of this host whose process is gone."""
    with trained_project.tracking():
        client = MlflowClient()
        champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
        before = _snapshot(client, champion.run_id)
        experiment = client.get_run(champion.run_id).info.experiment_id
        host = lineage.runner_tags()[lineage.HOST_TAG]
        orphan = client.create_run(
            experiment, tags={lineage.HOST_TAG: host, lineage.PID_TAG: str(_dead_pid())}
        ).info.run_id
        alive = client.create_run(
            experiment, tags={lineage.HOST_TAG: host, lineage.PID_TAG: str(os.getpid())}
        ).info.run_id
        assert before["tags"][lineage.STEP_TAG] == "training"
        assert len(before["tags"][lineage.GIT_COMMIT_TAG]) == 40
        reports_before = lineage.linked_runs(client, champion.run_id, "reporting")
        bootstrap_project(trained_project.root)
        with model_run(champion.run_id):
            with KedroSession.create(
                project_path=trained_project.root, env=trained_project.env
            ) as session:
                session.run(pipeline_names=["reporting"])
        close_stale_mlflow_runs()
        assert client.get_run(orphan).info.status == "FAILED"
        assert client.get_run(alive).info.status == "RUNNING"  # its process still lives
        client.set_terminated(alive)
        assert _snapshot(client, champion.run_id) == before
        reports = lineage.linked_runs(client, champion.run_id, "reporting")
        assert len(reports) == len(reports_before) + 1
        newest = reports[0]
        assert newest.info.run_id != champion.run_id
        assert newest.data.tags[lineage.MODEL_RUN_TAG] == champion.run_id
        assert newest.data.tags["kedro_command"].endswith("=reporting")  # its own command
        read = {d.dataset.name for d in newest.inputs.dataset_inputs}
        assert "scored_applicants" in read, read
        # a step that tried to resume the training run would be refused, not rewrite it
        with pytest.raises(lineage.LineageRewriteError, match="never resumes"):
            lineage.write_once(client, champion.run_id, {lineage.STEP_TAG: "reporting"})


# --- on the stack ---------------------------------------------------------------------------


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
def data_bucket_restored(stack: Stack) -> Iterator[None]:
    """Put s3://data back as it was after the test (other stack tests read the German data)."""
    s3 = stack.s3.client()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="data").get("Contents", [])]
    saved = {key: s3.get_object(Bucket="data", Key=key)["Body"].read() for key in keys}
    try:
        yield
    finally:
        for key in {o["Key"] for o in s3.list_objects_v2(Bucket="data").get("Contents", [])}:
            if key not in saved:
                s3.delete_object(Bucket="data", Key=key)
        for key, body in saved.items():
            s3.put_object(Bucket="data", Key=key, Body=body)


@pytest.mark.stack
@pytest.mark.slow
def test_stack_run_on_synthetic_data_records_the_hash_of_the_table_it_read(
    stack: Stack, stack_env, stack_project, data_bucket_restored
) -> None:
    s3 = stack.s3.client()
    raw_key = "01_raw/applicants.parquet"
    german_md5 = _md5(s3.get_object(Bucket="data", Key=raw_key)["Body"].read())
    run = kedro_run(
        stack_project,
        stack_env,
        "--pipelines",
        "ingest,data_engineering",
        "--params",
        "ingest.source=synthetic,ingest.n_rows=2000,ingest.seed=7",
    )
    assert run.returncode == 0, run.output[-6000:]
    synthetic_md5 = _md5(s3.get_object(Bucket="data", Key=raw_key)["Body"].read())
    assert synthetic_md5 != german_md5, "the synthetic table was not written"

    # The run this command started (its log names it), not a search that could find another.
    printed = re.findall(r"MLflow run ([0-9a-f]{32})", run.output)
    assert len(printed) == 1, run.output[-4000:]
    client = MlflowClient(stack.mlflow.url, registry_uri=stack.mlflow.url)
    latest = client.get_run(printed[0])
    assert latest.data.tags.get(lineage.STEP_TAG) == "ingest,data_engineering", latest.data.tags
    assert latest.info.status == "FINISHED"
    read = {d.dataset.name: d for d in latest.inputs.dataset_inputs}
    raw = read["raw_applicants"].dataset
    which = {german_md5: "the German table it replaced", synthetic_md5: "the table it read"}
    assert raw.digest == synthetic_md5, (
        f"the run recorded md5 {raw.digest} ({which.get(raw.digest, 'neither table')}), "
        f"not {synthetic_md5} of the table it read"
    )
    assert f"s3://data/{raw_key}" in raw.source, raw.source
    assert "raw_data_md5" not in latest.data.tags  # no tag from dvc.lock or a local file


def _documented_query() -> str:
    text = OPERATIONS.read_text()
    marker = text.index("<!-- lineage-query")
    match = re.search(r"```sql\n(.*?)```", text[marker:], re.S)
    assert match, "docs/operations.md lost its lineage query"
    return match.group(1)


@pytest.mark.stack
@pytest.mark.slow
def test_request_id_walks_to_the_training_data_hash(stack: Stack, stack_project, tmp_path):
    """API decision -> audit row (PostgreSQL) -> model version -> run -> commit -> data md5."""
    key, entry = new_key("lineage")
    settings = Settings(
        model_uri="models:/credit-score@champion",
        api_keys=entry,
        audit_dsn=stack.postgres.dsn(),
        audit_path=tmp_path / "unused.jsonl",
        reload_interval_seconds=0,
    )
    with mlflow_tracking(stack.mlflow.url), TestClient(create_app(settings)) as api:
        wait_until(lambda: api.get("/ready").status_code == 200, 180, "model load")
        response = api.post(
            "/v1/score", json=contract("base").example_applicant(), headers={"x-api-key": key}
        )
        assert response.status_code == 200, response.text
        request_id = response.headers["X-Request-ID"]
        served = api.get("/v1/model", headers={"x-api-key": key}).json()
    assert served["alias_in_sync"] and served["alias_version"] == served["version"]

    # 1. the audit row, in PostgreSQL
    with psycopg.connect(stack.postgres.dsn(), connect_timeout=5) as conn:
        cur = conn.execute(
            "SELECT model_name, model_version, registry_uri, model_run_id, model_digest, "
            "contract_digest FROM decision_audit WHERE request_id = %s",
            (request_id,),
        )
        (name, version, registry_uri, run_id, model_digest, contract_digest) = cur.fetchone()
    assert (name, version) == (MODEL_NAME, served["version"])
    assert registry_uri == stack.mlflow.url
    assert contract_digest == contract("base").digest
    assert model_digest == served["artifact_digest"] and len(model_digest) == 64

    # 2. the model version: same run, same artifacts digest as registered at training
    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    model_version = client.get_model_version(name, version)
    assert model_version.run_id == run_id
    assert model_version.tags[lineage.MODEL_DIGEST_TAG] == model_digest

    # 3. the training run and 4. its git commit
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags[lineage.STEP_TAG] == "training"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run.data.tags[lineage.GIT_COMMIT_TAG] == head

    # 5. the data hashes: the md5 of the S3 objects the training run read
    inputs = {d.dataset.name: d.dataset for d in run.inputs.dataset_inputs}
    s3 = stack.s3.client()
    for dataset in ("applicants_train", "applicants_test"):
        key_ = f"05_model_input/{dataset}.parquet"
        body = s3.get_object(Bucket="data", Key=key_)["Body"].read()
        assert inputs[dataset].digest == _md5(body), dataset
        assert f"s3://data/{key_}" in inputs[dataset].source

    # the one documented query gives the same walk
    with psycopg.connect(stack.postgres.dsn(), connect_timeout=5) as conn:
        rows = conn.execute(_documented_query(), {"request_id": request_id}).fetchall()
    by_dataset = {row[6]: row for row in rows}
    assert by_dataset["applicants_train"][5] == head
    assert by_dataset["applicants_train"][8] == inputs["applicants_train"].digest
    assert by_dataset["applicants_train"][7] == "training"
