"""`source .stack.env && make serve` serves the stack's champion and says so in its banner."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
import requests
from mlflow.tracking import MlflowClient

from scripts.stack import Stack
from tests.support.services import REPO_ROOT, free_port, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_make_serve_with_the_stack_env_serves_the_stack_champion(
    stack: Stack, stack_env, stack_project, tmp_path
) -> None:
    api_port, ui_port = free_port(), free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.serve", "--api-port", str(api_port)]
            + ["--ui-port", str(ui_port)],
            cwd=REPO_ROOT,
            env=stack_env,  # what `source .stack.env` exports, nothing else
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            wait_until(lambda: "Demo API key" in log_path.read_text(), 240, "make serve banner")
            banner = log_path.read_text()
            key = re.search(r"Demo API key\s+(\S+)", banner).group(1)
            info = requests.get(
                f"http://127.0.0.1:{api_port}/v1/model", headers={"x-api-key": key}, timeout=10
            ).json()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    assert f"Registry       {stack.mlflow.url}   (from MLFLOW_TRACKING_URI)" in banner, banner
    assert "Audit log      PostgreSQL table decision_audit (QF_AUDIT_DSN)" in banner, banner
    champion = MlflowClient(
        stack.mlflow.url, registry_uri=stack.mlflow.url
    ).get_model_version_by_alias("credit-score", "champion")
    assert info["registry_uri"] == stack.mlflow.url
    assert (info["version"], info["run_id"]) == (str(champion.version), champion.run_id)
