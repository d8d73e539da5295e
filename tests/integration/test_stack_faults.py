"""Faults on the real stack (run last: they stop the shared services and start them again)."""

from __future__ import annotations

import subprocess
import sys
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
            mlflow.MlflowClient(stack.mlflow.url, registry_uri=stack.mlflow.url).search_runs(
                experiment_ids
            )
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


RUNNING_WITH_PID = (
    "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
    "AND t.key = 'quantumfinance.pid' WHERE r.status = 'RUNNING'"
)


def test_postgres_killed_mid_run_leaves_the_run_failed_and_nothing_registered(
    stack: Stack, stack_env: dict[str, str], stack_project
) -> None:
    versions_before = query(stack, VERSION_COUNT)[0][0]
    running_before = {row[0] for row in query(stack, RUNNING_WITH_PID)}
    # The client's retries are shortened so the outage ends the run in seconds, not minutes.
    env = {**stack_env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
           "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}  # fmt: skip
    training = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--env", "stack", "--pipelines", "data_science"],
        cwd=stack_project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline, run_id = time.monotonic() + 180, None
        while run_id is None and time.monotonic() < deadline and training.poll() is None:
            started = {row[0] for row in query(stack, RUNNING_WITH_PID)} - running_before
            run_id = next(iter(started), None)
            time.sleep(0.5)
        assert run_id, "the training run never showed up as RUNNING in PostgreSQL"
        stack.postgres.kill()
        try:
            output, _ = training.communicate(timeout=600)
        finally:
            stack.postgres.start()
    finally:
        if training.poll() is None:
            training.kill()
    assert training.returncode != 0, f"the run reported success:\n{output[-3000:]}"
    # Nothing of it was registered, and it is not FINISHED.
    assert query(stack, VERSION_COUNT)[0][0] == versions_before
    status_now = query(stack, "SELECT status FROM runs WHERE run_uuid = %s", (run_id,))[0][0]
    assert status_now in ("RUNNING", "FAILED"), status_now
    # After recovery the next run on this host marks the orphan FAILED (its process is gone).
    sweep = kedro_run(stack_project, stack_env, "--pipelines", "ingest")
    assert sweep.returncode == 0, sweep.output[-3000:]
    assert query(stack, "SELECT status FROM runs WHERE run_uuid = %s", (run_id,))[0][0] == "FAILED"
    reason = query(
        stack,
        "SELECT value FROM tags WHERE run_uuid = %s AND key = 'quantumfinance.failed_reason'",
        (run_id,),
    )
    if status_now == "RUNNING":  # the sweep, not the run itself, ended it: it says why
        assert reason == [("process ended mid-run",)], reason
