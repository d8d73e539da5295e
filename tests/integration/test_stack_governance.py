"""Governance on the real stack: no secret on a command line or in `stack up`'s output; a version
whose registration was cut off is refused, reported and removed by the next ds run, which (an
identical re-run) creates no version at all."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from quantumfinance.lineage import MODEL_DIGEST_TAG
from quantumfinance.registry import MODEL_NAME
from quantumfinance.stack import Stack
from tests.integration.conftest import FAST_FAILING, kedro_run, query

pytestmark = [pytest.mark.stack]

# MLflow's SQL store keeps a deleted version's row (stage Deleted_Internal): every row is a
# version number used up; the live ones are the registry's versions.
ROWS = "SELECT count(*) FROM model_versions WHERE name = %s"
VERSIONS = (
    "SELECT version FROM model_versions WHERE name = %s "
    "AND current_stage <> 'Deleted_Internal' ORDER BY version"
)


def _secrets(stack: Stack) -> dict[str, str]:
    state = json.loads(stack.config.state_file.read_text())
    return {"PostgreSQL password": state["pg_password"], "S3 secret key": state["s3_secret_key"]}


def test_no_password_on_any_command_line_and_stack_up_prints_no_secret(stack: Stack) -> None:
    commands = subprocess.run(
        ["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True
    ).stdout
    # the server's database URI is on its command line, without the password (PGPASSFILE)
    assert stack.mlflow.backend_uri in commands, commands
    for what, secret in _secrets(stack).items():
        assert secret not in commands, f"the {what} is on a command line (ps shows it)"
    assert stat.S_IMODE(stack.mlflow.passfile.stat().st_mode) == 0o600
    config = stack.config
    again = subprocess.run(
        [sys.executable, "-m", "quantumfinance.stack", "up", "--state-dir", str(config.state_dir),
         "--env-file", str(config.env_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    said = again.stdout + again.stderr
    assert again.returncode == 0, said
    for what, secret in _secrets(stack).items():
        assert secret not in said, f"`stack up` printed the {what}"
    assert f"all in {config.env_file}, mode 600" in said, said
    assert str(config.state_file) in said and f"MLFLOW_TRACKING_URI={stack.mlflow.url}" in said


def _registry_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quantumfinance.registry", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_incomplete_version_is_refused_reported_then_removed_by_an_identical_ds_rerun(
    stack: Stack, stack_env: dict[str, str], stack_project, monkeypatch
) -> None:
    """A two-step registration (create the version, then tag it) whose MLflow server is killed
    between the two steps, on the real stack: promote refuses the version, check reports it, the
    next ds run removes it and adds none. (Our own registration is one call, version and tags in
    one transaction of the server's SQL store, so it has no such window: docs/operations.md.)"""
    client = MlflowClient(stack.mlflow.url, registry_uri=stack.mlflow.url)
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    before = [row[0] for row in query(stack, VERSIONS, (MODEL_NAME,))]
    model_id = champion.source.removeprefix("models:/")  # registered from its logged model
    cut_off = client.create_model_version(
        MODEL_NAME, champion.source, champion.run_id, model_id=model_id
    )
    version = str(cut_off.version)
    for key, value in FAST_FAILING.items():
        monkeypatch.setenv(key, value)
    stack.mlflow.service.kill()  # SIGKILL: the server dies between creation and tagging
    try:
        with pytest.raises(MlflowException):
            client.set_model_version_tag(
                MODEL_NAME, version, MODEL_DIGEST_TAG, champion.tags[MODEL_DIGEST_TAG]
            )
    finally:
        stack.mlflow.start()
    assert MODEL_DIGEST_TAG not in client.get_model_version(MODEL_NAME, version).tags

    refused = _registry_cli(stack_env, "promote", version)
    assert refused.returncode == 1, refused.stdout
    assert f"v{version} is incompletely registered" in refused.stderr, refused.stderr
    assert "quantumfinance.model_sha256" in refused.stderr
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == str(
        champion.version
    )
    reported = _registry_cli(stack_env, "check")
    assert reported.returncode == 0 and f"incomplete v{version} " in reported.stdout, reported

    rows = query(stack, ROWS, (MODEL_NAME,))[0][0]
    run = kedro_run(stack_project, stack_env, "--pipelines", "data_science")
    assert run.returncode == 0, run.output[-4000:]
    assert f"removed v{version}" in run.output, run.output[-4000:]
    # The identical re-run created no version: the registry is what it was before the cut-off.
    after = [row[0] for row in query(stack, VERSIONS, (MODEL_NAME,))]
    assert after == before, run.output[-6000:]
    assert query(stack, ROWS, (MODEL_NAME,))[0][0] == rows, "a version number was used up"
    newest = client.search_runs(
        [client.get_run(champion.run_id).info.experiment_id],
        filter_string="tags.`quantumfinance.step` = 'training'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    assert newest.data.tags["promotion"] == "identical_to_champion"
    assert (newest.info.status, newest.data.tags["quantumfinance.stage"]) == (
        "FINISHED",
        "complete",
    )
    for row in client.search_model_versions(f"name='{MODEL_NAME}'"):
        assert row.tags.get("quantumfinance.registration") in ("complete", None)
        assert row.tags["quantumfinance.model_sha256"], row.version
