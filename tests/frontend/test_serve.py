"""`make serve` (python -m scripts.serve): both servers up with a working demo key; Ctrl-C stops both."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.services import REPO_ROOT, free_port, port_open, wait_until


def serve(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.serve", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        text=True,
        start_new_session=True,
        **popen,
    )


def test_without_a_registered_model_it_says_to_run_make_run(tmp_path):
    store = tmp_path / "mlflow.db"
    process = serve("--store", str(store), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 1
    assert "make run" in err
    assert not store.exists()  # the check must not create an empty store


def test_serve_prints_urls_and_a_working_key_and_stops_both_on_ctrl_c(trained_project, tmp_path):
    api_port, ui_port = free_port(), free_port()
    store = Path(trained_project.tracking_uri.removeprefix("sqlite:///"))
    log = (tmp_path / "serve.log").open("w+")
    process = serve(
        "--store", str(store), "--api-port", str(api_port), "--ui-port", str(ui_port),
        env={"QF_AUDIT_PATH": str(tmp_path / "audit.jsonl")},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: "Demo API key" in Path(log.name).read_text(), 180, "make serve banner")
        banner = Path(log.name).read_text()
        key = re.search(r"Demo API key\s+(\S+)", banner).group(1)
        assert f"http://127.0.0.1:{api_port}" in banner
        assert f"http://127.0.0.1:{ui_port}" in banner

        model = requests.get(
            f"http://127.0.0.1:{api_port}/v1/model", headers={"x-api-key": key}, timeout=10
        )
        assert model.status_code == 200 and model.json()["name"] == "credit-score"
        assert f"Portfolio      {model.json()['contract']['portfolio']['name']}" in banner
        assert requests.get(f"http://127.0.0.1:{ui_port}/_stcore/health", timeout=10).ok
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        process.wait(30)
        log.close()

    assert process.returncode == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (port_open(api_port) or port_open(ui_port)):
        time.sleep(0.2)
    assert not port_open(api_port) and not port_open(ui_port)
