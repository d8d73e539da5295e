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
from tests.integration.conftest import FAST_FAILING, kedro_run, query

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


STAGE_OF_RUN = (
    "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
    "AND t.key = 'quantumfinance.stage' WHERE t.value = %s"
)
INCOMPLETE_VERSIONS = (
    "SELECT v.version FROM model_versions v WHERE v.name = 'credit-score' "
    "AND v.current_stage <> 'Deleted_Internal' AND NOT EXISTS ("
    "SELECT 1 FROM model_version_tags t WHERE t.name = v.name AND t.version = v.version "
    "AND t.key = 'quantumfinance.model_sha256')"
)


def _ds_reaching(stack: Stack, env: dict[str, str], project, stage: str):  # noqa: ANN001, ANN202
    """Start `kedro run --pipelines data_science`; return (process, run id) once its run
    reaches ``stage`` (quantumfinance.stage), polled straight in PostgreSQL."""
    seen = {row[0] for row in query(stack, STAGE_OF_RUN, (stage,))}
    training = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--env", "stack", "--pipelines", "data_science"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline, run_id = time.monotonic() + 400, None
    while run_id is None and time.monotonic() < deadline and training.poll() is None:
        run_id = next(iter({r[0] for r in query(stack, STAGE_OF_RUN, (stage,))} - seen), None)
        time.sleep(0.2)
    if run_id is None:
        training.kill()
        output = training.communicate()[0]
        pytest.fail(f"the ds run never reached stage {stage}:\n{output[-3000:]}")
    return training, run_id


def _tag(stack: Stack, run_id: str, key: str) -> str | None:
    rows = query(stack, "SELECT value FROM tags WHERE run_uuid = %s AND key = %s", (run_id, key))
    return rows[0][0] if rows else None


def _status(stack: Stack, run_id: str) -> str:
    return query(stack, "SELECT status FROM runs WHERE run_uuid = %s", (run_id,))[0][0]


def _crash_ds(stack: Stack, env: dict[str, str], project, stage: str, server) -> tuple:  # noqa: ANN001
    """SIGKILL ``server`` (stack.s3 or stack.mlflow) once a ds run reaches ``stage``; start it
    again when the run has ended. Returns (run id, exit code, output)."""
    training, run_id = _ds_reaching(stack, {**env, **FAST_FAILING}, project, stage)
    try:
        server.service.kill()
        output, _ = training.communicate(timeout=600)
    finally:
        if training.poll() is None:
            training.kill()
        server.start()
    return run_id, training.returncode, output


def test_s3_killed_during_model_logging_fails_the_run_naming_the_step(
    stack: Stack, stack_env: dict[str, str], stack_project
) -> None:
    versions_before = query(stack, VERSION_COUNT)[0][0]
    run_id, code, output = _crash_ds(stack, stack_env, stack_project, "model_logging", stack.s3)
    assert code != 0, f"the run reported success:\n{output[-3000:]}"
    assert _status(stack, run_id) == "FAILED", output[-3000:]
    assert _tag(stack, run_id, "quantumfinance.failed_step") == "model_logging"
    assert _tag(stack, run_id, "quantumfinance.failed_reason")
    assert query(stack, VERSION_COUNT)[0][0] == versions_before


def test_mlflow_server_killed_during_registration_leaves_only_complete_versions(
    stack: Stack, stack_env: dict[str, str], stack_project
) -> None:
    """Killed while the run computes its evidence and registers: no version, or a complete
    one; the run, which the server could not be told about, is failed by the next run's sweep
    naming the stage it died in."""
    run_id, code, output = _crash_ds(stack, stack_env, stack_project, "registration", stack.mlflow)
    assert code != 0, f"the run reported success:\n{output[-3000:]}"
    assert query(stack, INCOMPLETE_VERSIONS) == []
    sweep = kedro_run(stack_project, stack_env, "--pipelines", "ingest")
    assert sweep.returncode == 0, sweep.output[-3000:]
    assert _status(stack, run_id) == "FAILED"
    assert _tag(stack, run_id, "quantumfinance.failed_step") == "registration"
    # and the next training run succeeds
    again = kedro_run(stack_project, stack_env, "--pipelines", "data_science")
    assert again.returncode == 0, again.output[-3000:]
    assert query(stack, INCOMPLETE_VERSIONS) == []
