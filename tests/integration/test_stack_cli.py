"""`python -m quantumfinance.stack`: the exports file, status, idempotent up, stop by pid only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from quantumfinance.stack import Service, Stack, up
from tests.integration.conftest import read_env_file
from tests.support.services import REPO_ROOT

CLIENT_VARIABLES = {
    "MLFLOW_TRACKING_URI",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "QF_POSTGRES_DSN",
    "QF_MODEL_URI",
    "QF_DASK_SCHEDULER",
}


@pytest.mark.stack
def test_env_file_exports_working_endpoints(stack: Stack) -> None:
    env_file = stack.config.env_file
    assert env_file.stat().st_mode & 0o077 == 0, ".stack.env holds keys: owner-only"
    exports = read_env_file(env_file)
    assert CLIENT_VARIABLES <= set(exports)
    assert exports["MLFLOW_TRACKING_URI"] == stack.mlflow.url
    assert exports["AWS_ENDPOINT_URL_S3"] == stack.s3.url
    with psycopg.connect(exports["QF_POSTGRES_DSN"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("mlflow",)


@pytest.mark.stack
def test_status_command_reports_every_service(stack: Stack) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "quantumfinance.stack",
            "status",
            "--state-dir",
            str(stack.config.state_dir),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"postgres  up at 127.0.0.1:{stack.postgres.port}" in proc.stdout
    assert f"s3        up at {stack.s3.url}" in proc.stdout
    assert f"mlflow    up at {stack.mlflow.url}" in proc.stdout
    assert f"dask      up at {stack.dask.address}" in proc.stdout


@pytest.mark.stack
def test_up_again_keeps_the_running_processes(stack: Stack) -> None:
    pids = (
        stack.postgres.pid(),
        stack.s3.service.pid(),
        stack.mlflow.service.pid(),
        stack.dask.scheduler.pid(),
    )
    started = time.monotonic()
    again = up(stack.config)
    assert time.monotonic() - started < 20, "a second `up` restarted something"
    assert (
        again.postgres.pid(),
        again.s3.service.pid(),
        again.mlflow.service.pid(),
        again.dask.scheduler.pid(),
    ) == pids
    s3 = stack.s3.client()
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"data", "mlflow", "dvc"} <= buckets
    for bucket in ("data", "mlflow", "dvc"):
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", bucket


@pytest.mark.stack
def test_dask_scheduler_runs_work_on_two_workers(stack: Stack) -> None:
    from distributed import Client  # noqa: PLC0415

    exports = read_env_file(stack.config.env_file)
    with Client(exports["QF_DASK_SCHEDULER"], timeout=30) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert len(workers) == 2, workers
        futures = client.map(lambda n: n * n, range(8))
        assert client.gather(futures) == [n * n for n in range(8)]


def test_stop_ends_exactly_its_own_process_group(tmp_path: Path) -> None:
    """`down` signals the pid (and group) in its pid file, never every process of that name."""
    ours = Service("worker", tmp_path / "ours")
    theirs = Service("worker", tmp_path / "theirs")  # same name, same command line
    command = ["sh", "-c", "sleep 300 & echo $! > child.pid; wait"]
    ours.spawn(command)
    theirs.spawn(command)
    try:
        child = ours.state_dir / "child.pid"
        deadline = time.monotonic() + 10
        while not child.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child_pid = int(child.read_text())
        ours.stop()
        assert not ours.running() and not ours.pid_file.exists()
        # stop() waits for the group leader; the child got the same SIGTERM and may take a few
        # scheduler ticks more to die on a busy box (CI saw it still alive right after stop).
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child_pid}").exists() and not _zombie(child_pid):
            assert time.monotonic() < deadline, "child outlived stop by 5 s"
            time.sleep(0.05)
        assert theirs.running(), "stop touched another process with the same name"
    finally:
        theirs.stop()
    assert not theirs.running()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_status_before_any_up(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "quantumfinance.stack", "status", "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
        timeout=60,
    )
    assert proc.returncode == 0
    assert "not started" in proc.stdout
