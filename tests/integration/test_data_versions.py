"""Decision 0012 on the real stack: each run records the exact S3 versions (and md5s) it read and
wrote; `pull` copies them bit for bit elsewhere; `restore` brings an earlier run's data back and
re-running reproduces that run's metrics exactly (the one extra `kedro run` of this file)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from quantumfinance.data_versions import ARTIFACT_NAME, MANIFEST_PREFIX, list_manifests
from quantumfinance.stack import Stack
from tests.integration.conftest import kedro_run
from tests.support.services import REPO_ROOT

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def manifests(stack: Stack) -> list[dict]:
    s3 = stack.s3.client()
    return [
        json.loads(s3.get_object(Bucket="data", Key=key)["Body"].read())
        for key in list_manifests(s3)
    ]


def data_science_manifest(stack: Stack) -> dict:
    """The latest manifest of a data_science run (the one that trained the model)."""
    found = [m for m in manifests(stack) if "applicants_train" in m["read"] and m["written"]]
    assert found, "no manifest of a data_science run"
    return found[-1]


def cli(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "quantumfinance.data_versions", *args],
        env=stack_env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_every_s3_dataset_of_the_run_has_its_version_and_md5(stack: Stack, stack_project) -> None:
    catalog = yaml.safe_load((REPO_ROOT / "conf" / "stack" / "catalog.yml").read_text())
    s3_datasets = {n for n, e in catalog.items() if not n.startswith("_")}
    recorded = {kind: set() for kind in ("read", "written")}
    s3 = stack.s3.client()
    for manifest in manifests(stack):
        for kind, names in recorded.items():
            for name, record in manifest[kind].items():
                names.add(name)
                if record["uri"].startswith("s3://"):
                    bucket, _, key = record["uri"].removeprefix("s3://").partition("/")
                    body = s3.get_object(Bucket=bucket, Key=key, VersionId=record["version_id"])
                    assert hashlib.md5(body["Body"].read()).hexdigest() == record["md5"], name
    assert s3_datasets <= recorded["written"], s3_datasets - recorded["written"]
    # What the runs read is recorded too.
    assert {"applicants_train", "applicants_test"} <= recorded["read"]
    assert any(m["read"].get("raw_applicants") for m in manifests(stack))


def test_training_run_carries_its_data_versions(stack: Stack, stack_project) -> None:
    manifest = data_science_manifest(stack)
    client = mlflow.MlflowClient(stack.mlflow.url, registry_uri=stack.mlflow.url)
    logged = client.download_artifacts(manifest["mlflow_run_id"], ARTIFACT_NAME)
    assert json.loads(Path(logged).read_text()) == manifest


def test_pull_into_a_second_checkout_is_bit_identical(
    stack: Stack, stack_env: dict[str, str], stack_project, tmp_path: Path
) -> None:
    manifest = data_science_manifest(stack)
    key = _key(stack, manifest).removeprefix(MANIFEST_PREFIX)
    cli(stack_env, "pull", key, "--into", str(tmp_path))
    records = {**manifest["read"], **manifest["written"]}
    for record in records.values():
        if record["uri"].startswith("s3://"):
            pulled = tmp_path / record["uri"].removeprefix("s3://")
            assert hashlib.md5(pulled.read_bytes()).hexdigest() == record["md5"], record["uri"]


def test_restore_brings_back_an_earlier_runs_data_and_its_metrics(
    stack: Stack, stack_env: dict[str, str], stack_project
) -> None:
    manifest = data_science_manifest(stack)
    s3 = stack.s3.client()
    # A later run overwrites the model inputs (here: half the rows) ...
    for name in ("applicants_train", "applicants_test"):
        bucket, _, key = manifest["read"][name]["uri"].removeprefix("s3://").partition("/")
        table = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        buffer = io.BytesIO()
        table.iloc[: len(table) // 2].to_parquet(buffer)
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    # ... and the documented command restores the earlier run's inputs and outputs.
    out = cli(stack_env, "restore", _key(stack, manifest)).stdout
    assert "applicants_train.parquet" in out and "applicants_test.parquet" in out, out

    models = stack_project / "data" / "06_models"
    pickles = {p.name: p.read_bytes() for p in models.iterdir() if p.suffix in (".pkl", ".json")}
    run = kedro_run(stack_project, stack_env, "--pipelines", "data_science")
    assert run.returncode == 0, run.output[-4000:]
    # Same code, data and parameters: byte-identical model files (the scoring model's canonical
    # JSON; the fitted candidates through quantumfinance.stable_pickle).
    assert {"fitted_candidates.pkl", "scoring_model.json"} <= set(pickles)
    changed = [name for name, body in pickles.items() if (models / name).read_bytes() != body]
    assert not changed, f"re-training on the same data changed {changed}"
    again = data_science_manifest(stack)
    assert again["session_id"] != manifest["session_id"]
    assert {n: r["md5"] for n, r in again["read"].items()} == {
        n: r["md5"] for n, r in manifest["read"].items()
    }, "the re-run did not read the restored bytes"
    client = mlflow.MlflowClient(stack.mlflow.url, registry_uri=stack.mlflow.url)
    first = client.get_run(manifest["mlflow_run_id"]).data.metrics
    second = client.get_run(again["mlflow_run_id"]).data.metrics
    assert first, "the earlier run logged no metrics"
    assert second == first


def _key(stack: Stack, manifest: dict) -> str:
    return next(k for k in list_manifests(stack.s3.client()) if manifest["session_id"] in k)
