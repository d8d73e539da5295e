"""batch_scoring and monitoring on the stack: the book read from and written to the S3 endpoint,
the model loaded from the tracking server, the work on the stack's own Dask scheduler and its two
workers, named by QF_DASK_SCHEDULER in `.stack.env` (as `make stack-up` exports it)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from distributed import Client
from mlflow.tracking import MlflowClient

from quantumfinance.stack import Stack
from tests.integration.conftest import kedro_run

pytestmark = [pytest.mark.stack, pytest.mark.slow]
BOOK = "07_model_output/scored_book"
FOUR_GROUPS = "tests/applicants_test_4_row_groups.parquet"


def _objects(stack: Stack, prefix: str) -> list[str]:
    pages = (
        stack.s3.client().get_paginator("list_objects_v2").paginate(Bucket="data", Prefix=prefix)
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _parquet(stack: Stack, keys: list[str]) -> pd.DataFrame:
    client = stack.s3.client()
    frames = [
        pd.read_parquet(io.BytesIO(client.get_object(Bucket="data", Key=k)["Body"].read()))
        for k in keys
    ]
    return pd.concat(frames, ignore_index=True)


def test_book_scored_and_monitored_on_s3_with_the_stacks_dask(
    stack: Stack, stack_env: dict[str, str], stack_project
) -> None:
    # The client only sourced .stack.env: the scheduler is the stack's, not one of the test's.
    assert stack_env["QF_DASK_SCHEDULER"] == stack.dask.address
    # The test split as a book of four row groups, one partition each: four reads the scheduler
    # hands to both workers from the start. (`partitions=4` would split one read on the worker
    # that made it, and only work stealing, a race, could move pieces to the other.)
    book = _parquet(stack, ["05_model_input/applicants_test.parquet"])
    upload = io.BytesIO()
    book.to_parquet(upload, row_group_size=-(-len(book) // 4))
    stack.s3.client().put_object(Bucket="data", Key=FOUR_GROUPS, Body=upload.getvalue())
    run = kedro_run(
        stack_project, stack_env, "--pipelines", "batch_scoring", "--params",
        f"batch_scoring_storage.portfolio=s3://data/{FOUR_GROUPS},"
        "batch_scoring.parquet_blocksize=1B",
    )  # fmt: skip
    assert run.returncode == 0, run.output[-6000:]
    monitored = kedro_run(stack_project, stack_env, "--pipelines", "monitoring")
    assert monitored.returncode == 0, monitored.output[-6000:]
    with Client(stack.dask.address) as client:
        workers = set(client.scheduler_info(n_workers=-1)["workers"])
    assert len(workers) == 2, workers
    keys = _objects(stack, BOOK)
    assert f"{BOOK}/_SUCCESS" in keys
    manifest = json.loads(
        stack.s3.client().get_object(Bucket="data", Key=f"{BOOK}/_SUCCESS")["Body"].read()
    )
    scored = _parquet(stack, [k for k in keys if k.startswith(f"{BOOK}/scored/")])
    quarantined = _parquet(stack, [k for k in keys if k.startswith(f"{BOOK}/quarantined/")])
    assert len(scored) + len(quarantined) == len(book) == manifest["rows_in"]
    assert manifest["partitions"] == 4
    # The stack's scheduler did the work, on both of its workers (not a LocalCluster).
    assert set(manifest["partitions_per_worker"]) == workers, manifest["partitions_per_worker"]
    # The model is the registered version the tracking server resolves, and its run is there.
    model = manifest["model"]
    tracking = MlflowClient(
        stack_env["MLFLOW_TRACKING_URI"], registry_uri=stack_env["MLFLOW_TRACKING_URI"]
    )
    name, alias = model["requested"].removeprefix("models:/").split("@")
    version = tracking.get_model_version_by_alias(name, alias)
    assert model["uri"] == f"models:/{name}/{version.version}"
    assert model["run_id"] == version.run_id
    assert tracking.get_run(model["run_id"]).info.run_id == model["run_id"]
    assert set(scored["model_run_id"]) == {model["run_id"]}
