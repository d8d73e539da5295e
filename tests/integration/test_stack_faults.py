"""Faults on the real stack (run last: they stop the shared services and start them again)."""

from __future__ import annotations

import time

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from quantumfinance.stack import Stack, status
from tests.integration.conftest import kedro_run, query

pytestmark = [pytest.mark.stack, pytest.mark.slow]

VERSION_COUNT = "SELECT count(*) FROM model_versions WHERE name = 'credit-score'"


def test_s3_endpoint_down_fails_fast_naming_it_and_registers_nothing(
    stack: Stack, stack_env: dict[str, str], stack_project
) -> None:
    versions_before = query(stack, VERSION_COUNT)[0][0]
    stack.s3.stop()
    try:
        run = kedro_run(stack_project, stack_env, "--pipelines", "data_science", timeout=300)
        assert run.returncode != 0, "the run succeeded without its S3 endpoint"
        assert stack.s3.url in run.output, (
            f"error does not name {stack.s3.url}:\n{run.output[-3000:]}"
        )
        assert run.seconds < 120, f"took {run.seconds:.0f}s to notice the endpoint is down"
        assert query(stack, VERSION_COUNT)[0][0] == versions_before, (
            "a model version was registered"
        )
    finally:
        stack.s3.start()


def test_postgres_down_gives_a_clear_error_and_runs_survive_a_restart(
    stack: Stack, stack_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs_before = {row[0] for row in query(stack, "SELECT run_uuid FROM runs")}
    assert runs_before
    search = f"{stack.mlflow.url}/api/2.0/mlflow/runs/search"
    experiment_ids = [row[0] for row in query(stack, "SELECT experiment_id::text FROM experiments")]
    stack.postgres.stop()
    try:
        started = time.monotonic()
        reply = requests.post(search, json={"experiment_ids": experiment_ids}, timeout=60)
        assert reply.status_code == 503, reply.text
        message = reply.json()["message"]
        assert f'"127.0.0.1", port {stack.postgres.port} failed' in message, message
        assert "Connection refused" in message
        assert time.monotonic() - started < 30
        # The operator's first command names the dead service and its address.
        assert status(stack.config)["postgres"].startswith(
            f"DOWN at 127.0.0.1:{stack.postgres.port}"
        )
        # The Python client gives up (after its retries) instead of hanging.
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        with pytest.raises(MlflowException, match="503"):
            mlflow.MlflowClient(tracking_uri=stack.mlflow.url).search_runs(experiment_ids)
    finally:
        stack.postgres.start()
    runs_after = {row[0] for row in query(stack, "SELECT run_uuid FROM runs")}
    assert runs_before <= runs_after, f"runs lost over the restart: {runs_before - runs_after}"
    # The server reconnects by itself: the same runs come back through the API.
    served = requests.post(
        search, json={"experiment_ids": experiment_ids, "max_results": 1000}, timeout=60
    )
    assert served.status_code == 200, served.text
    assert runs_before <= {r["info"]["run_id"] for r in served.json().get("runs", [])}
