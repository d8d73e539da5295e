"""The real stack, started ONCE per session on free ports: PostgreSQL, S3 (SeaweedFS), MLflow, Dask.

`stack_project` is a tmp copy of the project on which `kedro run --env stack` has run ingest +
data_engineering and then data_science (which must run on its own: kedro-mlflow issue 690).
Tests that stop services (test_stack_restart.py, then test_stack_faults.py) run at the end of the
session, in that order.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from quantumfinance.stack import Stack
from tests.support.services import REPO_ROOT
from tests.support.stack import running_stack

KEDRO_TIMEOUT = 600
# An MLflow client that gives up on a dead server at once (its default retries for minutes).
FAST_FAILING = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run these last, in this order: re-training, then stopping (and restarting) services."""
    last = (
        "integration/test_data_versions.py",  # re-trains: a new model version
        "integration/test_stack_restart.py",
        "integration/test_stack_faults.py",
    )
    items.sort(key=lambda item: next((i + 1 for i, f in enumerate(last) if f in item.nodeid), 0))


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """`python -m quantumfinance.stack up` (its code path) on free ports; `down` at the end."""
    with running_stack() as started:
        yield started


def read_env_file(path: Path) -> dict[str, str]:
    """The `export K=V` lines of `.stack.env`, as `source .stack.env` would set them."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            pairs[key] = shlex.split(value)[0] if value else ""
    return pairs


@pytest.fixture(scope="session")
def stack_env(stack: Stack) -> dict[str, str]:
    """The environment of a client that did `source .stack.env` (and nothing else)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    exports = read_env_file(stack.config.env_file)
    return {**env, **exports, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


@dataclass
class KedroRun:
    returncode: int
    output: str
    seconds: float


def kedro_run(
    project: Path, env: dict[str, str], *args: str, timeout: float = KEDRO_TIMEOUT
) -> KedroRun:
    """`kedro run --env stack <args>` in `project` as a child process."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env", "stack", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return KedroRun(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)


def copy_project(dest: Path) -> Path:
    """pyproject + conf (without conf/local) + the shipped applicant files that `ingest.path`
    names (relative to the project); the package itself is installed (editable)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    resources = Path("src") / "quantumfinance" / "resources"  # the German table (base env)
    shutil.copytree(REPO_ROOT / resources, dest / resources)
    shutil.copytree(REPO_ROOT / "examples", dest / "examples")
    (dest / ".telemetry").write_text("consent: false\n")
    return dest


@pytest.fixture(scope="session")
def stack_project(
    stack: Stack, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A project copy on which the whole training flow ran against the stack."""
    project = copy_project(tmp_path_factory.mktemp("stack_project"))
    for args in (["--pipelines", "ingest,data_engineering"], ["--pipelines", "data_science"]):
        run = kedro_run(project, stack_env, *args)
        assert run.returncode == 0, (
            f"kedro run --env stack {' '.join(args)} failed:\n{run.output[-6000:]}"
        )
    return project


def query(stack: Stack, sql: str, params: tuple = (), database: str = "mlflow") -> list[tuple]:
    """SQL straight on MLflow's tables in PostgreSQL (not through the MLflow API)."""
    with psycopg.connect(stack.postgres.dsn(database), connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()
